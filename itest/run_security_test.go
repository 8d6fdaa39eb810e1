package itest

// The connector side of security: `sluice run` against an external
// `sluice broker` that requires TLS and SCRAM-SHA-512 with ACLs on, Redis
// over TLS, and the rule that no secret reaches an output.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

const (
	secPiperPassword = "P1per-pa55-itest-5ecret"
	secPiperEnv      = "SLUICE_ITEST_PIPER_PASSWORD"
)

// startRunEnv is startRun with extra environment for the process.
func startRunEnv(t *testing.T, file, admin string, env ...string) *runProc {
	t.Helper()
	p := &runProc{t: t, out: &lockedBuffer{}, admin: admin}
	p.cmd = exec.Command(Binary(t), "run", "-f", file, "--metrics-listen", admin)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("sluice run output:\n%s", p.out.String())
		}
	})
	return p
}

// sluiceEnv runs the binary with extra environment; it returns the exit
// code and the combined output.
func sluiceEnv(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("sluice %s: %v", strings.Join(args, " "), err)
	}
	return 0, string(out)
}

// httpGet returns the body of GET url.
func httpGet(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// noSecret fails the test when out holds any of secrets.
func noSecret(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s contains a secret (%d bytes of output)", what, len(out))
		}
	}
}

// pgTable creates a (id, name, n) table with rows and drops it, the
// pipeline's slot and publication when the test ends.
func pgTable(ctx context.Context, t *testing.T, dsn, pipeline, table string, rows int) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := context.Background()
		// The test's own connection may be closed by now, so clean up on
		// a fresh one.
		cc, err := pgx.Connect(c, dsn)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer cc.Close(c)
		DropSlot(c, func(ctx context.Context, q string, args ...any) error {
			_, err := cc.Exec(ctx, q, args...)
			return err
		}, "sluice_"+pipeline)
		_, _ = cc.Exec(c, "DROP PUBLICATION IF EXISTS sluice_"+pipeline)
		_, _ = cc.Exec(c, "DROP TABLE IF EXISTS "+table)
	})
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, name text NOT NULL, n int NOT NULL)", table)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s SELECT g, 'row '||g, g FROM generate_series(1, %d) g", table, rows)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestRunSecureBroker: a Postgres → Redis pipeline whose broker is an
// external `sluice broker` with TLS, SCRAM-SHA-512 and ACLs, the password
// coming from the environment. Redis equals the table; the password is in
// none of `sluice run`'s output, `sluice pipeline validate`, /metrics,
// /api/v1/status or `sluice status`. A wrong password gives a clear
// authentication error, again without the secret.
func TestRunSecureBroker(t *testing.T) {
	t.Parallel()
	dsn, redisAddr := Need(t, Postgres), Need(t, Redis)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sb := startSecureBroker(t)
	// The pipeline's user: SCRAM-SHA-512, made by `sluice user create`,
	// allowed everything on topics, groups and the cluster by ACLs (the
	// broker's only super user is admin).
	sb.admin(t, []string{"SLUICE_USER_PASSWORD=" + secPiperPassword}, "user", "create", "piper", "--mechanism", "SCRAM-SHA-512")
	for _, res := range [][]string{{"--topic", "*"}, {"--group", "*"}, {"--cluster"}} {
		sb.admin(t, nil, append([]string{"acl", "add", "--principal", "User:piper", "--operation", "all"}, res...)...)
	}

	s := suffix()
	pipeline, table := "sec"+strings.ReplaceAll(s, "_", ""), "sec_"+s
	prefix := pipeline + ":"
	conn := pgTable(ctx, t, dsn, pipeline, table, 50)
	defer conn.Close(context.Background())
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	defer rdb.Close()

	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
broker:
  bootstrap: [%s]
  tls: {ca_file: %s}
  sasl: {mechanism: SCRAM-SHA-512, username: piper, password: "${%s}"}
pipelines:
  - name: %s
    source:
      type: postgres
      dsn: %s
      tables: [public.%s]
    sinks:
      - name: cache
        type: redis
        addr: %s
        topics: [%s.public.%s]
        key: "%s{id}"
`, sb.Addr, sb.pki.ca, secPiperEnv, pipeline, dsn, table, redisAddr, pipeline, table, prefix)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{secPiperEnv + "=" + secPiperPassword}

	code, out := sluiceEnv(t, env, "pipeline", "validate", "-f", file)
	if code != 0 {
		t.Fatalf("pipeline validate: exit %d\n%s", code, out)
	}
	noSecret(t, "sluice pipeline validate output", out, secPiperPassword)

	admin := FreeAddr(t)
	run := startRunEnv(t, file, admin, env...)
	waitEqual(ctx, t, "after the snapshot", conn, table, rdb, prefix, run)
	if _, err := conn.Exec(ctx, fmt.Sprintf("UPDATE %s SET n = n + 100, name = 'upd' WHERE id %% 3 = 0", table)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE id %% 5 = 0", table)); err != nil {
		t.Fatal(err)
	}
	waitEqual(ctx, t, "after streamed changes", conn, table, rdb, prefix, run)

	waitReady(ctx, t, admin)
	noSecret(t, "GET /metrics", httpGet(ctx, t, "http://"+admin+"/metrics"), secPiperPassword)
	noSecret(t, "GET /api/v1/status", httpGet(ctx, t, "http://"+admin+"/api/v1/status"), secPiperPassword)
	for _, args := range [][]string{{"status", "--admin", admin}, {"status", "--admin", admin, "--json"}} {
		code, out := Sluice(t, args...)
		if code != 0 {
			t.Fatalf("sluice %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		if !strings.Contains(out, pipeline) {
			t.Fatalf("sluice %s does not name the pipeline:\n%s", strings.Join(args, " "), out)
		}
		noSecret(t, "sluice "+strings.Join(args, " "), out, secPiperPassword)
	}
	run.stop()
	noSecret(t, "sluice run output", run.out.String(), secPiperPassword)

	t.Run("wrong password", func(t *testing.T) {
		wrong := []string{secPiperEnv + "=" + secWrongPassword}
		run := startRunEnv(t, file, FreeAddr(t), wrong...)
		done := make(chan error, 1)
		go func() { done <- run.cmd.Wait() }()
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		defer wcancel()
		for !strings.Contains(strings.ToLower(run.out.String()), "authentication") {
			select {
			case err := <-done:
				t.Fatalf("sluice run with a wrong password exited (%v) without an authentication error:\n%s", err, run.out.String())
			case <-wctx.Done():
				t.Fatalf("no authentication error within 60 s:\n%s", run.out.String())
			case <-time.After(100 * time.Millisecond):
			}
		}
		select {
		case <-done:
		default:
			_ = run.cmd.Process.Kill()
			<-done
		}
		noSecret(t, "sluice run output (wrong password)", run.out.String(), secPiperPassword, secWrongPassword)
		t.Logf("wrong password output:\n%s", run.out.String())
	})
	noSecret(t, "sluice broker output", sb.Output(), secPiperPassword, secWrongPassword)
}
