package redis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

var envelopeSeeds = []string{
	`{"before":null,"after":{"id":1,"name":"x"},"op":"c","ts_ms":1,"source":{"connector":"postgresql","name":"shop","ts_ms":1,"snapshot":"false","db":"shop","schema":"public","table":"t","txId":5,"lsn":77}}`,
	`{"before":{"id":1},"after":null,"op":"d","ts_ms":1,"source":{"table":"t"}}`,
	`{"op":"t","source":null}`,
	` { "op" : "r" , "after" : [1,2,{"a":"\u00e9"}] , "x": {"y":[true,false,null,-1.5e3]}} `,
	`{"OP":"c","after":{}}`,
	`{"op":"c","op":"d"}`,
	`{"op":"c","ts_ms":1.5}`,
	`{"op":"c","ts_ms":99999999999999999999}`,
	`{"op":"c","source":{"table":"a\"b"}}`,
	`{"op":"c","source":{"table":5}}`,
	`{"op":"c","source":{"tablE":"x"}}`,
	`{"op":"\u0063"}`,
	`{"op":"x"}`,
	`{"op":"c"`,
	`{"op":"c"}x`,
	`{"op":"c","after":{"a":"\x01"}}`,
	`{"op":"c","after":01}`,
	`[]`, `null`, ``, `"op"`,
	`{"op":"c","source":{"snapshot":true}}`,
	`{"op":"c","after":{"id":1},"source":{"table":"\xff"}}`,
	`{"op":"u","after":{"id":1},"\u006fp":"c"}`,
}

// FuzzScanEnvelope checks the fast path against connectors.DecodeEnvelope:
// whenever scanEnvelope answers, DecodeEnvelope accepts the value and agrees
// on op, table and both images.
func FuzzScanEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		fast, ok := scanEnvelope(v, map[string]string{})
		if !ok {
			return
		}
		if !json.Valid(v) {
			t.Fatalf("fast path accepted invalid JSON %q", v)
		}
		slow, err := connectors.DecodeEnvelope(v)
		if err != nil {
			t.Fatalf("fast path accepted %q, DecodeEnvelope: %v", v, err)
		}
		if fast.op != slow.Op || fast.table != slow.Source.Table {
			t.Fatalf("%q: fast op %q table %q, slow op %q table %q", v, fast.op, fast.table, slow.Op, slow.Source.Table)
		}
		for _, img := range []struct {
			name       string
			fast, slow []byte
		}{{"before", fast.before, slow.Before}, {"after", fast.after, slow.After}} {
			if connectors.IsNull(img.fast) != connectors.IsNull(img.slow) ||
				!connectors.IsNull(img.fast) && !bytes.Equal(img.fast, img.slow) {
				t.Fatalf("%q: %s fast %q slow %q", v, img.name, img.fast, img.slow)
			}
		}
	})
}

func TestScanEnvelopeSeeds(t *testing.T) {
	t.Parallel()
	// The common shape must take the fast path.
	for _, s := range envelopeSeeds[:4] {
		if _, ok := scanEnvelope([]byte(s), nil); !ok {
			t.Errorf("fast path refused %s", s)
		}
	}
	for _, s := range envelopeSeeds[4:] {
		if _, ok := scanEnvelope([]byte(s), nil); ok {
			t.Errorf("fast path accepted %s", s)
		}
	}
}

// FuzzScanKey checks the key fast path against connectors.ParseRow.
func FuzzScanKey(f *testing.F) {
	for _, s := range []string{`{"id":42}`, `{"a":"x:y","b":-1}`, `{"id":1.5}`, `{"id":"\u0041"}`, `{"id":null}`, `{}`, `{"id":1}}`, `{"é":1}`, `{"id":99999999999999999999}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		fast, ok := scanKey(v)
		if !ok {
			return
		}
		slow, err := connectors.ParseRow(v)
		if err != nil {
			t.Fatalf("fast path accepted %q, ParseRow: %v", v, err)
		}
		fj, _ := fast.AppendJSON(nil)
		sj, _ := slow.AppendJSON(nil)
		if !bytes.Equal(fj, sj) || connectors.KeyID(fast) != connectors.KeyID(slow) {
			t.Fatalf("%q: fast %s (%s), slow %s (%s)", v, fj, connectors.KeyID(fast), sj, connectors.KeyID(slow))
		}
	})
}

func FuzzSpecial8(f *testing.F) {
	f.Add(uint64(0x2222222222222222))
	f.Add(uint64(0x4142434445464748))
	f.Add(uint64(0x1f7f80ff20215c5b))
	f.Fuzz(func(t *testing.T, w uint64) {
		want := false
		for i := range 8 {
			c := byte(w >> (8 * i))
			want = want || c == '"' || c == '\\' || c < 0x20
		}
		if got := special8(w); got != want {
			t.Fatalf("special8(%#x) = %v, want %v", w, got, want)
		}
	})
}

// FuzzAppendKeyID checks the default template's key fast path against
// connectors.KeyID.
func FuzzAppendKeyID(f *testing.F) {
	for _, s := range []string{`{"id":42}`, `{"a":"x:y","b":-1}`, `{"a":"x\\y"}`, `{"id":1.5}`, `{"id":"\u0041"}`, `{}`, `{"é":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		got, ok := appendKeyID([]byte("p:"), v)
		if !ok {
			return
		}
		row, err := connectors.ParseRow(v)
		if err != nil {
			t.Fatalf("fast path accepted %q, ParseRow: %v", v, err)
		}
		if want := "p:" + connectors.KeyID(row); string(got) != want {
			t.Fatalf("%q: fast %q, KeyID %q", v, got, want)
		}
	})
}

// FuzzScanHashFields checks hash mode's fast path against ParseRow +
// hashFields: same fields, values and TOAST columns, in order.
func FuzzScanHashFields(f *testing.F) {
	for _, s := range []string{`{"id":1,"name":"ann","n":null,"ok":true,"x":-1.5e3}`, `{"id":1,"b":"__debezium_unavailable_value"}`,
		`{"a":{"b":1}}`, `{"a":"\u00e9"}`, `{}`, `{"a":1,"a":2}`, `{"é":"ü"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		fields, toast, ok := scanHashFields(v)
		if !ok {
			return
		}
		row, err := connectors.ParseRow(v)
		if err != nil {
			t.Fatalf("fast path accepted %q, ParseRow: %v", v, err)
		}
		want := hashFields(row)
		if len(fields) != len(want) {
			t.Fatalf("%q: fast %d fields, slow %d", v, len(fields), len(want))
		}
		for i := range want {
			if string(fields[i].([]byte)) != want[i].(string) {
				t.Fatalf("%q: field %d fast %q slow %q", v, i, fields[i], want[i])
			}
		}
		var wantToast []string
		for _, c := range row {
			if isMarker(c.Value) {
				wantToast = append(wantToast, c.Name)
			}
		}
		if fmt.Sprint(toast) != fmt.Sprint(wantToast) {
			t.Fatalf("%q: toast fast %q slow %q", v, toast, wantToast)
		}
	})
}
