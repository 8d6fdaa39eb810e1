package redis

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

func TestParseTemplate(t *testing.T) {
	t.Parallel()
	key := func(s string) connectors.Row {
		r, err := connectors.ParseRow([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name, tmpl, key string
		want, prefix    string
		cols            []string
	}{
		{name: "simple", tmpl: "customer:{id}", key: `{"id":42}`, want: "customer:42", prefix: "customer:", cols: []string{"id"}},
		{name: "composite", tmpl: "t:{a}:{b}", key: `{"a":"x","b":7}`, want: "t:x:7", prefix: "t:", cols: []string{"a", "b"}},
		{name: "order as written", tmpl: "t:{b}/{a}", key: `{"a":1,"b":2}`, want: "t:2/1", prefix: "t:"},
		{name: "colon escaped", tmpl: "c:{id}", key: `{"id":"a:b"}`, want: `c:a\:b`, prefix: "c:"},
		{name: "backslash escaped", tmpl: "c:{id}", key: `{"id":"a\\b"}`, want: `c:a\\b`, prefix: "c:"},
		{name: "both escaped", tmpl: "c:{a}:{b}", key: `{"a":"x:\\","b":":"}`, want: `c:x\:\\:\:`, prefix: "c:"},
		{name: "literal backslash as written", tmpl: `a\b:{id}`, key: `{"id":1}`, want: `a\b:1`, prefix: `a\b:`},
		{name: "no prefix", tmpl: "{id}:x", key: `{"id":1}`, want: "1:x", prefix: ""},
		{name: "suffix", tmpl: "x{id}y", key: `{"id":true}`, want: "xtruey", prefix: "x"},
		{name: "null is empty", tmpl: "x:{id}", key: `{"id":null}`, want: "x:", prefix: "x:"},
		{name: "big number exact", tmpl: "x:{id}", key: `{"id":18446744073709551615}`, want: "x:18446744073709551615", prefix: "x:"},
		{name: "nested json", tmpl: "x:{id}", key: `{"id":{"a":[1,"b"]}}`, want: `x:{"a"\:[1,"b"]}`, prefix: "x:"},
		{name: "repeated column", tmpl: "{id}-{id}", key: `{"id":3}`, want: "3-3", prefix: ""},
		{name: "unicode", tmpl: "é:{név}", key: `{"név":"ü"}`, want: "é:ü", prefix: "é:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tm, err := ParseTemplate(tc.tmpl)
			if err != nil {
				t.Fatalf("ParseTemplate(%q): %v", tc.tmpl, err)
			}
			if tm.String() != tc.tmpl {
				t.Errorf("String() = %q", tm.String())
			}
			if tm.Prefix() != tc.prefix {
				t.Errorf("Prefix() = %q, want %q", tm.Prefix(), tc.prefix)
			}
			if tc.cols != nil && strings.Join(tm.Columns(), ",") != strings.Join(tc.cols, ",") {
				t.Errorf("Columns() = %q, want %q", tm.Columns(), tc.cols)
			}
			got, err := tm.Render(key(tc.key))
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tc.want {
				t.Errorf("Render(%s) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestParseTemplateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ tmpl, want string }{
		{"customer:{id", `placeholder "{id" at offset 9 is not closed`},
		{"customer:{}", "empty placeholder {} at offset 9"},
		{"c:{a{b}", `placeholder "{a{" at offset 2 contains '{'`},
		{"c:}{id}", "'}' at offset 2 closes no placeholder"},
		{"c:{id}}", "'}' at offset 6 closes no placeholder"},
		{"static", "no {column} placeholder"},
		{"", "no {column} placeholder"},
	}
	for _, tc := range tests {
		t.Run(tc.tmpl, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTemplate(tc.tmpl)
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("ParseTemplate(%q) = %v, want ErrTemplate", tc.tmpl, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestRenderMissingColumn(t *testing.T) {
	t.Parallel()
	tm, err := ParseTemplate("c:{tenant}:{id}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tm.Render(connectors.Row{{Name: "id", Value: int64(1)}})
	if !errors.Is(err, ErrKeyColumn) || !strings.Contains(err.Error(), "{tenant}") {
		t.Fatalf("Render = %v, want ErrKeyColumn naming {tenant}", err)
	}
}

// FuzzTemplate checks the parser's invariants on any input: it never
// panics; a parsed template renders as written; its prefix is the text
// before the first '{'; rendering with escaped values keeps the prefix and
// distinct single-column values give distinct keys.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"customer:{id}", "{a}:{b}", "x{", "}", "{}", "a{b{c}}", `a\:{id}`, "t:{a}:{b}:z", ""} {
		f.Add(s, "v1", "v2")
	}
	f.Fuzz(func(t *testing.T, s, v1, v2 string) {
		tm, err := ParseTemplate(s)
		if err != nil {
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("error %v does not wrap ErrTemplate", err)
			}
			return
		}
		if tm.String() != s {
			t.Fatalf("String() = %q, want %q", tm.String(), s)
		}
		if i := strings.IndexByte(s, '{'); i < 0 || tm.Prefix() != s[:i] {
			t.Fatalf("Prefix() = %q for %q", tm.Prefix(), s)
		}
		if len(tm.Columns()) != strings.Count(s, "{") || len(tm.Columns()) != strings.Count(s, "}") {
			t.Fatalf("Columns() = %q for %q", tm.Columns(), s)
		}
		row := func(v string) connectors.Row {
			var r connectors.Row
			for _, c := range tm.Columns() {
				if _, ok := r.Get(c); !ok {
					r = append(r, connectors.Column{Name: c, Value: v})
				}
			}
			return r
		}
		k1, err := tm.Render(row(v1))
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		if !strings.HasPrefix(k1, tm.Prefix()) {
			t.Fatalf("key %q lacks prefix %q", k1, tm.Prefix())
		}
		k2, err := tm.Render(row(v2))
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		if (k1 == k2) != (v1 == v2) && len(tm.Columns()) == 1 {
			t.Fatalf("values %q and %q render to %q and %q", v1, v2, k1, k2)
		}
	})
}
