package mysql

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/itest"
)

// tlsServer is a private MariaDB started by the test with TLS required
// (require_secure_transport=ON: a plaintext connection, binlog ones
// included, is refused).
type tlsServer struct {
	addr   string  // 127.0.0.1:port
	caFile string  // the CA that signed the server certificate
	other  string  // an unrelated CA
	root   *sql.DB // over the Unix socket (secure transport by definition)
}

// startTLSMariaDB (extraArgs go to mariadbd) needs the MariaDB binaries (as scripts/services does);
// without them the test skips like any itest without its service, or
// fails under CI.
func startTLSMariaDB(t testing.TB, extraArgs ...string) *tlsServer {
	t.Helper()
	itest.Need(t, itest.MySQL) // the suite's MariaDB gate: same binaries
	for _, b := range []string{"mariadbd", "mariadb-install-db"} {
		if _, err := osexec.LookPath(b); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found: %v", b, err)
			}
			t.Skipf("%s not found: %v", b, err)
		}
	}
	dir, err := os.MkdirTemp("", "sluice-mariadb-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, caKey := newCA(t, "sluice test CA")
	other, _ := newCA(t, "unrelated CA")
	srvCert, srvKey := newLeaf(t, ca, caKey)
	s := &tlsServer{caFile: filepath.Join(dir, "ca.pem"), other: filepath.Join(dir, "other.pem")}
	writePEM(t, s.caFile, "CERTIFICATE", ca.Raw)
	writePEM(t, s.other, "CERTIFICATE", other.Raw)
	writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", srvCert)
	writePEM(t, filepath.Join(dir, "server-key.pem"), "PRIVATE KEY", srvKey)

	data := filepath.Join(dir, "data")
	var userArgs []string
	if os.Geteuid() == 0 { // mariadbd refuses root; run as mysql like scripts/services
		u, err := user.Lookup("mysql")
		if err != nil {
			t.Fatalf("running as root needs a mysql user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(data, uid, gid); err != nil {
			t.Fatal(err)
		}
		userArgs = []string{"--user=mysql"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	install := osexec.CommandContext(ctx, "mariadb-install-db", append([]string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=normal", "--skip-test-db"}, userArgs...)...)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	sock := filepath.Join(data, "sock") // data is the server's own (writable) directory
	srv := osexec.Command("mariadbd", append([]string{"--no-defaults", "--datadir=" + data, "--socket=" + sock,
		"--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1", "--skip-name-resolve",
		"--log-bin=" + filepath.Join(data, "binlog"), "--binlog-format=ROW", "--binlog-row-image=FULL", "--server-id=7",
		"--ssl-ca=" + s.caFile, "--ssl-cert=" + filepath.Join(dir, "server.pem"), "--ssl-key=" + filepath.Join(dir, "server-key.pem"),
		"--require-secure-transport=ON", "--log-error=" + filepath.Join(data, "err.log"), "--pid-file=" + filepath.Join(data, "pid"),
		"--innodb-buffer-pool-size=16M", "--skip-innodb-doublewrite"}, append(userArgs, extraArgs...)...)...)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = srv.Wait(); close(exited) }() // owned: ends when the server exits (Cleanup kills it)
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		<-exited
	})
	root, err := sql.Open("mysql", "root@unix("+sock+")/?multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	for deadline := time.Now().Add(60 * time.Second); ; {
		if err = root.PingContext(ctx); err == nil {
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(data, "err.log"))
			t.Fatalf("mariadbd exited: %v\n%s", waitErr, log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(data, "err.log"))
			t.Fatalf("mariadbd not up after 60s: %v\n%s", err, log)
		}
	}
	exec(t, root, "CREATE DATABASE sluice",
		"CREATE USER 'sluice'@'127.0.0.1' IDENTIFIED BY 's3cret-pw'",
		"GRANT ALL PRIVILEGES ON *.* TO 'sluice'@'127.0.0.1'",
		"CREATE TABLE sluice.t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO sluice.t VALUES (1, 'snap')")
	s.root = root
	return s
}

func (s *tlsServer) dsn(params string) string {
	return "sluice:s3cret-pw@tcp(" + s.addr + ")/sluice" + params
}

func newCA(t testing.TB, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func newLeaf(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano() + 1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der, kd
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTLSBinlogStream: with ca_file in the DSN, the snapshot and the
// binlog stream both connect over TLS to a server that refuses plaintext;
// a wrong CA fails Open with ErrTLS naming ca_file; the password is in no
// log line.
func TestTLSBinlogStream(t *testing.T) {
	t.Parallel()
	srv := startTLSMariaDB(t)

	// Control: plaintext is refused, so anything that streams was TLS.
	plain, err := sql.Open("mysql", srv.dsn(""))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Ping(); err == nil {
		t.Fatal("plaintext connection accepted; want refused (require_secure_transport)")
	}
	sv, err := sql.Open("mysql", srv.dsn("?tls=skip-verify"))
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Close()
	if err := sv.Ping(); err != nil { // same user and password, over TLS
		t.Fatalf("TLS connection: %v", err)
	}

	logs := &syncWriter{w: &strings.Builder{}}
	cfg := Config{Pipeline: "tls", DSN: srv.dsn("?ca_file=" + url.QueryEscape(srv.caFile)), Tables: []string{"sluice.t"},
		HeartbeatPeriod: 500 * time.Millisecond}
	src, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	got := map[string]string{}
	read := func(until func() bool) {
		t.Helper()
		for !until() {
			b, err := src.Read(ctx)
			if err != nil {
				t.Fatalf("read: %v (logs:\n%s)", err, logs.String())
			}
			for _, r := range b.Records {
				if r.Value == nil {
					continue
				}
				e, err := connectors.DecodeEnvelope(r.Value)
				if err != nil {
					t.Fatal(err)
				}
				got[strings.Trim(string(r.Key), `{"id:}`)] = string(e.Op)
			}
		}
	}
	read(func() bool { return got["1"] != "" })
	exec(t, srv.root, "INSERT INTO sluice.t VALUES (2, 'streamed')")
	read(func() bool { return got["2"] != "" })
	if got["1"] != "r" || got["2"] != "c" {
		t.Fatalf("records: %v, want 1:r (snapshot) and 2:c (binlog)", got)
	}
	// The binlog dump thread exists and, with secure transport required,
	// it is a TLS connection.
	var n int
	if err := srv.root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = 'sluice'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("binlog dump threads of sluice: %d, %v", n, err)
	}
	_ = src.Close(context.Background())
	if strings.Contains(logs.String(), "s3cret-pw") {
		t.Fatal("the password appears in the logs")
	}

	// A CA that did not sign the server's certificate.
	bad, err := New(Config{Pipeline: "tls-bad", DSN: srv.dsn("?ca_file=" + url.QueryEscape(srv.other)), Tables: []string{"sluice.t"}})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Open(ctx, nil)
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "ca_file") || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("wrong CA: got %v, want ErrTLS naming ca_file, without the password", err)
	}
	fmt.Fprintln(testWriter{t}, "wrong CA:", err)
}

