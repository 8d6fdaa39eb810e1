package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPipelineValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const pw = "Hx7-not-to-be-printed"
	good := write("good.yaml", `version: 1
pipelines:
  - name: shop
    source: {type: postgres, dsn: "postgres://u:`+pw+`@127.0.0.1/shop", tables: [public.orders]}
    sinks: [{name: c, type: redis, addr: "127.0.0.1:6379", password: `+pw+`, topics: [shop.public.orders]}]
`)
	bad := write("bad.yaml", `version: 1
pipelines:
  - name: Shop
    source: {type: postgres, dsn: "postgres://u:`+pw+`@127.0.0.1/shop", tables: [public.orders], snapshot: sometimes}
    sinks:
      - {name: c, type: redis, password: `+pw+`, topics: []}
`)
	tests := []struct {
		name   string
		args   []string
		code   int
		want   []string
		absent []string
	}{
		{"demo config", []string{"pipeline", "validate", "-f", "../../configs/demo.yaml"}, exitOK,
			[]string{"demo.yaml: valid", "pipeline shop:", "sluice:***@127.0.0.1:5432", "2 pipelines, 2 sources, 3 sinks, 5 topics"}, nil},
		{"valid file, secrets redacted", []string{"pipeline", "validate", "--file", good}, exitOK,
			[]string{"valid", "postgres://u:***@127.0.0.1/shop", "password ***", "1 pipeline, 1 source, 1 sink, 1 topic"}, []string{pw}},
		{"every problem, one per line", []string{"pipeline", "validate", "-f", bad}, exitFailure, []string{
			bad + `:3:11: pipelines[0].name: "Shop" must match [a-z0-9][a-z0-9_-]*` + "\n",
			bad + `:4:123: pipelines[0].source.snapshot: "sometimes" is not one of: initial, never, when_needed, initial_only` + "\n",
			bad + `:6:9: pipelines[0].sinks[0].addr: required (or addrs, for Redis Cluster)` + "\n",
			bad + `:6:73: pipelines[0].sinks[0].topics: required (a non-empty list)` + "\n",
			bad + ": 4 problems",
		}, []string{pw}},
		{"missing file", []string{"pipeline", "validate", "-f", filepath.Join(dir, "none.yaml")}, exitFailure, []string{"none.yaml: no such file"}, nil},
		{"no -f", []string{"pipeline", "validate"}, exitUsage, []string{"--file (-f) is required"}, nil},
		{"extra argument", []string{"pipeline", "validate", "-f", good, "more"}, exitUsage, []string{"accepts 0 arg(s)"}, nil},
		{"unknown flag", []string{"pipeline", "validate", "--nope"}, exitUsage, []string{"unknown flag: --nope"}, nil},
		{"unknown subcommand", []string{"pipeline", "check"}, exitUsage, []string{`unknown command "check" for "sluice pipeline"`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out := runCaptured(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output holds %q:\n%s", a, out)
				}
			}
		})
	}
}

// TestPipelineValidateExamples runs the command on every file in configs/,
// as a user would, with no variable set by the test.
func TestPipelineValidateExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, f := range files {
		if code, out := runCaptured(t, "pipeline", "validate", "-f", f); code != exitOK {
			t.Errorf("%s: exit %d:\n%s", f, code, out)
		}
	}
}
