package postgres

import (
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// BenchmarkEncodeRow measures the per-row client cost of the snapshot path
// (text values → image → key + envelope), without a database.
//
//	go test -run XXX -bench EncodeRow ./sources/postgres/
func benchTable() *table {
	return &table{schema: "public", name: "bench", topic: "p.public.bench", key: []string{"id"}, keyIdx: []int{0}, cols: []column{
		{name: "id", typ: testTypes.resolve(oidInt4), typmod: -1, isKey: true},
		{name: "name", typ: testTypes.resolve(oidText), typmod: -1},
		{name: "amount", typ: testTypes.resolve(oidNumeric), typmod: -1},
		{name: "created", typ: testTypes.resolve(oidTimestamptz), typmod: -1},
		{name: "flag", typ: testTypes.resolve(oidBool), typmod: -1},
		{name: "payload", typ: testTypes.resolve(oidJSONB), typmod: -1},
	}}
}

func benchVals() [][]byte {
	return [][]byte{[]byte("123456"), []byte("customer 123456"), []byte("154320.00"), []byte("2026-11-26 22:21:35.123456+00"), []byte("t"), []byte(`{"k": 123456, "tags": ["a", "b"]}`)}
}

// BenchmarkEncodeRow measures the per-row client cost of the snapshot path
// (text values → key + envelope), without a database; "row" is the
// stream's path (text → Row → JSON) on the same values.
//
//	go test -run XXX -bench EncodeRow ./sources/postgres/
func BenchmarkEncodeRow(b *testing.B) {
	t := benchTable()
	vals := benchVals()
	enc := encoder{prefix: "p", db: "postgres"}
	meta := eventMeta{snapshot: "true", tsMs: 1, lsn: 2, txID: -1, now: 3}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			meta.sizeHint = 90
			_ = enc.snapshotRecord(t, vals, &meta, testTypes)
		}
	})
	b.Run("row", func(b *testing.B) {
		recs := make([]connectors.Record, 0, 1)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			img := make(connectors.Row, len(t.cols))
			for j, v := range vals {
				img[j].Name = t.cols[j].name
				img[j].Value = decodeText(t.cols[j].typ, -1, v, testTypes)
			}
			var err error
			if recs, err = enc.records(recs[:0], t, connectors.OpRead, nil, img, &meta); err != nil {
				b.Fatal(err)
			}
		}
	})
}
