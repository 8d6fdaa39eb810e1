package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecurityCommandUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"user create without password", []string{"user", "create", "alice", "--data-dir", t.TempDir()}, "no password"},
		{"acl add without resource", []string{"acl", "add", "--principal", "User:a", "--operation", "read"}, "required"},
		{"acl add two resources", []string{"acl", "add", "--principal", "User:a", "--operation", "read", "--topic", "t", "--group", "g"}, "one of"},
		{"acl remove everything", []string{"acl", "remove"}, "--principal or a resource"},
		{"broker cert without key", []string{"broker", "--data-dir", t.TempDir(), "--tls-cert", "x.pem"}, "certificate and key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out := runCaptured(t, tc.args...)
			if code != exitUsage || !strings.Contains(out, tc.msg) {
				t.Fatalf("exit %d, output %q; want usage error with %q", code, out, tc.msg)
			}
		})
	}
}

// TestUserCreateOffline: the first user of a SASL broker is written to the
// data dir; only a salted hash lands there.
func TestUserCreateOffline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwFile := filepath.Join(t.TempDir(), "pw")
	const pw = "offline-Secret-123"
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "user", "create", "admin", "--mechanism", "scram-sha-512", "--iterations", "8192", "--password-file", pwFile, "--data-dir", dir)
	b, err := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"admin"`) || !strings.Contains(string(b), "SCRAM-SHA-512") || strings.Contains(string(b), pw) {
		t.Fatalf("credentials.json:\n%s", b)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "credentials.json")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials.json mode %v", fi.Mode())
	}
	mustRun(t, "user", "delete", "admin", "--data-dir", dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "credentials.json")); strings.Contains(string(b), `"admin"`) {
		t.Fatalf("admin still there:\n%s", b)
	}
	if code, out := runCaptured(t, "user", "create", "x", "--iterations", "10", "--password-file", pwFile, "--data-dir", dir); code == exitOK {
		t.Fatalf("10 iterations accepted: %s", out)
	}
}
