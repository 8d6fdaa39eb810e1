package connectors

import (
	"sync"
	"time"
)

// ackTracker orders the acknowledgement of source batches. The read loop
// adds each batch (its record count and Position) in read order; produce
// callbacks mark records acknowledged by the broker, in any order across
// partitions. The durable position is the Position of the last batch of the
// longest prefix of batches whose records are all acknowledged, so a
// position is never reported durable while a record before it is not.
//
// Safe for concurrent use: add from the read loop, done/fail from franz-go's
// promise goroutine, take from the acker.
type ackTracker struct {
	mu      sync.Mutex
	next    uint64          // sequence of the next batch added
	head    uint64          // sequence of queue[0]
	queue   []*trackedBatch // batches not yet in the durable prefix
	durable Position        // latest durable non-nil Position not yet taken
	readAt  time.Time       // read time of the batch durable came from
	failed  error           // first produce failure; nothing after it becomes durable
	pending int64           // records added and not yet acknowledged
	ready   chan struct{}   // cap 1: signalled when durable changes or failed is set
}

type trackedBatch struct {
	remaining int
	pos       Position
	readAt    time.Time
	oldest    time.Time // Timestamp of its oldest record, for the lag
}

func newAckTracker() *ackTracker {
	return &ackTracker{ready: make(chan struct{}, 1)}
}

// add registers a batch of n records read at readAt and returns its
// sequence number. A batch with n == 0 becomes durable as soon as every
// batch before it is.
func (t *ackTracker) add(n int, pos Position, readAt, oldest time.Time) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := t.next
	t.next++
	t.queue = append(t.queue, &trackedBatch{remaining: n, pos: pos, readAt: readAt, oldest: oldest})
	t.pending += int64(n)
	t.advanceLocked()
	return seq
}

// done marks one record of batch seq acknowledged.
func (t *ackTracker) done(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq < t.head || seq-t.head >= uint64(len(t.queue)) {
		return // cannot happen: a batch leaves the queue only once all its records are done
	}
	t.queue[seq-t.head].remaining--
	t.pending--
	t.advanceLocked()
}

// fail records a produce failure; the durable position stops advancing.
func (t *ackTracker) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed == nil {
		t.failed = err
		t.signalLocked()
	}
}

func (t *ackTracker) advanceLocked() {
	if t.failed != nil {
		return
	}
	moved := false
	for len(t.queue) > 0 && t.queue[0].remaining == 0 {
		b := t.queue[0]
		t.queue[0] = nil
		t.queue = t.queue[1:]
		t.head++
		if b.pos != nil {
			t.durable, t.readAt = b.pos, b.readAt
			moved = true
		}
	}
	if moved {
		t.signalLocked()
	}
}

func (t *ackTracker) signalLocked() {
	select {
	case t.ready <- struct{}{}:
	default:
	}
}

// take returns the durable position not yet taken (nil if none), the read
// time of its batch, and the first produce failure.
func (t *ackTracker) take() (Position, time.Time, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, at := t.durable, t.readAt
	t.durable = nil
	return p, at, t.failed
}

// err returns the first produce failure.
func (t *ackTracker) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// lag returns the records not yet acknowledged and the age of the oldest
// record timestamp among pending batches (0 when none).
func (t *ackTracker) lag(now time.Time) (int64, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var age time.Duration
	for _, b := range t.queue {
		if b.remaining > 0 && !b.oldest.IsZero() {
			age = now.Sub(b.oldest)
			break
		}
	}
	return t.pending, max(age, 0)
}
