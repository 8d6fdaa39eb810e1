package elasticsearch

import (
	"bytes"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

func FuzzScanEnvelope(f *testing.F) {
	f.Add(envelope("c", `{"id":1,"s":"a\"}b"}`))
	f.Add(envelope("d", ""))
	f.Add([]byte(`{"op":"u","after":{"x":[1,{"y":"]"}]},"op":"c"}`))
	f.Add([]byte(`{"after":null,"op":"r"} `))
	f.Add([]byte(`{"op":"x"}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		op, after, ok := scanEnvelope(v)
		if !ok {
			return
		}
		env, err := connectors.DecodeEnvelope(v)
		if err != nil {
			return // the fast path does not check what the sink ignores; Elasticsearch checks after
		}
		if env.Op != op || !bytes.Equal(env.After, after) {
			t.Fatalf("scan = %q %q, DecodeEnvelope = %q %q", op, after, env.Op, env.After)
		}
	})
}

func FuzzScanKeyID(f *testing.F) {
	for _, k := range []string{`{"id":42}`, `{"a":"x:y","b":1}`, `{"a":"x\\y"}`, `{"a":null,"b":true,"c":-1.5e3}`, `{"a":"é"}`, `{}`, `{"a":[1]}`, ` { "a" : 1 } `} {
		f.Add([]byte(k))
	}
	f.Fuzz(func(t *testing.T, k []byte) {
		id, ok := scanKeyID(k)
		row, err := connectors.ParseRow(k)
		if !ok {
			return
		}
		if err != nil || len(row) == 0 {
			t.Fatalf("scanKeyID(%q) = %q, but ParseRow fails: %v", k, id, err)
		}
		if want := connectors.KeyID(row); id != want {
			t.Fatalf("scanKeyID(%q) = %q, KeyID = %q", k, id, want)
		}
	})
}
