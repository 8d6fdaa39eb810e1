package postgres

import (
	"bytes"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

var appendTextOIDs = []uint32{oidBool, oidInt8, oidInt4, oidFloat8, oidNumeric, oidText, oidBytea, oidBit, oidDate,
	oidTimestamp, oidTimestamptz, oidTime, oidTimetz, oidInterval, oidJSON, oidJSONB, 1007, 1009, 1001, 1020, 600}

func checkAppendText(t *testing.T, oid uint32, typmod int32, in []byte) {
	t.Helper()
	ti := testTypes.resolve(oid)
	want, err := connectors.Row{{Name: "", Value: decodeText(ti, typmod, in, testTypes)}}.AppendJSON(nil)
	if err != nil {
		t.Fatalf("encoding decodeText(%d, %q): %v", oid, in, err)
	}
	want = want[4 : len(want)-1]
	if got := appendText(nil, ti, typmod, in, testTypes); !bytes.Equal(got, want) {
		t.Fatalf("appendText(%d, %q) = %s, want %s", oid, in, got, want)
	}
}

// The snapshot's direct path writes exactly what the stream's Row path
// writes for the same text.
func TestAppendTextMatchesRow(t *testing.T) {
	t.Parallel()
	inputs := []string{"", "t", "42", "-0", "007", "1.5e+10", "NaN", "2024-02-29 13:14:15.5", "2024-02-29 13:14:15+00",
		`\x0102`, `\xzz`, "101", `{"a": "\u2028"}`, "{1,2}", "tab\there \"q\" \\ \x01 \u2028 é \xff", "13:14:15+02"}
	for _, oid := range appendTextOIDs {
		for _, in := range inputs {
			checkAppendText(t, oid, 1, []byte(in))
			checkAppendText(t, oid, -1, []byte(in))
		}
	}
}

func TestSnapshotRecordMatchesRecords(t *testing.T) {
	t.Parallel()
	tb := benchTable()
	vals := benchVals()
	vals[2] = nil // a NULL
	enc := encoder{prefix: "p", db: "d"}
	meta := eventMeta{snapshot: "true", tsMs: 1, lsn: 2, txID: -1, now: 3}
	got := enc.snapshotRecord(tb, vals, &meta, testTypes)
	img := make(connectors.Row, len(tb.cols))
	for i, v := range vals {
		img[i].Name = tb.cols[i].name
		if v != nil {
			img[i].Value = decodeText(tb.cols[i].typ, tb.cols[i].typmod, v, testTypes)
		}
	}
	want, err := enc.records(nil, tb, connectors.OpRead, nil, img, &meta)
	if err != nil || len(want) != 1 {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Key, want[0].Key) || !bytes.Equal(got.Value, want[0].Value) {
		t.Fatalf("snapshotRecord\n key %s\n val %s\nrecords\n key %s\n val %s", got.Key, got.Value, want[0].Key, want[0].Value)
	}
}

func FuzzAppendText(f *testing.F) {
	f.Add(uint32(0), int32(1), []byte("t"))
	f.Add(uint32(9), int32(-1), []byte("2024-02-29 13:14:15.5"))
	f.Add(uint32(16), int32(-1), []byte(`{1,"a\"b",NULL}`))
	f.Fuzz(func(t *testing.T, oid uint32, typmod int32, in []byte) {
		checkAppendText(t, appendTextOIDs[oid%uint32(len(appendTextOIDs))], typmod, in)
	})
}
