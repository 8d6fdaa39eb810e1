package connectors

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func TestRowJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		row  Row
		want string
	}{
		{"key order kept", Row{{"z", int64(1)}, {"a", int64(2)}}, `{"z":1,"a":2}`},
		{"types", Row{
			{"n", nil}, {"b", true}, {"s", "x\"y\\\n\u2028<"}, {"i", int64(-7)}, {"u", uint64(math.MaxUint64)},
			{"f", 1.5}, {"num", json.Number("12345678901234567890.123")}, {"raw", json.RawMessage(`{"k":[1]}`)},
			{"bytes", []byte{0, 1, 255}}, {"arr", []any{int64(1), "two", nil}}, {"nested", Row{{"x", false}}},
		}, `{"n":null,"b":true,"s":"x\"y\\\n\u2028<","i":-7,"u":18446744073709551615,"f":1.5,"num":12345678901234567890.123,"raw":{"k":[1]},"bytes":"AAH/","arr":[1,"two",null],"nested":{"x":false}}`},
		{"non-finite floats", Row{{"a", math.NaN()}, {"b", math.Inf(1)}, {"c", math.Inf(-1)}}, `{"a":"NaN","b":"Infinity","c":"-Infinity"}`},
		{"empty", Row{}, `{}`},
		{"invalid utf8", Row{{"s", "a\xffb"}}, `{"s":"a\ufffdb"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.row.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON %s", got)
			}
		})
	}
}

func TestStringEscapingMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "tab\there", "\x00\x1f", "é漢字", "\u2029", `"quoted"`, "back\\slash"} {
		want, _ := json.Marshal(s)
		var ws string
		_ = json.Unmarshal(want, &ws)
		got := appendString(nil, s)
		var gs string
		if err := json.Unmarshal(got, &gs); err != nil || gs != ws {
			t.Errorf("appendString(%q) = %s, decodes to %q (%v), want %q", s, got, gs, err, ws)
		}
	}
}

func TestParseRowKeepsOrderAndExactNumbers(t *testing.T) {
	t.Parallel()
	in := `{"b":18446744073709551615,"a":{"y":[1,{"z":null}],"x":"s"},"c":1.10}`
	r, err := ParseRow([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := r.MarshalJSON()
	if string(out) != in {
		t.Fatalf("round trip\n got %s\nwant %s", out, in)
	}
	for _, bad := range []string{`[1]`, `{"a":1} {}`, `{"a":}`, `"s"`, ``} {
		if _, err := ParseRow([]byte(bad)); err == nil {
			t.Errorf("ParseRow(%q) accepted", bad)
		}
	}
}

func TestKeyID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want string
	}{
		{`{"id":42}`, "42"},
		{`{"a":"x:y","b":1}`, `x\:y:1`},
		{`{"a":"back\\slash","b":true}`, `back\\slash:true`},
		{`{"id":null}`, ""},
		{`{"id":"7"}`, "7"},
	}
	for _, tc := range tests {
		r, err := ParseRow([]byte(tc.key))
		if err != nil {
			t.Fatal(err)
		}
		if got := KeyID(r); got != tc.want {
			t.Errorf("KeyID(%s) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	lsn := int64(123)
	after, _ := Row{{"id", int64(1)}, {"name", "a"}}.MarshalJSON()
	e := Envelope{After: after, Op: OpCreate, TsMs: 5, Source: SourceInfo{Connector: "postgresql", Name: "shop", DB: "app", Schema: "public", Table: "t", Snapshot: "false", LSN: &lsn}}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if !IsNull(got.Before) || string(got.After) != string(after) || got.Op != OpCreate || *got.Source.LSN != 123 {
		t.Fatalf("decoded %+v from %s", got, b)
	}
	var generic map[string]any
	_ = json.Unmarshal(b, &generic)
	if _, ok := generic["before"]; !ok || generic["before"] != nil {
		t.Fatalf("before must be present and null: %s", b)
	}
	for _, bad := range []string{`{}`, `{"op":"x"}`, `nope`} {
		if _, err := DecodeEnvelope([]byte(bad)); err == nil {
			t.Errorf("DecodeEnvelope(%s) accepted", bad)
		}
	}
}

func FuzzParseRow(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,"x",null,true]}}`, `{}`, `{"a":"\u00e9"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRow(b)
		if err != nil {
			return
		}
		out, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("re-encoding a parsed row: %v", err)
		}
		r2, err := ParseRow(out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("unstable round trip: %v vs %v", r, r2)
		}
	})
}