// syncWriter collects log output from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.String()
}

// ca_file against a server without TLS (the shared test server): Open
// fails with ErrTLS saying the server does not support it.
func TestTLSServerWithoutTLS(t *testing.T) {
	t.Parallel()
	db, full, _ := testDB(t)
	exec(t, db, "CREATE TABLE "+full+" (id INT PRIMARY KEY)")
	dir := t.TempDir()
	ca, _ := newCA(t, "unused CA")
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	s := newTestSource(t, []string{full}, func(c *Config) { c.DSN += "?ca_file=" + url.QueryEscape(filepath.Join(dir, "ca.pem")) })
	err := s.Open(context.Background(), nil)
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "does not support") {
		t.Fatalf("got %v, want ErrTLS: the server does not support TLS", err)
	}
}

// tls=preferred follows what the server offers, for the binlog stream too:
// plaintext against the shared server (no TLS), TLS against the private
// one (which refuses plaintext, so streaming proves it).
func TestTLSPreferred(t *testing.T) {
	t.Parallel()
	streamOne := func(t *testing.T, s *Source, db *sql.DB, insert string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Open(ctx, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		st := newState()
		readUntil(t, s, st, func(st *state) bool { return st.snapshots["last"] > 0 })
		exec(t, db, insert)
		readUntil(t, s, st, func(st *state) bool { return st.ops["c"] > 0 })
	}
	t.Run("server without TLS", func(t *testing.T) {
		t.Parallel()
		db, full, _ := testDB(t)
		exec(t, db, "CREATE TABLE "+full+" (id INT PRIMARY KEY)", "INSERT INTO "+full+" VALUES (1)")
		s := newTestSource(t, []string{full}, func(c *Config) { c.DSN += "?tls=preferred" })
		streamOne(t, s, db, "INSERT INTO "+full+" VALUES (2)")
	})
	t.Run("TLS-only server", func(t *testing.T) {
		t.Parallel()
		srv := startTLSMariaDB(t)
		s, err := New(Config{Pipeline: "preferred", DSN: srv.dsn("?tls=preferred"), Tables: []string{"sluice.t"}, HeartbeatPeriod: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		streamOne(t, s, srv.root, "INSERT INTO sluice.t VALUES (2, 'x')")
	})
}
