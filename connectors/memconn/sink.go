package memconn

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/sluicehq/sluice/connectors"
)

// Write is one record applied to a Store, in application order.
type Write struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Value     []byte // nil: delete
}

// Store is the in-memory target Sinks write into. The zero value is not
// usable; call NewStore.
type Store struct {
	mu        sync.Mutex
	live      map[string][]byte // topic + "\x00" + key -> value
	shadow    map[string][]byte // rebuild in progress, else nil
	log       []Write
	down      error                         // every Write fails with it while set
	failN     int                           // the next failN Writes fail
	reject    func(connectors.Record) error // per-record rejection
	begins    int
	finishes  int
	writeHook func() // called at the start of every Write, outside the lock
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{live: map[string][]byte{}} }

// StoreKey is the map key of a record in Snapshot.
func StoreKey(topic string, key []byte) string { return topic + "\x00" + string(key) }

// Snapshot returns a copy of the live state: StoreKey(topic, key) -> value.
func (s *Store) Snapshot() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.live)
}

// Get returns the live value of (topic, key).
func (s *Store) Get(topic string, key []byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.live[StoreKey(topic, key)]
	return v, ok
}

// Log returns every applied write in order.
func (s *Store) Log() []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Write(nil), s.log...)
}

// Writes returns how many records were applied so far.
func (s *Store) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// SetDown makes every Write fail with err (nil: the target is back).
func (s *Store) SetDown(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = err
}

// FailWrites makes the next n Writes fail whole, with ErrDown.
func (s *Store) FailWrites(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN = n
}

// Reject installs fn: a record for which it returns an error is rejected
// (reported in a *connectors.BatchError) and not applied.
func (s *Store) Reject(fn func(connectors.Record) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = fn
}

// OnWrite installs fn, called at the start of every Write (tests use it to
// block or observe writes).
func (s *Store) OnWrite(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeHook = fn
}

// Rebuilds returns how many times BeginRebuild and FinishRebuild ran.
func (s *Store) Rebuilds() (begins, finishes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.begins, s.finishes
}

// Sink writes into a Store. It implements connectors.Rebuilder: a rebuild
// fills a shadow state that replaces the live one on FinishRebuild, so keys
// not rewritten during the replay disappear, as a fresh index would.
type Sink struct {
	st *Store

	mu     sync.Mutex
	open   bool
	closed bool
}

var (
	_ connectors.Sink      = (*Sink)(nil)
	_ connectors.Rebuilder = (*Sink)(nil)
	_ connectors.Checker   = (*Sink)(nil)
)

// NewSink returns a sink over st.
func NewSink(st *Store) *Sink { return &Sink{st: st} }

// Open readies the sink.
func (k *Sink) Open(context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return ErrClosed
	}
	k.open = true
	return nil
}

func (k *Sink) usable() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case k.closed:
		return ErrClosed
	case !k.open:
		return ErrNotOpen
	}
	return nil
}

// Write applies b: upsert, or delete on a tombstone. Whole-batch failures
// apply nothing.
func (k *Sink) Write(ctx context.Context, b connectors.Batch) error {
	if err := k.usable(); err != nil {
		return err
	}
	k.st.mu.Lock()
	hook := k.st.writeHook
	k.st.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := k.st
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return s.down
	}
	if s.failN > 0 {
		s.failN--
		return ErrDown
	}
	var be connectors.BatchError
	for i, r := range b.Records {
		if s.reject != nil {
			if err := s.reject(r); err != nil {
				be.Failed = append(be.Failed, connectors.RecordError{Index: i, Err: fmt.Errorf("%w: %w", ErrRejected, err)})
				continue
			}
		}
		sk := StoreKey(r.Topic, r.Key)
		for _, m := range []map[string][]byte{s.live, s.shadow} {
			if m == nil {
				continue
			}
			if r.Value == nil {
				delete(m, sk)
			} else {
				m[sk] = append([]byte(nil), r.Value...)
			}
		}
		s.log = append(s.log, Write{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: append([]byte(nil), r.Value...)})
		if r.Value == nil {
			s.log[len(s.log)-1].Value = nil
		}
	}
	if len(be.Failed) > 0 {
		return &be
	}
	return nil
}

// BeginRebuild starts filling a shadow state.
func (k *Sink) BeginRebuild(context.Context) error {
	if err := k.usable(); err != nil {
		return err
	}
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	k.st.shadow = map[string][]byte{}
	k.st.begins++
	return nil
}

// FinishRebuild makes the shadow state live.
func (k *Sink) FinishRebuild(context.Context) error {
	if err := k.usable(); err != nil {
		return err
	}
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	if k.st.shadow != nil {
		k.st.live, k.st.shadow = k.st.shadow, nil
	}
	k.st.finishes++
	return nil
}

// Check fails while the store is down.
func (k *Sink) Check(context.Context) error {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	return k.st.down
}

// Close ends the sink.
func (k *Sink) Close(context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	return nil
}
