package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunKilledMidStreamLosesNothing runs `sluice run` (embedded broker,
// Postgres source, Redis sink), kills it with SIGKILL while rows change,
// restarts it, and checks at Redis that every row's last version arrived;
// then SIGTERM stops it with exit 0.
func TestRunKilledMidStreamLosesNothing(t *testing.T) {
	t.Parallel()
	dsn, redisAddr := Need(t, Postgres), Need(t, Redis)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := suffix()
	pipeline, table := "kill"+strings.ReplaceAll(s, "_", ""), "kill_"+s
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, v int NOT NULL)", table)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DropPipelinePG(t, dsn, pipeline, table) })
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	defer rdb.Close()

	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
broker:
  embedded: {data_dir: %s, listen: %s}
pipelines:
  - name: %s
    source:
      type: postgres
      dsn: %s
      tables: [public.%s]
      partitions: 3
    sinks:
      - name: cache
        type: redis
        addr: %s
        topics: [%s.public.%s]
        key: "%s:{id}"
`, filepath.Join(dir, "data"), freeLoopback(t), pipeline, dsn, table, redisAddr, pipeline, table, pipeline)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freeLoopback(t)
	var logs sync.Map
	start := func(n int) *exec.Cmd {
		cmd := exec.Command(Binary(t), "run", "-f", file, "--metrics-listen", admin)
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		logs.Store(n, out)
		return cmd
	}
	dump := func() {
		logs.Range(func(k, v any) bool {
			t.Logf("run %v output:\n%s", k, v.(*lockedBuffer).String())
			return true
		})
	}

	const keys, versions = 40, 30
	final := func(id int) string { return fmt.Sprintf("%s:%d", pipeline, id) }
	// redisVersions returns how many keys hold version v.
	atVersion := func(v int) int {
		n := 0
		for id := range keys {
			b, err := rdb.Get(ctx, final(id)).Bytes()
			if err != nil {
				continue
			}
			var img struct{ V int }
			if json.Unmarshal(b, &img) == nil && img.V == v {
				n++
			}
		}
		return n
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				dump()
				t.Fatalf("gave up waiting: %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	write := func(from, to int) {
		for v := from; v <= to; v++ {
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for id := range keys {
				if _, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = $2", table), id, v); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}

	write(1, 1)
	first := start(1)
	wait("first run delivered version 1", func() bool { return atVersion(1) == keys })
	// Kill while changes stream: more versions are committed meanwhile.
	var wg sync.WaitGroup
	wg.Go(func() { write(2, 10) })
	wait("first run is streaming", func() bool { return atVersion(1) < keys })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	wg.Wait()
	write(11, versions)

	second := start(2)
	defer func() { _ = second.Process.Kill() }()
	wait("the restarted run delivered every key's last version", func() bool { return atVersion(versions) == keys })
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			dump()
			t.Fatalf("sluice run after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		dump()
		t.Fatal("sluice run did not exit within 20 s of SIGTERM")
	}
}
