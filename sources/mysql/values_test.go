package mysql

import (
	"encoding/json"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := connectors.Row{{Name: "v", Value: v}}.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[5 : len(b)-1])
}

func TestBinlogValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		col  column
		in   any
		want string
	}{
		{"tinyint unsigned", column{Kind: kInt, Width: 1, Unsigned: true}, int8(-1), "255"},
		{"smallint unsigned", column{Kind: kInt, Width: 2, Unsigned: true}, int16(-1), "65535"},
		{"mediumint unsigned", column{Kind: kInt, Width: 3, Unsigned: true}, int32(-1), "16777215"},
		{"int unsigned", column{Kind: kInt, Width: 4, Unsigned: true}, int32(-1), "4294967295"},
		{"bigint unsigned", column{Kind: kInt, Width: 8, Unsigned: true}, int64(-1), "18446744073709551615"},
		{"bigint signed", column{Kind: kInt, Width: 8}, int64(-5), "-5"},
		{"year", column{Kind: kYear}, 2024, "2024"},
		{"enum", column{Kind: kEnum, Labels: []string{"a", "b"}}, int64(2), `"b"`},
		{"enum empty", column{Kind: kEnum, Labels: []string{"a"}}, int64(0), `""`},
		{"set", column{Kind: kSet, Labels: []string{"a", "b", "c"}}, int64(5), `["a","c"]`},
		{"set none", column{Kind: kSet, Labels: []string{"a"}}, int64(0), `[]`},
		{"bit1", column{Kind: kBit, Width: 1}, int64(1), "true"},
		{"bit12", column{Kind: kBit, Width: 12}, int64(0xAAA), `"Cqo="`},
		{"binary padded", column{Kind: kBinary, Width: 3}, "\x01", `"AQAA"`},
		{"blob", column{Kind: kBinary}, []byte{0xde, 0xad}, `"3q0="`},
		{"datetime", column{Kind: kDatetime}, "2024-01-02 03:04:05.5", `"2024-01-02T03:04:05.5"`},
		{"timestamp", column{Kind: kTimestamp}, "2024-01-02 03:04:05", `"2024-01-02T03:04:05Z"`},
		{"json", column{Kind: kJSON}, `{"a":1}`, `{"a":1}`},
		{"json empty", column{Kind: kJSON}, "", `null`},
		{"latin1", column{Kind: kString, Charset: "latin1"}, "caf\xe9", `"café"`},
		{"decimal", column{Kind: kDecimal}, "1.50", `"1.50"`},
		{"null", column{Kind: kInt}, nil, "null"},
		{"other", column{Kind: kOther}, 3.5, `"3.5"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := jsonOf(t, binlogValue(&tc.col, tc.in)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestTextValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		col  column
		in   string
		want string
	}{
		{"bigint unsigned", column{Kind: kInt, Unsigned: true}, "18446744073709551615", "18446744073709551615"},
		{"float", column{Kind: kFloat}, "1.1", "1.1"},
		{"set", column{Kind: kSet}, "a,c", `["a","c"]`},
		{"set empty", column{Kind: kSet}, "", `[]`},
		{"bit1", column{Kind: kBit, Width: 1}, "\x01", "true"},
		{"bit12", column{Kind: kBit, Width: 12}, "\x0a\xaa", `"Cqo="`},
		{"timestamp", column{Kind: kTimestamp}, "2024-01-02 03:04:05", `"2024-01-02T03:04:05Z"`},
		{"json", column{Kind: kJSON}, `[1]`, `[1]`},
		{"json invalid", column{Kind: kJSON}, `[`, `"["`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := jsonOf(t, textValue(&tc.col, []byte(tc.in))); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseLabelsAndJSONCheck(t *testing.T) {
	t.Parallel()
	if got := parseLabels(`enum('a','b''c','d,e')`); len(got) != 3 || got[1] != "b'c" || got[2] != "d,e" {
		t.Fatalf("labels %q", got)
	}
	if c, ok := jsonValidColumn("json_valid(`doc`)"); !ok || c != "doc" {
		t.Fatalf("json check: %q %v", c, ok)
	}
	if _, ok := jsonValidColumn("`a` > 0"); ok {
		t.Fatal("not a json check")
	}
}

// FuzzBinlogValue: any value of any kind maps to something the encoder
// writes as valid JSON, without panicking.
func FuzzBinlogValue(f *testing.F) {
	f.Add(uint8(kInt), 1, true, int64(-1), "x")
	f.Add(uint8(kSet), 3, false, int64(7), "")
	f.Add(uint8(kJSON), 0, false, int64(0), `{"a":`)
	f.Add(uint8(kBit), 64, false, int64(-1), "")
	f.Fuzz(func(t *testing.T, k uint8, width int, unsigned bool, i int64, s string) {
		c := column{Kind: kind(k % (uint8(kJSON) + 1)), Width: width % 256, Unsigned: unsigned, Labels: []string{"a", "b"}, Charset: "latin1"}
		for _, v := range []any{i, int8(i), int32(i), s, []byte(s), nil, 1.5, int(i)} {
			for _, out := range []any{binlogValue(&c, v), textValue(&c, []byte(s))} {
				b, err := connectors.Row{{Name: "v", Value: out}}.AppendJSON(nil)
				if err != nil {
					t.Fatal(err)
				}
				if !json.Valid(b) {
					t.Fatalf("invalid JSON %q for %#v as kind %d", b, v, c.Kind)
				}
			}
		}
	})
}
