package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// runProc is a `sluice run` process started by a test.
type runProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	out   *lockedBuffer
	admin string
}

func startRun(t *testing.T, file, admin string) *runProc {
	t.Helper()
	p := &runProc{t: t, out: &lockedBuffer{}, admin: admin}
	p.cmd = exec.Command(Binary(t), "run", "-f", file, "--metrics-listen", admin)
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

// stop sends SIGTERM and requires exit 0 within 20 s, as CONTRACTS.md says.
func (p *runProc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.t.Fatalf("sluice run after SIGTERM: %v\n%s", err, p.out.String())
		}
	case <-time.After(20 * time.Second):
		p.t.Fatalf("sluice run did not exit within 20 s of SIGTERM\n%s", p.out.String())
	}
}

// tableState reads the table as id → row image (the columns as JSON types).
func tableState(ctx context.Context, t *testing.T, conn *pgx.Conn, table string) map[string]map[string]any {
	t.Helper()
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT id, name, n FROM %s", table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]any{}
	for rows.Next() {
		var id, n int
		var name string
		if err := rows.Scan(&id, &name, &n); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprint(id)] = map[string]any{"id": float64(id), "name": name, "n": float64(n)}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// redisState reads every key under prefix as id → decoded JSON value.
func redisState(ctx context.Context, t *testing.T, rdb *goredis.Client, prefix string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		v, err := rdb.Get(ctx, k).Result()
		if err != nil {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(v), &m) != nil {
			m = map[string]any{"unparsable": v}
		}
		out[strings.TrimPrefix(k, prefix)] = m
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func statesEqual(a, b map[string]map[string]any) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]any) bool {
		return maps.EqualFunc(x, y, func(p, q any) bool { return p == q })
	})
}

// waitEqual waits until Redis holds exactly the table's rows.
func waitEqual(ctx context.Context, t *testing.T, what string, conn *pgx.Conn, table string, rdb *goredis.Client, prefix string, run *runProc) {
	t.Helper()
	want := tableState(ctx, t, conn, table)
	for {
		have := redisState(ctx, t, rdb, prefix)
		if statesEqual(want, have) {
			return
		}
		if ctx.Err() != nil {
			missing, extra, differ := 0, 0, 0
			for k, v := range want {
				h, ok := have[k]
				switch {
				case !ok:
					missing++
				case !maps.Equal(v, h):
					differ++
				}
			}
			for k := range have {
				if _, ok := want[k]; !ok {
					extra++
				}
			}
			t.Fatalf("%s: Redis never matched the table (%d rows): %d missing, %d extra, %d different\n%s",
				what, len(want), missing, extra, differ, run.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPostgresToRedisReplayAndRebuild: Postgres → broker → Redis through
// `sluice run` on an external `sluice broker`; Redis equals the table after
// a random workload, again after a reset-offsets replay over a damaged
// cache, and again after `sluice sink rebuild` swept keys no row backs.
func TestPostgresToRedisReplayAndRebuild(t *testing.T) {
	t.Parallel()
	dsn, redisAddr := Need(t, Postgres), Need(t, Redis)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := suffix()
	pipeline, table := "rb"+strings.ReplaceAll(s, "_", ""), "rb_"+s
	topic, group, prefix := pipeline+".public."+table, "sluice."+pipeline+".cache", pipeline+":"
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, name text NOT NULL, n int NOT NULL)", table)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DropPipelinePG(t, dsn, pipeline, table) })
	if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s SELECT g, 'row '||g, 0 FROM generate_series(1, 300) g", table)); err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	defer rdb.Close()

	b := StartBroker(t, "")
	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
broker:
  bootstrap: [%s]
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
        topics: [%s]
        key: "%s{id}"
`, b.Addr, pipeline, dsn, table, redisAddr, topic, prefix)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := FreeAddr(t)
	run := startRun(t, file, admin)

	// A random workload of updates, deletes and inserts, in transactions.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	next := 301
	for range 60 {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			id := 1 + rng.IntN(next)
			var q string
			switch rng.IntN(3) {
			case 0:
				q = fmt.Sprintf("UPDATE %s SET n = n + 1, name = 'upd %d' WHERE id = %d", table, rng.IntN(1000), id)
			case 1:
				q = fmt.Sprintf("DELETE FROM %s WHERE id = %d", table, id)
			default:
				q = fmt.Sprintf("INSERT INTO %s VALUES (%d, 'new', 1)", table, next)
				next++
			}
			if _, err := tx.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitEqual(ctx, t, "after the workload", conn, table, rdb, prefix, run)

	// Replay: stop, damage the cache, reset the sink's group to earliest.
	run.stop()
	have := redisState(ctx, t, rdb, prefix)
	i := 0
	for k := range have {
		if i%3 == 0 {
			rdb.Del(ctx, prefix+k)
		} else if i%3 == 1 {
			rdb.Set(ctx, prefix+k, `{"damaged":true}`, 0)
		}
		i++
	}
	code, out := Sluice(t, "group", "reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute", "--bootstrap", b.Addr)
	if code != 0 {
		t.Fatalf("reset-offsets: exit %d\n%s", code, out)
	}
	run = startRun(t, file, admin)
	waitEqual(ctx, t, "after reset-offsets --to-earliest", conn, table, rdb, prefix, run)

	// Rebuild: keys no row backs (their tombstones long compacted, say) are
	// swept; live keys stay, and live changes keep flowing.
	for id := 100_000; id < 100_020; id++ {
		rdb.Set(ctx, fmt.Sprintf("%s%d", prefix, id), `{"stale":true}`, 0)
	}
	waitReady(ctx, t, admin)
	code, out = Sluice(t, "sink", "rebuild", "--pipeline", pipeline, "--sink", "cache", "--admin", admin)
	if code != 0 {
		t.Fatalf("sink rebuild: exit %d\n%s", code, out)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("UPDATE %s SET n = n + 100 WHERE id %% 7 = 0", table)); err != nil {
		t.Fatal(err)
	}
	waitRebuildDone(ctx, t, admin, pipeline, "cache")
	waitEqual(ctx, t, "after sink rebuild", conn, table, rdb, prefix, run)
	run.stop()
}

func waitReady(ctx context.Context, t *testing.T, admin string) {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("sluice run never ready on %s: %v", admin, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitRebuildDone polls the admin API until the sink's rebuild is done.
func waitRebuildDone(ctx context.Context, t *testing.T, admin, pipeline, sink string) {
	t.Helper()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/api/v1/status", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var st struct {
				Pipelines []struct {
					Name  string `json:"name"`
					Sinks []struct {
						Name    string `json:"name"`
						Rebuild *struct {
							Phase string `json:"phase"`
						} `json:"rebuild"`
					} `json:"sinks"`
				} `json:"pipelines"`
			}
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			for _, p := range st.Pipelines {
				for _, s := range p.Sinks {
					if p.Name == pipeline && s.Name == sink && s.Rebuild != nil {
						last = s.Rebuild.Phase
						if last == "done" {
							return
						}
					}
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("rebuild of %s/%s not done (last phase %q, %v)", pipeline, sink, last, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
