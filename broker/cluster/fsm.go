package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// fsm is the Raft state machine: it applies commands to the current Image
// and publishes each new image through publish. Raft calls Apply, Snapshot
// and Restore from one goroutine, never concurrently.
type fsm struct {
	current func() *Image
	publish func(*Image)
}

var _ raft.FSM = (*fsm)(nil)

// Apply decodes and applies one command. It returns an applyResult.
func (f *fsm) Apply(l *raft.Log) any {
	cur := f.current()
	var cmd command
	if err := json.Unmarshal(l.Data, &cmd); err != nil {
		// Deterministic on every node: the entry is skipped.
		next := *cur
		next.Version = l.Index
		f.publish(&next)
		return applyResult{Err: &RequestError{Code: 42, Msg: fmt.Sprintf("undecodable command at index %d: %v", l.Index, err)}}
	}
	next, res := apply(cur, &cmd, l.Index)
	f.publish(next)
	return res
}

// Snapshot captures the current image; images are immutable, so Persist
// may run concurrently with later Applies.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{im: f.current()}, nil
}

// Restore replaces the image with a snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	im, err := decodeSnapshot(bufio.NewReader(rc))
	if err != nil {
		return err
	}
	f.publish(im)
	return nil
}

// Snapshot format: one version byte (snapshotV1) then the Image as JSON
// (Controller is not meaningful there and is reset on restore).
const snapshotV1 = 1

type fsmSnapshot struct{ im *Image }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := encodeSnapshot(sink, s.im); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persisting snapshot at version %d: %w", s.im.Version, err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

func encodeSnapshot(w io.Writer, im *Image) error {
	if _, err := w.Write([]byte{snapshotV1}); err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(im)
}

func decodeSnapshot(r io.Reader) (*Image, error) {
	var v [1]byte
	if _, err := io.ReadFull(r, v[:]); err != nil {
		return nil, fmt.Errorf("reading snapshot version: %w", err)
	}
	if v[0] != snapshotV1 {
		return nil, fmt.Errorf("snapshot version %d: want %d", v[0], snapshotV1)
	}
	im := emptyImage()
	if err := json.NewDecoder(r).Decode(im); err != nil {
		return nil, fmt.Errorf("decoding snapshot: %w", err)
	}
	if im.Brokers == nil {
		im.Brokers = map[int32]Broker{}
	}
	if im.Topics == nil {
		im.Topics = map[string]*Topic{}
	}
	im.Controller = -1
	return im, nil
}
