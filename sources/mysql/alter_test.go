package mysql

import (
	"strings"
	"testing"
)

func TestApplyAlter(t *testing.T) {
	t.Parallel()
	old := &tableSchema{DB: "d", Name: "t", Cols: []column{{Name: "id", Kind: kInt}, {Name: "v", Kind: kString}}, Key: []int{0}}
	known := map[string]column{"c1": {Name: "c1", Kind: kInt, Width: 4}, "c2": {Name: "c2", Kind: kString}}
	tests := []struct {
		q    string
		want string // column names, key names after '|'; "" = not understood
	}{
		{"ALTER TABLE t ADD COLUMN c1 INT", "id,v,c1|id"},
		{"alter table `d`.`t` add c2 varchar(5) first", "c2,id,v|id"},
		{"ALTER TABLE t ADD COLUMN c1 INT AFTER id", "id,c1,v|id"},
		{"ALTER TABLE t ADD c1 INT DEFAULT 'AFTER x', ADD c2 TEXT", "id,v,c1,c2|id"},
		{"ALTER TABLE t ADD c1 ENUM('a,b','c') NOT NULL AFTER `id`", "id,c1,v|id"},
		{"ALTER TABLE t DROP COLUMN v", "id|id"},
		{"ALTER TABLE t DROP v, ADD c1 INT", "id,c1|id"},
		{"ALTER TABLE t ADD INDEX iv (v), ALGORITHM=INPLACE, LOCK=NONE", "id,v|id"},
		{"ALTER TABLE t ADD COLUMN IF NOT EXISTS v INT", "id,v|id"},
		{"ALTER TABLE t DROP COLUMN IF EXISTS gone", "id,v|id"},
		{"ALTER TABLE t ADD new_one INT", "id,v,new_one|id"}, // unknown type: text
		{"/* x */ ALTER ONLINE TABLE t ADD c1 INT;", "id,v,c1|id"},
		{"ALTER TABLE t DROP COLUMN id", ""},       // key column
		{"ALTER TABLE t MODIFY v TEXT", ""},        // not replayed
		{"ALTER TABLE t CHANGE v w TEXT", ""},      // not replayed
		{"ALTER TABLE t RENAME COLUMN v TO w", ""}, // not replayed
		{"ALTER TABLE t ADD PRIMARY KEY (v)", ""},  // key change
		{"ALTER TABLE t ADD (a INT, b INT)", ""},   // column list
		{"ALTER TABLE other ADD c1 INT", ""},       // another table
		{"ALTER TABLE t ADD c1 INT AFTER missing", ""},
		{"ALTER TABLE t DROP gone", ""},
		{"ALTER TABLE t ADD v INT", ""}, // exists
		{"CREATE TABLE t (id INT)", ""},
	}
	for _, tc := range tests {
		got, ok := applyAlter(tc.q, "d", old, known)
		var s string
		if ok {
			var names, keys []string
			for _, c := range got.Cols {
				names = append(names, c.Name)
			}
			for _, k := range got.Key {
				keys = append(keys, got.Cols[k].Name)
			}
			s = strings.Join(names, ",") + "|" + strings.Join(keys, ",")
		}
		if s != tc.want {
			t.Errorf("%q: got %q, want %q", tc.q, s, tc.want)
		}
	}
	if got, _ := applyAlter("ALTER TABLE t ADD c1 INT", "d", old, known); got.Cols[2].Kind != kInt || got.Cols[2].Width != 4 {
		t.Errorf("added column's type not from known: %+v", got.Cols[2])
	}
	if len(old.Cols) != 2 {
		t.Error("old schema mutated")
	}
}

func FuzzApplyAlter(f *testing.F) {
	old := &tableSchema{DB: "d", Name: "t", Cols: []column{{Name: "id", Kind: kInt}, {Name: "v", Kind: kString}}, Key: []int{0}}
	for _, s := range []string{"ALTER TABLE t ADD c INT AFTER id", "ALTER TABLE `d`.`t` DROP v, ADD x ENUM('a,b') FIRST", "ALTER TABLE t ADD (", "ALTER TABLE t ADD c INT DEFAULT 'x''y' /* c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got, ok := applyAlter(q, "d", old, nil)
		if !ok {
			return
		}
		if len(got.Key) != 1 || got.Cols[got.Key[0]].Name != "id" {
			t.Fatalf("%q: key lost: %+v", q, got)
		}
		seen := map[string]bool{}
		for _, c := range got.Cols {
			if c.Name == "" || seen[strings.ToLower(c.Name)] {
				t.Fatalf("%q: bad or duplicate column %q in %+v", q, c.Name, got.Cols)
			}
			seen[strings.ToLower(c.Name)] = true
		}
	})
}
