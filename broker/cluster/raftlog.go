package cluster

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"

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

type hclogWriter struct{ log *slog.Logger }

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
