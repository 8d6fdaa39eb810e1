package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
)

// TestRunSinkRebuild runs `sluice run` (embedded broker, Postgres source,
// Elasticsearch sink), then `sluice sink rebuild`: the replay fills a new
// index, the alias moves to it, and `sluice status` reports the rebuild done
// with every record replayed.
func TestRunSinkRebuild(t *testing.T) {
	t.Parallel()
	dsn, esURL := Need(t, Postgres), Need(t, Elasticsearch)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := suffix()
	pipeline, table := "rb"+strings.ReplaceAll(s, "_", ""), "rb_"+s
	index := pipeline + "_idx"
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	const rows = 300
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, name text); INSERT INTO %s SELECT g, 'n' || g FROM generate_series(1, %d) g", table, table, rows)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := context.Background()
		_, _ = conn.Exec(c, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", "sluice_"+pipeline)
		_, _ = conn.Exec(c, "DROP PUBLICATION IF EXISTS sluice_"+pipeline)
		_, _ = conn.Exec(c, "DROP TABLE IF EXISTS "+table)
		req, _ := http.NewRequestWithContext(c, http.MethodDelete, esURL+"/"+index+"-*", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	esGet := func(path string, v any) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, esURL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && json.Unmarshal(b, v) == nil
	}
	count := func() int {
		var c struct{ Count int }
		esGet("/"+index+"/_count", &c)
		return c.Count
	}
	aliasIndex := func() string {
		var m map[string]any
		esGet("/_alias/"+index, &m)
		for k := range m {
			return k
		}
		return ""
	}

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
    sinks:
      - name: search
        type: elasticsearch
        url: %s
        index: %s
        topics: [%s.public.%s]
`, filepath.Join(dir, "data"), freeLoopback(t), pipeline, dsn, table, esURL, index, pipeline, table)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freeLoopback(t)
	out := &lockedBuffer{}
	cmd := exec.Command(Binary(t), "run", "-f", file, "--metrics-listen", admin)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("gave up waiting: %s\n%s", what, out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wait("the snapshot is indexed", func() bool { return count() == rows })
	before := aliasIndex()

	MustSluice(t, "sink", "rebuild", "--pipeline", pipeline, "--sink", "search", "--admin", admin)
	var st connectors.Status
	wait("the rebuild is done", func() bool {
		code, o := Sluice(t, "status", "--json", "--admin", admin)
		if code != 0 || json.Unmarshal([]byte(o), &st) != nil {
			return false
		}
		rb := st.Pipelines[0].Sinks[0].Rebuild
		return rb != nil && rb.Phase == connectors.RebuildDone
	})
	if rb := st.Pipelines[0].Sinks[0].Rebuild; rb.Done != rows || rb.Total != rows {
		t.Errorf("rebuild replayed %d of %d, want %d", rb.Done, rb.Total, rows)
	}
	if after := aliasIndex(); after == "" || after == before {
		t.Errorf("alias %s: index %q before the rebuild, %q after; want a new one", index, before, after)
	}
	wait("the rebuilt index holds every row", func() bool { return count() == rows })
	if o := MustSluice(t, "status", "--admin", admin); !strings.Contains(o, "rebuild     [####################] 100.0%") {
		t.Errorf("status:\n%s", o)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sluice run after SIGTERM: %v\n%s", err, out.String())
	}
}
