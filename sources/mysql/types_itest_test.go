package mysql

import (
	"context"
	"testing"
)

// Every type maps to the JSON of TYPES.md, the same from the binlog (the
// stream) and from a SELECT (the snapshot).
func TestTypesRoundTrip(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	exec(t, db, q(`CREATE TABLE $T (
		id INT PRIMARY KEY,
		ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED,
		ii INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
		f FLOAT, d DOUBLE, de DECIMAL(30,10), y YEAR,
		c CHAR(5), vc VARCHAR(20), tx TEXT,
		e ENUM('small','medium','large'), st SET('a','b','c'),
		bn BINARY(4), vb VARBINARY(10), bl BLOB,
		b1 BIT(1), b12 BIT(12),
		dt DATE, dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL, tm TIME, tm6 TIME(6),
		j JSON, n INT NULL)`))
	row := func(id string) string {
		return q(`INSERT INTO $T VALUES (` + id + `,
		-128, 255, -32768, 65535, -8388608, 16777215,
		-2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
		1.5, 2.25, '12345678901234567890.0123456789', 2024,
		'ab', 'héllo "q"', 'line\nnext',
		'medium', 'a,c',
		x'0102', x'00ff', x'deadbeef',
		b'1', b'101010101010',
		'2024-02-29', '2024-02-29 13:14:15', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15', '2024-02-29 13:14:15.250', '-838:59:59', '12:34:56.000789',
		'{"k": [1, 2, {"x": null}]}', NULL)`)
	}
	exec(t, db, row("1"))
	s := newTestSource(t, []string{full}, nil)
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	st := newState()
	readUntil(t, s, st, func(st *state) bool { return st.snapshots["last"] == 1 })
	exec(t, db, row("2"))
	readUntil(t, s, st, func(st *state) bool { return st.rows[`{"id":2}`] != "" })

	const want = `"ti":-128,"tu":255,"si":-32768,"su":65535,"mi":-8388608,"mu":16777215,` +
		`"ii":-2147483648,"iu":4294967295,"bi":-9223372036854775808,"bu":18446744073709551615,` +
		`"f":1.5,"d":2.25,"de":"12345678901234567890.0123456789","y":2024,` +
		`"c":"ab","vc":"héllo \"q\"","tx":"line\nnext",` +
		`"e":"medium","st":["a","c"],` +
		`"bn":"AQIAAA==","vb":"AP8=","bl":"3q2+7w==",` +
		`"b1":true,"b12":"Cqo=",` +
		`"dt":"2024-02-29","dtm":"2024-02-29T13:14:15","dtm6":"2024-02-29T13:14:15.123456","ts":"2024-02-29T13:14:15Z","ts3":"2024-02-29T13:14:15.250Z","tm":"-838:59:59","tm6":"12:34:56.000789",` +
		`"j":{"k": [1, 2, {"x": null}]},"n":null}`
	snap, stream := st.rows[`{"id":1}`], st.rows[`{"id":2}`]
	if snap != `{"id":1,`+want {
		t.Errorf("snapshot image\n got %s\nwant %s", snap, `{"id":1,`+want)
	}
	if stream != `{"id":2,`+want {
		t.Errorf("stream image\n got %s\nwant %s", stream, `{"id":2,`+want)
	}
}
