package connectors

import (
	"errors"
	"strings"
	"testing"
)

func TestInterpolate(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOST": "db.local", "EMPTY": "", "RECURSE": "${HOST}", "DOLLAR": "pa$$word"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want string
		errs     []string // messages, in order
		offsets  []int
		kinds    []error
	}{
		{in: "plain", want: "plain"},
		{in: "${HOST}", want: "db.local"},
		{in: "h=${HOST}:5432", want: "h=db.local:5432"},
		{in: "${EMPTY}", want: ""},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${UNSET:-fallback}", want: "fallback"},
		{in: "${UNSET:-}", want: ""},
		{in: "${HOST:-other}", want: "db.local"},
		{in: "${UNSET:-a:b/c?d=e}", want: "a:b/c?d=e"},
		{in: "$${HOST}", want: "${HOST}"},
		{in: "$$", want: "$"},
		{in: "pa$word", want: "pa$word"},
		{in: "cost$", want: "cost$"},
		{in: "$5 and $ {x}", want: "$5 and $ {x}"},
		{in: "${RECURSE}", want: "${HOST}"}, // values are not expanded again
		{in: "${DOLLAR}", want: "pa$$word"}, // nor unescaped
		{in: "${A_1}${_b}", want: "", errs: []string{
			"environment variable A_1 is not set and ${A_1} has no default",
			"environment variable _b is not set and ${_b} has no default"}, offsets: []int{0, 6}, kinds: []error{ErrUnsetVar, ErrUnsetVar}},
		{in: "x ${UNSET} y", want: "x  y", errs: []string{"environment variable UNSET is not set and ${UNSET} has no default"}, offsets: []int{2}, kinds: []error{ErrUnsetVar}},
		{in: "${HOST", want: "", errs: []string{"unterminated ${ (want ${VAR} or ${VAR:-default})"}, offsets: []int{0}, kinds: []error{ErrInvalid}},
		{in: "${}", want: "", errs: []string{`${}: "" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)`}, offsets: []int{0}, kinds: []error{ErrInvalid}},
		{in: "${1X}", want: "", errs: []string{`${1X}: "1X" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)`}, offsets: []int{0}, kinds: []error{ErrInvalid}},
		{in: "${A-B}", want: "", errs: []string{`${A-B}: "A-B" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)`}, offsets: []int{0}, kinds: []error{ErrInvalid}},
		{in: "${X:=y}", want: "", errs: []string{"${X:=y}: only ${VAR} and ${VAR:-default} are supported"}, offsets: []int{0}, kinds: []error{ErrInvalid}},
		{in: "${X:-${Y}}", want: "}", errs: []string{"${X:-...}: a default cannot hold another ${...}"}, offsets: []int{0}, kinds: []error{ErrInvalid}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, errs := interpolate(tc.in, lookup)
			if got != tc.want {
				t.Errorf("interpolate(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if len(errs) != len(tc.errs) {
				t.Fatalf("problems %+v, want %q", errs, tc.errs)
			}
			for i, e := range errs {
				if e.Msg != tc.errs[i] || e.Offset != tc.offsets[i] || !errors.Is(e.Kind, tc.kinds[i]) {
					t.Errorf("problem %d = %+v, want %q at %d (%v)", i, e, tc.errs[i], tc.offsets[i], tc.kinds[i])
				}
			}
		})
	}
}

// TestInterpolateStructure shows an environment value cannot change the
// file's structure: it stays one scalar, however YAML-like it looks.
func TestInterpolateStructure(t *testing.T) {
	t.Parallel()
	in := "version: 1\npipelines:\n  - name: s\n    sinks: [{name: a, type: redis, addr: \"h:1\", topics: [t], key: \"${KEY}\"}]\n"
	env := map[string]string{"KEY": "k:{id}\"]\n    evil: [x, 1"}
	c, err := testLoader(env, nil).Parse("p.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Pipelines[0].Sinks[0].Redis.Key; got != env["KEY"] {
		t.Errorf("key = %q", got)
	}
}

func TestInterpolateKeysUntouched(t *testing.T) {
	t.Parallel()
	in := "version: 1\n${X}: 1\n"
	_, err := testLoader(map[string]string{"X": "pipelines"}, nil).Parse("p.yaml", []byte(in))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:2:1: ${X}: unknown field") {
		t.Errorf("err = %v", err)
	}
}
