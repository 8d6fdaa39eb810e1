package connectors

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var fuzzLine = regexp.MustCompile(`^f\.yaml(:[1-9][0-9]*:[1-9][0-9]*)?: `)

// FuzzLoad feeds arbitrary bytes to the loader. Invariants: no panic; an
// error comes without a Config, as *FieldErrors only, one line each, each
// starting with file:line:col; a loaded Config validates again after a
// second Defaults and summarises; loading is deterministic.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("../configs/*.yaml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "version: 1", "version: 1\npipelines: [{name: s, sinks: [{name: a, type: redis, addr: \"h:1\", topics: [t]}]}]",
		"a: &a [*a]", "{<<: {<<: *x}}", "version: ${V:-1}\n", "- - -", "version: 1\n---\n", "\t", "{", "? [a]: b",
	} {
		f.Add([]byte(s))
	}
	env := map[string]string{"V": "1", "SECRET": "s3cret"}
	l := testLoader(env, map[string]string{"/pw": "s3cret"})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := l.Parse("f.yaml", data)
		c2, err2 := l.Parse("f.yaml", data)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			fes := FieldErrors(err)
			lines := strings.Split(err.Error(), "\n")
			if len(fes) == 0 || len(fes) != len(lines) {
				t.Fatalf("%d field errors for %d lines: %q", len(fes), len(lines), err)
			}
			for _, ln := range lines {
				if !fuzzLine.MatchString(ln) {
					t.Fatalf("line without file:line:col: %q", ln)
				}
			}
			return
		}
		c.Defaults()
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded config fails Validate: %v", err)
		}
		if c.Summary() == "" || c2 == nil {
			t.Fatal("empty summary")
		}
	})
}
