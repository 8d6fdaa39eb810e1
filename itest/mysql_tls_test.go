package itest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMySQLCAFileInPipeline: the MySQL source takes its CA file in the
// DSN (`?ca_file=`, URL-escaped, as Postgres takes sslrootcert). A CA file
// that cannot be read stops `sluice run` at start with an error naming
// ca_file; neither that error nor `pipeline validate`'s summary shows the
// password. (The TLS handshake itself, binlog included, is tested against
// a TLS-only MariaDB in sources/mysql.)
func TestMySQLCAFileInPipeline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const pw = "pw-7c1d0e"
	dsn := "sluice:" + pw + "@tcp(127.0.0.1:1)/sluice?ca_file=" + url.QueryEscape(filepath.Join(dir, "missing-ca.pem"))
	file := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
broker:
  embedded: {data_dir: %s, listen: %s}
pipelines:
  - name: mytls
    source:
      type: mysql
      dsn: %q
      tables: [sluice.t]
`, filepath.Join(dir, "data"), freeLoopback(t), dsn)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out := MustSluice(t, "pipeline", "validate", "-f", file)
	if strings.Contains(out, pw) {
		t.Fatalf("validate shows the password:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), "run", "-f", file, "--metrics-listen", freeLoopback(t))
	b, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("sluice run did not stop on an unreadable ca_file:\n%s", b)
	}
	if err == nil || !strings.Contains(string(b), "ca_file") || strings.Contains(string(b), pw) {
		t.Fatalf("sluice run: %v; want a failure naming ca_file without the password:\n%s", err, b)
	}
}
