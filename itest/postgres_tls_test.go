package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/sources/postgres"
)

// pgTLSServer is a private PostgreSQL started by the test with ssl=on and a
// pg_hba.conf that accepts TCP connections only over TLS (hostssl), normal
// and replication alike, so a connection that succeeds was encrypted.
type pgTLSServer struct {
	port   int
	sock   string // unix socket directory (for the test's own admin connection)
	ca     string // CA that signed the server certificate
	other  string // an unrelated CA
	binDir string
	data   string
	asUser []string // runuser prefix when running as root
}

// startTLSPostgres needs the Postgres binaries scripts/services uses
// (SLUICE_PG_BIN, default /usr/lib/postgresql/15/bin); without them the test
// skips like any itest without its service, or fails under CI.
func startTLSPostgres(t *testing.T) *pgTLSServer {
	t.Helper()
	Need(t, Postgres) // the suite's Postgres gate: same binaries
	bin := os.Getenv("SLUICE_PG_BIN")
	if bin == "" {
		bin = "/usr/lib/postgresql/15/bin"
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("Postgres binary %s: %v (set SLUICE_PG_BIN)", b, err)
			}
			t.Skipf("Postgres binary %s: %v (set SLUICE_PG_BIN)", b, err)
		}
	}
	pki, other := newSecPKI(t), newSecPKI(t)
	dir, err := os.MkdirTemp("", "sluice-pgtls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &pgTLSServer{sock: dir, ca: pki.ca, other: other.ca, binDir: bin, data: filepath.Join(dir, "data")}
	uid, gid := -1, -1
	if os.Geteuid() == 0 { // initdb refuses root: run as postgres like scripts/services
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user: %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		s.asUser = []string{"runuser", "-u", "postgres", "--"}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	s.run(t, "initdb", "-D", s.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	// The key must be owned by the server's user and not group/world readable.
	for src, dst := range map[string]string{pki.cert: "server.crt", pki.key: "server.key"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(s.data, dst)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	// In postgresql.conf, not on the command line: the test turns ssl off
	// later with ALTER SYSTEM, which command-line settings would override.
	f, err := os.OpenFile(filepath.Join(s.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	hba := "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl replication all 127.0.0.1/32 trust\n"
	if err := os.WriteFile(filepath.Join(s.data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s.run(t, "pg_ctl", "-D", s.data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start", "-o",
		fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c wal_level=logical "+
			"-c max_replication_slots=4 -c max_wal_senders=4 -c fsync=off", s.port, dir))
	t.Cleanup(func() {
		if out, err := s.cmd("pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
			t.Logf("stopping the TLS Postgres: %v\n%s", err, out)
		}
	})
	return s
}

// cmd is a Postgres binary run as the server's user.
func (s *pgTLSServer) cmd(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, s.asUser...), filepath.Join(s.binDir, name)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs a Postgres binary as the server's user and fails t on error.
func (s *pgTLSServer) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := s.cmd(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// dsn is a TCP DSN to the server with the given query parameters.
func (s *pgTLSServer) dsn(query string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?%s", s.port, query)
}

// admin connects over the Unix socket (no TLS needed there).
func (s *pgTLSServer) admin(ctx context.Context, t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", s.sock, s.port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// TestPostgresTLS (issue 13): the Postgres source with sslmode=verify-full
// and a CA file snapshots and streams from a server that accepts TCP only
// over TLS (so both the snapshot and the replication connections were
// encrypted and the server verified); a wrong CA and a server without TLS
// each make Open fail with an error that says so.
func TestPostgresTLS(t *testing.T) {
	t.Parallel()
	srv := startTLSPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := srv.admin(ctx, t)
	for _, q := range []string{
		"CREATE TABLE items (id int PRIMARY KEY, name text)",
		"INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 3) g",
	} {
		if _, err := adm.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	open := func(pipeline, dsn string) (*postgres.Source, error) {
		src, err := postgres.New(postgres.Config{Pipeline: pipeline, DSN: dsn, Tables: []string{"public.items"}, StatusInterval: time.Second})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
		defer ocancel()
		if err := src.Open(octx, nil); err != nil {
			_ = src.Close(context.Background())
			return nil, err
		}
		t.Cleanup(func() { _ = src.Close(context.Background()) })
		return src, nil
	}

	t.Run("verify-full", func(t *testing.T) {
		src, err := open("tls", srv.dsn("sslmode=verify-full&sslrootcert="+srv.ca))
		if err != nil {
			t.Fatalf("Open with sslmode=verify-full and the right CA: %v", err)
		}
		ops := map[string]int{}
		read := func(want int) {
			t.Helper()
			for got := 0; got < want; {
				b, err := src.Read(ctx)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				for _, r := range b.Records {
					var v struct{ Op string }
					if r.Value != nil && json.Unmarshal(r.Value, &v) == nil {
						ops[v.Op]++
						got++
					}
				}
			}
		}
		read(3) // the snapshot
		if _, err := adm.Exec(ctx, "INSERT INTO items VALUES (4, 'four'), (5, 'five')"); err != nil {
			t.Fatal(err)
		}
		read(2) // the stream
		if ops["r"] != 3 || ops["c"] != 2 {
			t.Errorf("ops = %v, want 3 snapshot reads and 2 creates", ops)
		}
		// The replication connection is a walsender using TLS.
		var walsenders, plain int
		if err := adm.QueryRow(ctx, `SELECT count(*) FILTER (WHERE a.backend_type = 'walsender' AND s.ssl),
			count(*) FILTER (WHERE a.client_addr IS NOT NULL AND NOT s.ssl)
			FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)`).Scan(&walsenders, &plain); err != nil {
			t.Fatal(err)
		}
		if walsenders != 1 || plain != 0 {
			t.Errorf("TLS walsenders = %d (want 1), plaintext TCP connections = %d (want 0)", walsenders, plain)
		}
	})

	t.Run("wrong CA", func(t *testing.T) {
		_, err := open("tlsbadca", srv.dsn("sslmode=verify-full&sslrootcert="+srv.other))
		if err == nil {
			t.Fatal("Open succeeded with a CA that did not sign the server's certificate")
		}
		if !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("error does not say the certificate is untrusted: %v", err)
		}
		t.Logf("the error: %v", err)
	})

	t.Run("server without TLS", func(t *testing.T) {
		for _, q := range []string{"ALTER SYSTEM SET ssl = off", "SELECT pg_reload_conf()"} {
			if _, err := adm.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		var err error
		for i := range 50 { // the reload is asynchronous
			var src *postgres.Source
			if src, err = open(fmt.Sprintf("tlsplain%d", i), srv.dsn("sslmode=verify-full&sslrootcert="+srv.ca)); err == nil {
				_ = src.Close(context.Background())
			} else if strings.Contains(err.Error(), "refused TLS") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err == nil || !strings.Contains(err.Error(), "server refused TLS connection") {
			t.Fatalf("Open against a server without TLS: %v, want a \"server refused TLS connection\" error", err)
		}
		t.Logf("the error: %v", err)
	})
}
