package group

import (
	"context"
	"slices"
	"sync"
)

// MemStore is an in-memory OffsetStore: the test seam for the coordinator
// (and a way to run a broker whose groups need not survive a restart). It
// keeps every appended record, like an uncompacted log. Safe for concurrent use.
type MemStore struct {
	mu      sync.Mutex
	records []Record
	fail    error
}

var _ OffsetStore = (*MemStore)(nil)

// Append stores copies of records, or returns the error set by FailWith.
func (s *MemStore) Append(_ context.Context, records []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for _, r := range records {
		s.records = append(s.records, Record{Key: slices.Clone(r.Key), Value: cloneValue(r.Value)})
	}
	return nil
}

// Load calls fn for every record in append order.
func (s *MemStore) Load(ctx context.Context, fn func(Record) error) error {
	for _, r := range s.Records() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Records returns a copy of every stored record.
func (s *MemStore) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, len(s.records))
	for i, r := range s.records {
		out[i] = Record{Key: slices.Clone(r.Key), Value: cloneValue(r.Value)}
	}
	return out
}

// FailWith makes later Appends return err (nil: succeed again).
func (s *MemStore) FailWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// cloneValue keeps nil (a tombstone) distinct from empty.
func cloneValue(v []byte) []byte {
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}
