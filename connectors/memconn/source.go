package memconn

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/sluicehq/sluice/connectors"
)

// Upstream is the in-memory "database" Sources read from. The zero value is
// not usable; call NewUpstream.
type Upstream struct {
	mu      sync.Mutex
	entries []*connectors.Record // nil entry: a heartbeat (position moves, no record)
	changed chan struct{}        // closed and replaced on every append
	acked   uint64
	acks    []uint64 // every Ack, in order
	failErr error    // returned once by the next Read
	opens   []uint64 // the position of every Open, in order
}

// NewUpstream returns an empty upstream.
func NewUpstream() *Upstream {
	return &Upstream{changed: make(chan struct{})}
}

// Append adds changes; every record's Partition is set to -1 as a source's
// records are.
func (u *Upstream) Append(recs ...connectors.Record) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := range recs {
		r := recs[i]
		r.Partition = -1
		u.entries = append(u.entries, &r)
	}
	u.notifyLocked()
}

// Heartbeat adds an entry that advances the position without a record, as
// WAL of tables nobody captures does.
func (u *Upstream) Heartbeat() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.entries = append(u.entries, nil)
	u.notifyLocked()
}

// FailNextRead makes the next Read of any Source over u return err.
func (u *Upstream) FailNextRead(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failErr = err
	u.notifyLocked()
}

func (u *Upstream) notifyLocked() {
	close(u.changed)
	u.changed = make(chan struct{})
}

// Len returns the number of entries appended so far.
func (u *Upstream) Len() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return uint64(len(u.entries))
}

// Acked returns the highest acknowledged sequence number.
func (u *Upstream) Acked() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.acked
}

// Acks returns every acknowledged sequence number, in call order.
func (u *Upstream) Acks() []uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]uint64(nil), u.acks...)
}

// Opens returns the sequence number every Open started from, in order.
func (u *Upstream) Opens() []uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]uint64(nil), u.opens...)
}

// Position encodes sequence number seq as a Source position.
func Position(seq uint64) connectors.Position {
	b, _ := json.Marshal(position{Seq: seq})
	return b
}

// Seq decodes a position made by Position; nil is 0.
func Seq(p connectors.Position) (uint64, error) {
	if p == nil {
		return 0, nil
	}
	var v position
	if err := json.Unmarshal(p, &v); err != nil {
		return 0, fmt.Errorf("%w: %q: %v", ErrBadPosition, p, err)
	}
	return v.Seq, nil
}

type position struct {
	Seq uint64 `json:"seq"`
}

// Source reads an Upstream. Create one per run with NewSource.
type Source struct {
	up       *Upstream
	maxBatch int

	mu     sync.Mutex
	open   bool
	closed bool
	cursor uint64 // next entry to read
	acked  uint64
}

var _ connectors.Source = (*Source)(nil)

// NewSource returns a Source over up returning at most maxBatch entries per
// Read (<= 0: 100).
func NewSource(up *Upstream, maxBatch int) *Source {
	if maxBatch <= 0 {
		maxBatch = 100
	}
	return &Source{up: up, maxBatch: maxBatch}
}

// Open starts reading after position from.
func (s *Source) Open(_ context.Context, from connectors.Position) error {
	seq, err := Seq(from)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.open, s.cursor, s.acked = true, seq, seq
	s.up.mu.Lock()
	s.up.opens = append(s.up.opens, seq)
	s.up.mu.Unlock()
	return nil
}

// Read returns the next entries, blocking until there is one.
func (s *Source) Read(ctx context.Context) (connectors.Batch, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return connectors.Batch{}, ErrClosed
		}
		if !s.open {
			s.mu.Unlock()
			return connectors.Batch{}, ErrNotOpen
		}
		cursor := s.cursor
		s.mu.Unlock()

		s.up.mu.Lock()
		if err := s.up.failErr; err != nil {
			s.up.failErr = nil
			s.up.mu.Unlock()
			return connectors.Batch{}, err
		}
		wait := s.up.changed
		end := min(uint64(len(s.up.entries)), cursor+uint64(s.maxBatch))
		var b connectors.Batch
		for _, e := range s.up.entries[min(cursor, end):end] {
			if e != nil {
				b.Records = append(b.Records, *e)
			}
		}
		s.up.mu.Unlock()
		if end > cursor {
			b.Position = Position(end)
			s.mu.Lock()
			s.cursor = end
			s.mu.Unlock()
			return b, nil
		}
		select {
		case <-ctx.Done():
			return connectors.Batch{}, ctx.Err()
		case <-wait:
		}
	}
}

// Ack records upTo in the Upstream. It fails on a position not yet read or
// behind an earlier ack: both would be runtime bugs.
func (s *Source) Ack(_ context.Context, upTo connectors.Position) error {
	seq, err := Seq(upTo)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if seq > s.cursor {
		return fmt.Errorf("%w: ack %d, read %d", ErrAckAhead, seq, s.cursor)
	}
	if seq < s.acked {
		return fmt.Errorf("%w: ack %d after %d", ErrAckBackwards, seq, s.acked)
	}
	s.acked = seq
	s.up.mu.Lock()
	defer s.up.mu.Unlock()
	s.up.acks = append(s.up.acks, seq)
	s.up.acked = max(s.up.acked, seq)
	return nil
}

// Close ends the source; a blocked Read returns ErrClosed soon after.
func (s *Source) Close(context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	// Wake a blocked Read so it sees closed.
	s.up.mu.Lock()
	s.up.notifyLocked()
	s.up.mu.Unlock()
	return nil
}
