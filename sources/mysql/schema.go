package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// kind is how a column's values map to JSON (TYPES.md).
type kind uint8

const (
	kOther kind = iota
	kInt
	kFloat
	kDouble
	kDecimal
	kYear
	kString
	kEnum
	kSet
	kBinary
	kBit
	kDate
	kDatetime
	kTimestamp
	kTime
	kJSON
)

// column is one column of a captured table. It is stored in Positions
// (short JSON names keep them small).
type column struct {
	Name     string   `json:"n"`
	Kind     kind     `json:"k"`
	Type     string   `json:"t,omitempty"` // information_schema DATA_TYPE
	Unsigned bool     `json:"u,omitempty"`
	Width    int      `json:"w,omitempty"`  // bytes of an integer; bits of bit(n); length of binary(n)
	Labels   []string `json:"l,omitempty"`  // enum / set members, in order
	Charset  string   `json:"cs,omitempty"` // of a text column, when not UTF-8 (the binlog holds its bytes)
}

// tableSchema is a captured table's columns and primary key.
type tableSchema struct {
	DB   string   `json:"db"`
	Name string   `json:"tb"`
	Cols []column `json:"c"`
	Key  []int    `json:"pk"` // indexes into Cols, in key order
}

func (t *tableSchema) fullName() string { return t.DB + "." + t.Name }

// kindOf maps information_schema DATA_TYPE (+ COLUMN_TYPE) to a kind.
func kindOf(dataType, columnType string) (kind, int) {
	switch dataType {
	case "tinyint":
		return kInt, 1
	case "smallint":
		return kInt, 2
	case "mediumint":
		return kInt, 3
	case "int", "integer":
		return kInt, 4
	case "bigint":
		return kInt, 8
	case "float":
		return kFloat, 0
	case "double", "real", "double precision":
		return kDouble, 0
	case "decimal", "numeric":
		return kDecimal, 0
	case "year":
		return kYear, 0
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return kString, 0
	case "enum":
		return kEnum, 0
	case "set":
		return kSet, 0
	case "binary":
		return kBinary, parenInt(columnType)
	case "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return kBinary, 0
	case "bit":
		return kBit, parenInt(columnType)
	case "date":
		return kDate, 0
	case "datetime":
		return kDatetime, 0
	case "timestamp":
		return kTimestamp, 0
	case "time":
		return kTime, 0
	case "json":
		return kJSON, 0
	}
	return kOther, 0
}

func parenInt(columnType string) int {
	i := strings.IndexByte(columnType, '(')
	j := strings.IndexByte(columnType, ')')
	if i < 0 || j < i {
		return 0
	}
	n, _ := strconv.Atoi(columnType[i+1 : j])
	return n
}

// parseLabels reads the members of enum('a','b”c') or set(...).
func parseLabels(columnType string) []string {
	i := strings.IndexByte(columnType, '(')
	if i < 0 {
		return nil
	}
	s := columnType[i+1:]
	var out []string
	for len(s) > 0 && s[0] == '\'' {
		var b strings.Builder
		j := 1
		for j < len(s) {
			if s[j] == '\'' {
				if j+1 < len(s) && s[j+1] == '\'' {
					b.WriteByte('\'')
					j += 2
					continue
				}
				break
			}
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
			j++
		}
		out = append(out, b.String())
		s = s[min(j+1, len(s)):]
		s = strings.TrimPrefix(s, ",")
	}
	return out
}

// loadSchema reads one table's columns, key and (MariaDB) JSON columns.
func loadSchema(ctx context.Context, db *sql.DB, database, name string, mariadb bool) (*tableSchema, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLUMN_KEY, IFNULL(CHARACTER_SET_NAME, '') FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, database, name)
	if err != nil {
		return nil, fmt.Errorf("reading columns of %s.%s: %w", database, name, err)
	}
	defer rows.Close()
	t := &tableSchema{DB: database, Name: name}
	for rows.Next() {
		var c column
		var colType, key, cs string
		if err := rows.Scan(&c.Name, &c.Type, &colType, &key, &cs); err != nil {
			return nil, fmt.Errorf("reading columns of %s.%s: %w", database, name, err)
		}
		c.Type = strings.ToLower(c.Type)
		colType = strings.ToLower(colType)
		c.Kind, c.Width = kindOf(c.Type, colType)
		c.Unsigned = strings.Contains(colType, "unsigned")
		if c.Kind == kString || c.Kind == kJSON {
			switch cs = strings.ToLower(cs); cs {
			case "", "utf8", "utf8mb3", "utf8mb4", "ascii", "binary":
			default:
				c.Charset = cs
			}
		}
		if c.Kind == kEnum || c.Kind == kSet {
			c.Labels = parseLabels(colType)
		}
		t.Cols = append(t.Cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading columns of %s.%s: %w", database, name, err)
	}
	if len(t.Cols) == 0 {
		return nil, fmt.Errorf("%w: %s.%s", ErrNoTable, database, name)
	}
	idx := map[string]int{}
	for i, c := range t.Cols {
		idx[c.Name] = i
	}
	krows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`, database, name)
	if err != nil {
		return nil, fmt.Errorf("reading primary key of %s.%s: %w", database, name, err)
	}
	defer krows.Close()
	for krows.Next() {
		var n string
		if err := krows.Scan(&n); err != nil {
			return nil, err
		}
		t.Key = append(t.Key, idx[n])
	}
	if err := krows.Err(); err != nil {
		return nil, err
	}
	if len(t.Key) == 0 {
		return nil, fmt.Errorf("%w: %s.%s (add one; keyless tables cannot be keyed or compacted)", ErrNoKey, database, name)
	}
	if mariadb {
		// MariaDB's JSON is LONGTEXT with a json_valid(`col`) check.
		crows, err := db.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
			WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, database, name)
		if err != nil {
			return nil, fmt.Errorf("reading check constraints of %s.%s: %w", database, name, err)
		}
		defer crows.Close()
		for crows.Next() {
			var clause string
			if err := crows.Scan(&clause); err != nil {
				return nil, err
			}
			if c, ok := jsonValidColumn(clause); ok {
				if i, ok := idx[c]; ok && t.Cols[i].Kind == kString {
					t.Cols[i].Kind = kJSON
				}
			}
		}
		if err := crows.Err(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// jsonValidColumn recognizes the check clause "json_valid(`col`)".
func jsonValidColumn(clause string) (string, bool) {
	s := strings.TrimSpace(clause)
	const p = "json_valid(`"
	if len(s) < len(p)+2 || !strings.EqualFold(s[:len(p)], p) || !strings.HasSuffix(s, "`)") {
		return "", false
	}
	return strings.ReplaceAll(s[len(p):len(s)-2], "``", "`"), true
}
