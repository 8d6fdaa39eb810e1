package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"
)

// High watermark checkpoint (cluster mode): every local replica's high
// watermark, written atomically to the data dir once a second and at
// close, so a restarted broker exposes what was committed before, never
// more than its log holds (on open hw = min(checkpoint, log end)).

const (
	hwCheckpointFile     = "replication-offset-checkpoint.json"
	hwCheckpointInterval = time.Second
)

type hwCheckpoint struct {
	Version int              `json:"version"`
	HW      map[string]int64 `json:"hw"` // "<topic>-<partition>"
}

func hwKey(topic string, index int32) string { return fmt.Sprintf("%s-%d", topic, index) }

// loadHWCheckpoint reads the checkpoint (absent: empty). Called by New
// before the first image is applied.
func (s *Server) loadHWCheckpoint() error {
	s.cs.hwLoaded = map[string]int64{}
	b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, hwCheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the high watermark checkpoint: %w", err)
	}
	var cp hwCheckpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		// Not fatal: the leaders teach the high watermarks again.
		s.log.Warn("ignoring an unreadable high watermark checkpoint", "err", err)
		return nil
	}
	if cp.HW != nil {
		s.cs.hwLoaded = cp.HW
	}
	return nil
}

// checkpointedHW is the saved high watermark of a partition, -1 if none.
func (s *Server) checkpointedHW(topic string, index int32) int64 {
	if v, ok := s.cs.hwLoaded[hwKey(topic, index)]; ok {
		return v
	}
	return -1
}

// writeHWCheckpoint saves the high watermarks of parts if they changed
// since the last write.
func (s *Server) writeHWCheckpoint(parts []*partition) error {
	cp := hwCheckpoint{Version: 1, HW: make(map[string]int64, len(parts))}
	for _, p := range parts {
		if p != nil {
			cp.HW[hwKey(p.topic, p.index)] = p.hw.Load()
		}
	}
	s.cs.hwMu.Lock()
	defer s.cs.hwMu.Unlock()
	if s.cs.hwWritten != nil && maps.Equal(s.cs.hwWritten, cp.HW) {
		return nil
	}
	if err := writeJSON(filepath.Join(s.cfg.DataDir, hwCheckpointFile), cp); err != nil {
		return err
	}
	s.cs.hwWritten = cp.HW
	return nil
}

// checkpointHWs writes the checkpoint every interval until ctx is done
// (owned by Run; Close writes the last one).
func (s *Server) checkpointHWs(ctx context.Context) {
	tick := time.NewTicker(hwCheckpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := s.writeHWCheckpoint(s.localPartitions()); err != nil {
			s.log.Warn("writing the high watermark checkpoint", "err", err)
		}
	}
}
