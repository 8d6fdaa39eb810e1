package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// pipelineFile writes a pipeline file with the embedded broker at a free
// port and a redis sink whose target is down (nothing listens there), so
// the sink keeps failing and restarting while the process stays up.
func pipelineFile(t *testing.T) (path, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	yaml := `version: 1
broker:
  embedded: {data_dir: ` + dataDir + `, listen: ` + freeAddr(t) + `}
pipelines:
  - name: shop
    sinks:
      - name: cache
        type: redis
        addr: ` + freeAddr(t) + `
        topics: [shop.public.customers]
`
	path = filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dataDir
}

func getOK(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunServesAdminAndStopsCleanly(t *testing.T) {
	t.Parallel()
	path, dataDir := pipelineFile(t)
	cfg, err := connectors.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	admin := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runPipelines(ctx, slog.New(slog.DiscardHandler), cfg, admin, true) }()

	deadline := time.Now().Add(45 * time.Second)
	for {
		code, body := getOK(t, "http://"+admin+connectors.APIStatus)
		if code == 200 {
			var st connectors.Status
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatal(err)
			}
			if k := st.Pipelines[0].Sinks[0]; k.Restarts > 0 && strings.Contains(k.LastError, "redis") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the failing sink restarting: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := getOK(t, "http://"+admin+"/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, body := getOK(t, "http://"+admin+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shop/sink cache") {
		t.Errorf("/readyz with the sink down: %d %s", code, body)
	}
	if code, body := getOK(t, "http://"+admin+"/metrics"); code != 200 || !strings.Contains(body, "restarts_total") {
		t.Errorf("/metrics: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	if _, err := os.Stat(dataDir); err != nil {
		t.Errorf("embedded broker data dir: %v", err)
	}
}

func TestRunAdminPortTaken(t *testing.T) {
	t.Parallel()
	path, _ := pipelineFile(t)
	cfg, err := connectors.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Given explicitly: an error naming the address.
	err = runPipelines(context.Background(), slog.New(slog.DiscardHandler), cfg, ln.Addr().String(), true)
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("explicit taken address: %v", err)
	}
	// The default: a warning, and the pipelines run.
	logs := &syncWriter{w: &strings.Builder{}}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runPipelines(ctx, log, cfg, ln.Addr().String(), false) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("default taken address: %v", err)
	}
	if !strings.Contains(logs.String(), "admin address taken") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	if code, _ := runCaptured(t, "run"); code != exitUsage {
		t.Errorf("run without -f: exit %d", code)
	}
	if code, out := runCaptured(t, "run", "-f", filepath.Join(t.TempDir(), "missing.yaml")); code != exitFailure {
		t.Errorf("missing file: exit %d %s", code, out)
	}
}

// syncWriter serializes writes to w (slog handlers write from many goroutines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(*strings.Builder).String()
}
