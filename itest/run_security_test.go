package itest

// The connector side of security: `sluice run` against an external
// `sluice broker` that requires TLS and SCRAM-SHA-512 with ACLs on, Redis
// over TLS, and the rule that no secret reaches an output.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
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
	t.Cleanup(func() { DropPipelinePG(t, dsn, pipeline, table) })
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
	// pipelineFile writes the pipeline with the broker's tls and sasl blocks.
	pipelineFile := func(name, tlsBlock, saslBlock string) string {
		file := filepath.Join(dir, name)
		yaml := fmt.Sprintf(`version: 1
broker:
  bootstrap: [%s]
  tls: %s
  sasl: %s
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
`, sb.Addr, tlsBlock, saslBlock, pipeline, dsn, table, redisAddr, pipeline, table, prefix)
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	caBlock := "{ca_file: " + sb.pki.ca + "}"
	file := pipelineFile("pipeline.yaml", caBlock, `{mechanism: SCRAM-SHA-512, username: piper, password: "${`+secPiperEnv+`}"}`)
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
		authErr := func() string {
			for _, l := range strings.Split(run.out.String(), "\n") {
				if strings.Contains(l, "level=ERROR") && strings.Contains(l, "SASL_AUTHENTICATION_FAILED") {
					return l
				}
			}
			return ""
		}
		for authErr() == "" {
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
		t.Logf("the error: %s", authErr())
	})
	t.Run("no ca_file", func(t *testing.T) {
		// System roots do not know the test CA.
		run := startRunEnv(t, pipelineFile("noca.yaml", "{}", `{mechanism: SCRAM-SHA-512, username: piper, password: "${`+secPiperEnv+`}"}`), FreeAddr(t), env...)
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		defer wcancel()
		t.Logf("the error: %s", waitErrorLine(t, wctx, run, "certificate signed by unknown authority"))
		run.stop()
		noSecret(t, "sluice run output (no ca_file)", run.out.String(), secPiperPassword)
	})
	// The same pipeline resumes with the other mechanisms, the password read
	// from a file; rows changed meanwhile arrive.
	pwFile := filepath.Join(dir, "piper.pw")
	if err := os.WriteFile(pwFile, []byte(secPiperPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sb.admin(t, []string{"SLUICE_USER_PASSWORD=" + secPiperPassword}, "user", "create", "piper256", "--mechanism", "SCRAM-SHA-256")
	for _, res := range [][]string{{"--topic", "*"}, {"--group", "*"}, {"--cluster"}} {
		sb.admin(t, nil, append([]string{"acl", "add", "--principal", "User:piper256", "--operation", "all"}, res...)...)
	}
	for i, c := range []struct{ mech, user string }{{"PLAIN", "piper"}, {"SCRAM-SHA-256", "piper256"}} {
		t.Run(c.mech+" password_file", func(t *testing.T) {
			if _, err := conn.Exec(ctx, fmt.Sprintf("UPDATE %s SET n = n + 1000 WHERE id %% 2 = %d", table, i)); err != nil {
				t.Fatal(err)
			}
			file := pipelineFile(c.mech+".yaml", caBlock, fmt.Sprintf("{mechanism: %s, username: %s, password_file: %s}", c.mech, c.user, pwFile))
			code, out := Sluice(t, "pipeline", "validate", "-f", file)
			if code != 0 {
				t.Fatalf("pipeline validate: exit %d\n%s", code, out)
			}
			noSecret(t, "sluice pipeline validate output", out, secPiperPassword)
			if statesEqual(tableState(ctx, t, conn, table), redisState(ctx, t, rdb, prefix)) {
				t.Fatal("Redis already equals the table before the run")
			}
			run := startRunEnv(t, file, FreeAddr(t))
			waitEqual(ctx, t, c.mech, conn, table, rdb, prefix, run)
			if !strings.Contains(run.out.String(), "sasl="+c.mech) {
				t.Fatalf("sluice run does not say it uses %s:\n%s", c.mech, run.out.String())
			}
			run.stop()
			noSecret(t, "sluice run output", run.out.String(), secPiperPassword)
		})
	}
	noSecret(t, "sluice broker output", sb.Output(), secPiperPassword, secWrongPassword)
}

// startTLSRedis runs a redis-server serving only TLS (certificate from pki,
// no client certificates) with requirepass on a free port; it returns the
// address and a client for the test.
func startTLSRedis(t *testing.T, pki secPKI, password string) (string, *goredis.Client) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not installed: %v", err)
	}
	addr := FreeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	dir := t.TempDir()
	cmd := exec.Command("redis-server", "--port", "0", "--bind", "127.0.0.1", "--tls-port", port,
		"--tls-cert-file", pki.cert, "--tls-key-file", pki.key, "--tls-ca-cert-file", pki.ca,
		"--tls-auth-clients", "no", "--requirepass", password, "--save", "", "--appendonly", "no", "--dir", dir)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("redis-server output:\n%s", out.String())
		}
	})
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, Password: password,
		TLSConfig: &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	t.Cleanup(func() { _ = rdb.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return addr, rdb
		}
		if time.Now().After(deadline) {
			t.Fatalf("TLS redis on %s not ready after 30s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRunRedisTLS: a Postgres → Redis pipeline whose Redis serves only TLS
// with a private CA and a password read from a file: Redis equals the
// table, and the password appears in no output. Without the CA file the
// sink reports a certificate error.
func TestRunRedisTLS(t *testing.T) {
	t.Parallel()
	dsn := Need(t, Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pki := newSecPKI(t)
	const redisPassword = "R3dis-pa55-itest-5ecret"
	redisAddr, rdb := startTLSRedis(t, pki, redisPassword)
	pwFile := filepath.Join(pki.dir, "redis.pw")
	if err := os.WriteFile(pwFile, []byte(redisPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	s := suffix()
	pipeline, table := "rtls"+strings.ReplaceAll(s, "_", ""), "rtls_"+s
	prefix := pipeline + ":"
	conn := pgTable(ctx, t, dsn, pipeline, table, 50)
	defer conn.Close(context.Background())

	dir := t.TempDir()
	pipelineFile := func(name, tlsBlock string, pwFile string) string {
		file := filepath.Join(dir, name)
		yaml := fmt.Sprintf(`version: 1
broker:
  embedded: {data_dir: %s, listen: %s}
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
        password_file: %s
        tls: %s
        topics: [%s.public.%s]
        key: "%s{id}"
`, filepath.Join(dir, "data"), FreeAddr(t), pipeline, dsn, table, redisAddr, pwFile, tlsBlock, pipeline, table, prefix)
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}

	t.Run("no CA file", func(t *testing.T) {
		// System roots do not know the test CA: the sink must say so.
		run := startRunEnv(t, pipelineFile("noca.yaml", "{}", pwFile), FreeAddr(t))
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		defer wcancel()
		// The sink's own logged error (not go-redis's pool log line).
		t.Logf("the error: %s", waitErrorLine(t, wctx, run, "sink=cache", "certificate"))
		run.stop()
		noSecret(t, "sluice run output (no CA file)", run.out.String(), redisPassword)
	})

	// Same pipeline and data dir: the snapshot taken above is delivered
	// once the sink can connect.
	t.Run("wrong password", func(t *testing.T) {
		wrongFile := filepath.Join(pki.dir, "wrong.pw")
		if err := os.WriteFile(wrongFile, []byte(secWrongPassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		run := startRunEnv(t, pipelineFile("wrong.yaml", "{ca_file: "+pki.ca+"}", wrongFile), FreeAddr(t))
		t.Logf("the error: %s", waitErrorLine(t, ctx, run, "sink=cache", "WRONGPASS"))
		run.stop()
		noSecret(t, "sluice run output (wrong password)", run.out.String(), redisPassword, secWrongPassword)
	})
	file := pipelineFile("pipeline.yaml", "{ca_file: "+pki.ca+"}", pwFile)
	code, out := Sluice(t, "pipeline", "validate", "-f", file)
	if code != 0 {
		t.Fatalf("pipeline validate: exit %d\n%s", code, out)
	}
	noSecret(t, "sluice pipeline validate output", out, redisPassword)
	admin := FreeAddr(t)
	run := startRunEnv(t, file, admin)
	waitEqual(ctx, t, "after the snapshot", conn, table, rdb, prefix, run)
	if _, err := conn.Exec(ctx, fmt.Sprintf("UPDATE %s SET n = n + 100 WHERE id %% 3 = 0", table)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE id %% 5 = 0", table)); err != nil {
		t.Fatal(err)
	}
	waitEqual(ctx, t, "after streamed changes", conn, table, rdb, prefix, run)
	waitReady(ctx, t, admin)
	noSecret(t, "GET /metrics", httpGet(ctx, t, "http://"+admin+"/metrics"), redisPassword)
	noSecret(t, "GET /api/v1/status", httpGet(ctx, t, "http://"+admin+"/api/v1/status"), redisPassword)
	run.stop()
	noSecret(t, "sluice run output", run.out.String(), redisPassword)
}

// TestRunPostgresSSLRequired: the test Postgres serves no SSL, so a DSN
// with sslmode=require must fail with a clear error (pgx: "tls error:
// server refused TLS connection"), and the DSN's password must not be
// printed (by validate or run).
// (A positive sslmode=verify-full case needs an SSL-enabled Postgres; the
// shared test server has none.)
func TestRunPostgresSSLRequired(t *testing.T) {
	t.Parallel()
	dsn := Need(t, Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const pgPassword = "Pg-pa55-itest-5ecret"
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pgPassword)
	q := u.Query()
	q.Set("sslmode", "require")
	u.RawQuery = q.Encode()

	s := suffix()
	pipeline := "pgssl" + strings.ReplaceAll(s, "_", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
broker:
  embedded: {data_dir: %s, listen: %s}
pipelines:
  - name: %s
    source:
      type: postgres
      dsn: "${PGSSL_DSN}"
      tables: [public.pgssl_%s]
`, filepath.Join(dir, "data"), FreeAddr(t), pipeline, s)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PGSSL_DSN=" + u.String()}
	code, out := sluiceEnv(t, env, "pipeline", "validate", "-f", file)
	if code != 0 {
		t.Fatalf("pipeline validate: exit %d\n%s", code, out)
	}
	noSecret(t, "sluice pipeline validate output", out, pgPassword)

	run := startRunEnv(t, file, FreeAddr(t), env...)
	t.Logf("the error: %s", waitErrorLine(t, ctx, run, "source=postgres", "refused TLS"))
	run.stop()
	noSecret(t, "sluice run output", run.out.String(), pgPassword)
}

// TestRunElasticsearchTLS: the local Elasticsearch serves plain HTTP, so
// the test puts an HTTPS reverse proxy in front of it (certificate from a
// private CA, basic auth required). A Postgres → Elasticsearch pipeline
// with url https://…, ca_file and password_file indexes every row; the
// password appears in no output; without ca_file the sink reports the
// certificate error, and with a wrong password a 401.
func TestRunElasticsearchTLS(t *testing.T) {
	t.Parallel()
	dsn, esURL := Need(t, Postgres), Need(t, Elasticsearch)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pki := newSecPKI(t)
	const esUser, esPassword = "elastic", "Es-pa55-itest-5ecret"
	target, err := url.Parse(esURL)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(pki.cert, pki.key)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != esUser || p != esPassword {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"type":"security_exception","reason":"unable to authenticate user"},"status":401}`)
			return
		}
		r.Header.Del("Authorization")
		proxy.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the no-ca_file case's handshake errors
	srv.StartTLS()
	t.Cleanup(srv.Close)

	s := suffix()
	pipeline, table := "estls"+strings.ReplaceAll(s, "_", ""), "estls_"+s
	index := pipeline + "-search"
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, esURL+"/"+index+"*", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	const rows = 40
	conn := pgTable(ctx, t, dsn, pipeline, table, rows)
	defer conn.Close(context.Background())
	count := func() int {
		resp, err := http.Get(esURL + "/" + index + "/_count")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var c struct{ Count int }
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&c) != nil {
			return -1
		}
		return c.Count
	}

	dir := t.TempDir()
	goodPW, wrongPW := filepath.Join(dir, "es.pw"), filepath.Join(dir, "wrong.pw")
	for f, pw := range map[string]string{goodPW: esPassword, wrongPW: secWrongPassword} {
		if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pipelineFile := func(name, extra, pwFile string) string {
		file := filepath.Join(dir, name)
		yaml := fmt.Sprintf(`version: 1
broker:
  embedded: {data_dir: %s, listen: %s}
pipelines:
  - name: %s
    source:
      type: postgres
      dsn: %s
      tables: [public.%s]
    sinks:
      - name: search
        type: elasticsearch
        url: %s
        index: %s
        username: %s
        password_file: %s
        topics: [%s.public.%s]
%s`, filepath.Join(dir, "data"), FreeAddr(t), pipeline, dsn, table, srv.URL, index, esUser, pwFile, pipeline, table, extra)
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	// failsWith runs a pipeline that must not index and waits for the
	// sink's logged error holding want.
	failsWith := func(t *testing.T, file, want string) {
		t.Helper()
		run := startRunEnv(t, file, FreeAddr(t))
		t.Logf("the error: %s", waitErrorLine(t, ctx, run, "sink=search", want))
		run.stop()
		noSecret(t, "sluice run output", run.out.String(), esPassword, secWrongPassword)
		if n := count(); n > 0 {
			t.Fatalf("%d documents indexed", n)
		}
	}
	t.Run("no ca_file", func(t *testing.T) {
		failsWith(t, pipelineFile("noca.yaml", "", goodPW), "certificate signed by unknown authority")
	})
	t.Run("wrong password", func(t *testing.T) {
		failsWith(t, pipelineFile("wrong.yaml", "        ca_file: "+pki.ca+"\n", wrongPW), "401")
	})

	file := pipelineFile("pipeline.yaml", "        ca_file: "+pki.ca+"\n", goodPW)
	code, out := Sluice(t, "pipeline", "validate", "-f", file)
	if code != 0 {
		t.Fatalf("pipeline validate: exit %d\n%s", code, out)
	}
	noSecret(t, "sluice pipeline validate output", out, esPassword)
	admin := FreeAddr(t)
	run := startRunEnv(t, file, admin)
	for count() != rows {
		if ctx.Err() != nil {
			t.Fatalf("index %s holds %d documents, want %d\n%s", index, count(), rows, run.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitReady(ctx, t, admin)
	noSecret(t, "GET /metrics", httpGet(ctx, t, "http://"+admin+"/metrics"), esPassword)
	noSecret(t, "GET /api/v1/status", httpGet(ctx, t, "http://"+admin+"/api/v1/status"), esPassword)
	run.stop()
	noSecret(t, "sluice run output", run.out.String(), esPassword)
}

// TestRunMySQLSecrets: a MySQL → Redis pipeline as a user with a distinct
// password, the DSN from the environment: Redis equals the table and the
// password appears in no output. The test server has TLS disabled, so a
// DSN with tls=true must fail with a clear error (and no password).
func TestRunMySQLSecrets(t *testing.T) {
	t.Parallel()
	d, err := ParseMySQLDSN(Need(t, MySQL))
	if err != nil {
		t.Fatal(err)
	}
	redisAddr := Need(t, Redis)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := client.ConnectWithContext(ctx, d.Addr(), d.User, d.Password, d.DB, 10*time.Second)
	if err != nil {
		t.Fatalf("connecting to mysql at %s: %v", d.Addr(), err)
	}
	defer conn.Close()
	s := suffix()
	pipeline, table, user := "mysec"+strings.ReplaceAll(s, "_", ""), "mysec_"+s, "sec"+strings.ReplaceAll(s, "_", "")[4:]
	const myPassword = "My-pa55-itest-5ecret"
	prefix := pipeline + ":"
	t.Cleanup(func() {
		cc, err := client.Connect(d.Addr(), d.User, d.Password, d.DB)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer cc.Close()
		_, _ = cc.Execute("DROP TABLE IF EXISTS " + table)
		_, _ = cc.Execute(fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", user))
	})
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", user, myPassword),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO '%s'@'127.0.0.1'", user),
		fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, n INT NOT NULL)", table),
	} {
		if _, err := conn.Execute(q); err != nil {
			t.Fatalf("%s: %v", strings.Replace(q, myPassword, "***", 1), err)
		}
	}
	for i := 1; i <= 30; i++ {
		if _, err := conn.Execute(fmt.Sprintf("INSERT INTO %s VALUES (%d, 'row %d', %d)", table, i, i, i)); err != nil {
			t.Fatal(err)
		}
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	defer rdb.Close()
	mysqlState := func() map[string]map[string]any {
		res, err := conn.Execute(fmt.Sprintf("SELECT id, name, n FROM %s", table))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]map[string]any{}
		for i := range res.RowNumber() {
			id, _ := res.GetInt(i, 0)
			name, _ := res.GetString(i, 1)
			n, _ := res.GetInt(i, 2)
			out[fmt.Sprint(id)] = map[string]any{"id": float64(id), "name": name, "n": float64(n)}
		}
		return out
	}
	waitMySQLEqual := func(what string, run *runProc) {
		t.Helper()
		for !statesEqual(mysqlState(), redisState(ctx, t, rdb, prefix)) {
			if ctx.Err() != nil {
				t.Fatalf("%s: Redis never matched the table\nhave %v\n%s", what, redisState(ctx, t, rdb, prefix), run.out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
broker:
  embedded: {data_dir: %s, listen: %s}
pipelines:
  - name: %s
    source:
      type: mysql
      dsn: "${MYSEC_DSN}"
      tables: [%s.%s]
    sinks:
      - name: cache
        type: redis
        addr: %s
        topics: [%s.%s.%s]
        key: "%s{id}"
`, filepath.Join(dir, "data"), FreeAddr(t), pipeline, d.DB, table, redisAddr, pipeline, d.DB, table, prefix)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("%s:%s@tcp(%s)/%s", user, myPassword, d.Addr(), d.DB)

	t.Run("tls=true without server TLS", func(t *testing.T) {
		env := []string{"MYSEC_DSN=" + base + "?tls=true"}
		run := startRunEnv(t, file, FreeAddr(t), env...)
		t.Logf("the error: %s", waitErrorLine(t, ctx, run, "source=mysql", "TLS"))
		run.stop()
		noSecret(t, "sluice run output", run.out.String(), myPassword)
	})

	env := []string{"MYSEC_DSN=" + base}
	code, out := sluiceEnv(t, env, "pipeline", "validate", "-f", file)
	if code != 0 {
		t.Fatalf("pipeline validate: exit %d\n%s", code, out)
	}
	noSecret(t, "sluice pipeline validate output", out, myPassword)
	admin := FreeAddr(t)
	run := startRunEnv(t, file, admin, env...)
	waitMySQLEqual("after the snapshot", run)
	if _, err := conn.Execute(fmt.Sprintf("UPDATE %s SET n = n + 100 WHERE id %% 3 = 0", table)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Execute(fmt.Sprintf("DELETE FROM %s WHERE id %% 5 = 0", table)); err != nil {
		t.Fatal(err)
	}
	waitMySQLEqual("after streamed changes", run)
	waitReady(ctx, t, admin)
	noSecret(t, "GET /metrics", httpGet(ctx, t, "http://"+admin+"/metrics"), myPassword)
	noSecret(t, "GET /api/v1/status", httpGet(ctx, t, "http://"+admin+"/api/v1/status"), myPassword)
	code, out = Sluice(t, "status", "--admin", admin)
	if code != 0 {
		t.Fatalf("sluice status: exit %d\n%s", code, out)
	}
	noSecret(t, "sluice status output", out, myPassword)
	run.stop()
	noSecret(t, "sluice run output", run.out.String(), myPassword)
}

// newMTLSPKI is a throwaway CA with a server certificate for 127.0.0.1 and
// a client certificate (CN=piper), all written as PEM files.
func newMTLSPKI(t *testing.T) (p secPKI, clientCert, clientKey string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice-itest-mtls-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	leaf := func(name string, serial int64, tmpl *x509.Certificate) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.SerialNumber, tmpl.KeyUsage = big.NewInt(serial), x509.KeyUsageDigitalSignature
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "PRIVATE KEY", kd)
	}
	p = secPKI{dir: dir, ca: write("ca.pem", "CERTIFICATE", caDER), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.cert, p.key = leaf("server", 2, &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}})
	clientCert, clientKey = leaf("client", 3, &x509.Certificate{Subject: pkix.Name{CommonName: "piper"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return p, clientCert, clientKey
}

// TestRunMutualTLS: client certificates from the pipeline file. The broker
// (`--tls-client-ca`) and Redis (`--tls-auth-clients yes`) both require
// one; a Postgres → Redis pipeline with cert_file/key_file on both delivers
// the table, and without them each side reports the refused handshake.
func TestRunMutualTLS(t *testing.T) {
	t.Parallel()
	dsn := Need(t, Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pki, clientCert, clientKey := newMTLSPKI(t)
	b := StartBroker(t, "", "--tls-cert", pki.cert, "--tls-key", pki.key, "--tls-client-ca", pki.ca)
	redisAddr, rdb := startTLSRedisClientAuth(t, pki, clientCert, clientKey)

	s := suffix()
	pipeline, table := "mtls"+strings.ReplaceAll(s, "_", ""), "mtls_"+s
	prefix := pipeline + ":"
	conn := pgTable(ctx, t, dsn, pipeline, table, 40)
	defer conn.Close(context.Background())

	dir := t.TempDir()
	withCert := fmt.Sprintf("{ca_file: %s, cert_file: %s, key_file: %s}", pki.ca, clientCert, clientKey)
	noCert := fmt.Sprintf("{ca_file: %s}", pki.ca)
	pipelineFile := func(name, brokerTLS, redisTLS string) string {
		file := filepath.Join(dir, name)
		yaml := fmt.Sprintf(`version: 1
broker:
  bootstrap: [%s]
  tls: %s
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
        tls: %s
        topics: [%s.public.%s]
        key: "%s{id}"
`, b.Addr, brokerTLS, pipeline, dsn, table, redisAddr, redisTLS, pipeline, table, prefix)
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	// refused waits for an ERROR line of the given component naming want.
	refused := func(t *testing.T, file, component, want string) {
		t.Helper()
		run := startRunEnv(t, file, FreeAddr(t))
		t.Logf("the error: %s", waitErrorLine(t, ctx, run, component, want))
		run.stop()
	}
	t.Run("broker without client certificate", func(t *testing.T) {
		refused(t, pipelineFile("nobroker.yaml", noCert, withCert), "source=postgres", "tls: certificate required")
	})
	t.Run("redis without client certificate", func(t *testing.T) {
		refused(t, pipelineFile("noredis.yaml", withCert, noCert), "sink=cache", "tls: certificate required")
	})
	run := startRunEnv(t, pipelineFile("pipeline.yaml", withCert, withCert), FreeAddr(t))
	waitEqual(ctx, t, "after the snapshot", conn, table, rdb, prefix, run)
	if _, err := conn.Exec(ctx, fmt.Sprintf("UPDATE %s SET n = n + 100 WHERE id %% 3 = 0", table)); err != nil {
		t.Fatal(err)
	}
	waitEqual(ctx, t, "after streamed changes", conn, table, rdb, prefix, run)
	run.stop()
}

// startTLSRedisClientAuth runs a TLS-only redis-server that requires a
// client certificate signed by pki's CA; the returned client presents one.
func startTLSRedisClientAuth(t *testing.T, pki secPKI, clientCert, clientKey string) (string, *goredis.Client) {
	t.Helper()
	addr := FreeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("redis-server", "--port", "0", "--bind", "127.0.0.1", "--tls-port", port,
		"--tls-cert-file", pki.cert, "--tls-key-file", pki.key, "--tls-ca-cert-file", pki.ca,
		"--tls-auth-clients", "yes", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("redis-server output:\n%s", out.String())
		}
	})
	cert, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, TLSConfig: &tls.Config{RootCAs: pki.pool,
		ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	t.Cleanup(func() { _ = rdb.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			return addr, rdb
		}
		if time.Now().After(deadline) {
			t.Fatalf("mTLS redis on %s not ready after 30s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitErrorLine waits until run has logged an ERROR line holding every one
// of parts and returns it; it fails t when ctx ends first.
func waitErrorLine(t *testing.T, ctx context.Context, run *runProc, parts ...string) string {
	t.Helper()
	for {
		for _, l := range strings.Split(run.out.String(), "\n") {
			if !strings.Contains(l, "level=ERROR") {
				continue
			}
			all := true
			for _, p := range parts {
				all = all && strings.Contains(l, p)
			}
			if all {
				return l
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no ERROR line with %q:\n%s", parts, run.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
