package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestHclogWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := &hclogWriter{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	lines := []string{
		`{"@level":"warn","@message":"heartbeat timeout reached","@module":"raft","last-leader-addr":"a:1"}`,
		`{"@level":"warn","@message":"heartbeat timeout reached","@module":"raft"}`,
		`{"@level":"error","@message":"failed to decode incoming command","error":"read: use of closed network connection"}`,
		`{"@level":"info","@message":"entering leader state"}`,
		`not json`,
	}
	for _, l := range lines {
		if _, err := w.Write([]byte(l + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=WARN msg="heartbeat timeout reached" last-leader-addr=a:1`,
		`level=DEBUG msg="heartbeat timeout reached"`, // repeated
		`level=DEBUG msg="failed to decode incoming command"`,
		`level=INFO msg="entering leader state"`,
		`level=INFO msg="not json`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(got), buf.String())
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("line %d = %s, want it to contain %s", i, got[i], want[i])
		}
	}
}
