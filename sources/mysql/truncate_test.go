package mysql

import (
	"strings"
	"testing"
)

func TestTruncatedTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q, db, name string
		ok          bool
	}{
		{"TRUNCATE TABLE t", "d", "t", true},
		{"truncate t", "d", "t", true},
		{"TRUNCATE TABLE `x`.`t`", "x", "t", true},
		{"TRUNCATE x.t;", "x", "t", true},
		{"/* app */ TRUNCATE /* c */ TABLE `we``ird`", "d", "we`ird", true},
		{"TRUNCATE TABLE `table`", "d", "table", true},
		{"TRUNCATE tablex", "d", "tablex", true}, // a table named tablex, no TABLE keyword
		{"TRUNCATE TABLE t extra", "", "", false},
		{"TRUNCATE TABLE `unterminated", "", "", false},
		{"ALTER TABLE t TRUNCATE PARTITION p0", "", "", false},
		{"DROP TABLE t", "", "", false},
		{"TRUNCATEX t", "", "", false},
	}
	for _, tc := range tests {
		db, name, ok := truncatedTable(tc.q, "d")
		if ok != tc.ok || db != tc.db || name != tc.name {
			t.Errorf("%q: got %q.%q %v, want %q.%q %v", tc.q, db, name, ok, tc.db, tc.name, tc.ok)
		}
	}
	if _, _, ok := truncatedTable("TRUNCATE t", ""); ok {
		t.Error("no default database: want not recognized")
	}
}

func FuzzTruncatedTable(f *testing.F) {
	for _, s := range []string{"TRUNCATE TABLE `a`.`b`", "truncate t", "/* x */TRUNCATE", "TRUNCATE `a``", "TRUNCATE TABLE/**/t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		db, name, ok := truncatedTable(q, "d")
		if ok && (db == "" || name == "") {
			t.Fatalf("%q: ok with empty parts %q.%q", q, db, name)
		}
		if ok && !strings.Contains(strings.ToUpper(q), "TRUNCATE") {
			t.Fatalf("%q: recognized without TRUNCATE", q)
		}
	})
}

func TestBinlogSeqOrders(t *testing.T) {
	t.Parallel()
	in := []struct {
		file string
		pos  uint32
	}{{"binlog.000001", 4}, {"binlog.000001", 900}, {"binlog.000002", 4}, {"mysql-bin.000010", 4}, {"mysql-bin.000010", 1 << 31}, {"x.1000000", 1}}
	for i := 1; i < len(in); i++ {
		a, b := binlogSeq(in[i-1].file, in[i-1].pos), binlogSeq(in[i].file, in[i].pos)
		if a >= b {
			t.Errorf("%v then %v: seq %d >= %d", in[i-1], in[i], a, b)
		}
	}
}
