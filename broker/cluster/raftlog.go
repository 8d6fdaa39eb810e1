package cluster

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// newRaftLogger adapts hashicorp/raft's hclog output to slog: hclog writes
// one JSON object per line, which is re-emitted on log with its level and
// fields (under the "raft" scope).
func newRaftLogger(log *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        "raft",
		Level:       hclog.Info,
		JSONFormat:  true,
		DisableTime: true,
		Output:      &hclogWriter{log: log.With("component", "raft")},
	})
}

// hclogWriter re-emits hclog JSON lines on slog. Raft repeats the same
// warning on every retry while a peer or the quorum is away; a message
// already logged at Info or above within repeatEvery is downgraded to Debug.
type hclogWriter struct {
	log *slog.Logger

	mu   sync.Mutex
	last map[string]time.Time
}

const repeatEvery = 30 * time.Second

// quiet reports whether msg was logged above Debug within repeatEvery.
func (w *hclogWriter) quiet(msg string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if t, ok := w.last[msg]; ok && now.Sub(t) < repeatEvery {
		return true
	}
	if w.last == nil || len(w.last) > 1024 {
		w.last = map[string]time.Time{}
	}
	w.last[msg] = now
	return false
}

var _ io.Writer = (*hclogWriter)(nil)

func (w *hclogWriter) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		w.log.Info(string(p))
		return len(p), nil
	}
	level := slog.LevelInfo
	switch m["@level"] {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	msg, _ := m["@message"].(string)
	if e, _ := m["error"].(string); level > slog.LevelDebug && strings.Contains(e, "use of closed network connection") {
		level = slog.LevelDebug // raft's connections closing at shutdown
	}
	if level > slog.LevelDebug && w.quiet(msg) {
		level = slog.LevelDebug
	}
	attrs := make([]any, 0, 2*len(m))
	for k, v := range m {
		switch k {
		case "@level", "@message", "@timestamp", "@module":
			continue
		}
		attrs = append(attrs, k, v)
	}
	w.log.Log(context.Background(), level, msg, attrs...)
	return len(p), nil
}
