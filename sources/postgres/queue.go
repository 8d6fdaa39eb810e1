package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// segment is a run of records and the position reached after them.
type segment struct {
	recs []connectors.Record
	pos  connectors.Position
}

// queue hands segments from the producing goroutine (snapshot coordinator
// or stream) to Read. It bounds the records read ahead; a producer blocked on
// it keeps calling its idle function (the stream sends standby status
// updates from there, so the server never times it out).
type queue struct {
	limit int

	mu     sync.Mutex
	segs   []segment
	n      int   // records queued
	err    error // terminal error of the producer
	notify chan struct{}
	space  chan struct{}
}

func newQueue(limit int) *queue {
	return &queue{limit: limit, notify: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push appends seg, waiting while the queue is full. An empty segment
// following an empty segment replaces it (only its position matters).
func (q *queue) push(ctx context.Context, seg segment, idleEvery time.Duration, idle func() error) error {
	for {
		q.mu.Lock()
		if q.n < q.limit || len(seg.recs) == 0 {
			if len(seg.recs) == 0 && len(q.segs) > 0 && len(q.segs[len(q.segs)-1].recs) == 0 {
				q.segs[len(q.segs)-1] = seg
			} else {
				q.segs = append(q.segs, seg)
				q.n += len(seg.recs)
			}
			q.mu.Unlock()
			signal(q.notify)
			return nil
		}
		q.mu.Unlock()
		var tick <-chan time.Time
		if idle != nil {
			t := time.NewTimer(idleEvery)
			defer t.Stop()
			tick = t.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-q.space:
		case <-tick:
			if err := idle(); err != nil {
				return err
			}
		}
	}
}

// fail records the producer's terminal error; Read returns it once the
// segments queued before it are read.
func (q *queue) fail(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	q.mu.Unlock()
	signal(q.notify)
}

// take waits for segments and returns up to max records (at least one
// whole segment), with the position of the last segment taken.
func (q *queue) take(ctx context.Context, max int) (connectors.Batch, error) {
	for {
		q.mu.Lock()
		if len(q.segs) > 0 {
			var b connectors.Batch
			i := 0
			for ; i < len(q.segs); i++ {
				s := q.segs[i]
				if i > 0 && len(b.Records)+len(s.recs) > max {
					break
				}
				if b.Records == nil {
					b.Records = s.recs
				} else {
					b.Records = append(b.Records, s.recs...)
				}
				b.Position = s.pos
			}
			q.n -= len(b.Records)
			q.segs = append(q.segs[:0], q.segs[i:]...)
			q.mu.Unlock()
			signal(q.space)
			return b, nil
		}
		err := q.err
		q.mu.Unlock()
		if err != nil {
			return connectors.Batch{}, err
		}
		select {
		case <-ctx.Done():
			return connectors.Batch{}, ctx.Err()
		case <-q.notify:
		}
	}
}
