package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
)

// TestE2EOutboxOrdersExample: the outbox-orders example, as its README
// runs it: the service binary on its own database, `sluice run` on
// examples/outbox-orders/pipeline.yaml (a broker section added, the
// pipeline renamed so its slot is unique), then POST /orders: the order's
// OrderPlaced event becomes a document in the order-events alias with
// _id = the order id and _source = the payload (issue 10).
func TestE2EOutboxOrdersExample(t *testing.T) {
	pgDSN, esURL := Need(t, Postgres), Need(t, Elasticsearch)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := suffix()
	db, pipeline := "orders_"+s, "orders"+strings.ReplaceAll(s, "_", "")

	// A database of its own: the example creates tables named orders and
	// outbox.
	admin, err := pgx.Connect(ctx, pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	dsn := u.String()
	t.Cleanup(func() {
		c := context.Background()
		DropPipelinePG(t, dsn, pipeline) // the slot lives in db: drop it from there
		ac, err := pgx.Connect(c, pgDSN)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer ac.Close(c)
		if _, err := ac.Exec(c, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	deleteIndexes := func() {
		for _, p := range []string{"/_alias/order-events", "/order-events-*"} {
			req, _ := http.NewRequest(http.MethodDelete, esURL+p, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}
	deleteIndexes()
	t.Cleanup(deleteIndexes)

	dir := t.TempDir()
	svc := filepath.Join(dir, "outbox-orders")
	if out, err := exec.Command("go", "build", "-o", svc, "github.com/sluicehq/sluice/examples/outbox-orders").CombinedOutput(); err != nil {
		t.Fatalf("building the example: %v\n%s", err, out)
	}
	addr := freeLoopback(t)
	app := exec.Command(svc)
	app.Env = append(os.Environ(), "ORDERS_PG_DSN="+dsn, "ADDR="+addr)
	appOut := &lockedBuffer{}
	app.Stdout, app.Stderr = appOut, appOut
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.Process.Kill(); _ = app.Wait() }()
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the example never listened on %s\n%s", addr, appOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	src, err := os.ReadFile(filepath.Join("..", "examples", "outbox-orders", "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(src), "version: 1\n", fmt.Sprintf("version: 1\nbroker:\n  embedded: {data_dir: %s, listen: %s}\n", filepath.Join(dir, "data"), freeLoopback(t)), 1)
	yaml = strings.Replace(yaml, "  - name: orders\n", "  - name: "+pipeline+"\n", 1)
	if !strings.Contains(yaml, "name: "+pipeline) || !strings.Contains(yaml, "broker:") {
		t.Fatalf("the example's pipeline file changed shape:\n%s", src)
	}
	file := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	run := startRunEnv(t, file, FreeAddr(t), "ORDERS_PG_DSN="+dsn, "ES_URL="+esURL)

	// The source starts with snapshot: never, so wait for its slot before
	// placing the order (an order before the slot exists is not routed).
	waitSourceState(ctx, t, run.admin, "running", run, func(st connectors.SourceStatus) bool { return st.State == connectors.StateRunning })

	place := func(customer string, cents int) string {
		resp, err := http.Post("http://"+addr+"/orders", "application/json", strings.NewReader(fmt.Sprintf(`{"customer":%q,"total_cents":%d}`, customer, cents)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			OrderID string `json:"order_id"`
		}
		if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&out) != nil || out.OrderID == "" {
			t.Fatalf("POST /orders: %s\n%s", resp.Status, appOut.String())
		}
		return out.OrderID
	}
	want := map[string]map[string]any{}
	for i, c := range []string{"ann", "bob"} {
		id := place(c, 1299+i)
		want[id] = map[string]any{"order_id": id, "customer": c, "total_cents": float64(1299 + i)}
	}
	for id, doc := range want {
		for {
			got, found := esDoc(ctx, esURL, "order-events", id)
			if found && fmt.Sprint(got) == fmt.Sprint(doc) {
				t.Logf("order %s indexed: %v", id, got)
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("order %s: document %v (found %v), want %v\n%s", id, got, found, doc, run.out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	run.stop()
}

// esDoc returns the _source of document id in index (or alias).
func esDoc(ctx context.Context, esURL, index, id string) (map[string]any, bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, esURL+"/"+index+"/_doc/"+url.PathEscape(id), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var d struct {
		Found  bool           `json:"found"`
		Source map[string]any `json:"_source"`
	}
	if json.Unmarshal(body, &d) != nil {
		return nil, false
	}
	return d.Source, d.Found
}
