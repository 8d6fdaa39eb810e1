package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// runCaptured runs the CLI in-process and returns its exit status and output.
func runCaptured(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.Execute()
	code := exitOK
	if err != nil {
		code = exitStatus(err)
		out.WriteString(err.Error())
	}
	return code, out.String()
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out := runCaptured(t, "version")
	if code != exitOK {
		t.Fatalf("version exited %d: %s", code, out)
	}
	for _, want := range []string{"sluice ", version, runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("version output %q lacks %q", out, want)
		}
	}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown flag", []string{"version", "--nope"}, exitUsage, "unknown flag: --nope"},
		{"bad log level", []string{"--log-level", "loud", "version"}, exitUsage, `--log-level "loud"`},
		{"bad log format", []string{"--log-format", "xml", "version"}, exitUsage, `--log-format "xml"`},
		{"json logs accepted", []string{"--log-format", "json", "--log-level", "debug", "version"}, exitOK, "sluice "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out := runCaptured(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (output %q)", code, tc.code, out)
			}
			if !strings.Contains(out, tc.msg) {
				t.Errorf("output %q lacks %q", out, tc.msg)
			}
		})
	}
}
