package connectors

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func TestDocumentKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want, id string }{
		{"text", "o-17", `{"id":"o-17"}`, "o-17"},
		{"number text", "42", `{"id":"42"}`, "42"},
		{"json object kept", `{"a":1,"b":"x"}`, `{"a":1,"b":"x"}`, "1:x"},
		{"quotes and colon", `a"b:c`, `{"id":"a\"b:c"}`, `a"b\:c`},
		{"empty", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := DocumentKey([]byte(tc.in))
			if string(got) != tc.want {
				t.Fatalf("DocumentKey(%q) = %s, want %s", tc.in, got, tc.want)
			}
			if tc.id == "" {
				return
			}
			row, err := ParseRow(got)
			if err != nil || KeyID(row) != tc.id {
				t.Fatalf("KeyID = %q (%v), want %q", KeyID(row), err, tc.id)
			}
		})
	}
}

// FuzzDocumentKey: any key that is not a JSON object becomes a one-column
// object whose value is the key's text.
func FuzzDocumentKey(f *testing.F) {
	for _, s := range []string{"o-1", "", "{", `{"id":1}`, "\xff", " {"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		got := DocumentKey(key)
		k := bytes.TrimSpace(key)
		if len(k) == 0 || k[0] == '{' {
			if !bytes.Equal(got, key) {
				t.Fatalf("DocumentKey(%q) = %q, want it unchanged", key, got)
			}
			return
		}
		row, err := ParseRow(got)
		if err != nil || len(row) != 1 || row[0].Name != "id" {
			t.Fatalf("DocumentKey(%q) = %q: %v %v", key, got, row, err)
		}
		// Invalid UTF-8 is replaced by U+FFFD when marshalled; valid text
		// comes back exactly.
		if s, ok := row[0].Value.(string); !ok || (utf8.Valid(key) && s != string(key)) {
			t.Fatalf("DocumentKey(%q) id = %#v", key, row[0].Value)
		}
	})
}
