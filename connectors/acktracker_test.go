package connectors

import (
	"errors"
	"testing"
	"time"
)

func TestAckTrackerOrdersPositions(t *testing.T) {
	t.Parallel()
	tr := newAckTracker()
	now := time.Now()
	a := tr.add(2, Position("1"), now, now)
	b := tr.add(1, Position("2"), now, now)
	tr.add(0, Position("3"), now, now) // empty batch: waits for the ones before
	tr.done(b)
	if p, _, _ := tr.take(); p != nil {
		t.Fatalf("durable %s before batch 0 is acknowledged", p)
	}
	tr.done(a)
	if p, _, _ := tr.take(); p != nil {
		t.Fatalf("durable %s with a record of batch 0 pending", p)
	}
	tr.done(a)
	if p, _, _ := tr.take(); string(p) != "3" {
		t.Fatalf("durable %q, want 3 (the empty batch after them)", p)
	}
	if n, _ := tr.lag(now); n != 0 {
		t.Fatalf("pending %d", n)
	}
	// A nil position never replaces a durable one; a failure stops progress.
	c := tr.add(1, nil, now, now)
	tr.done(c)
	if p, _, _ := tr.take(); p != nil {
		t.Fatalf("nil position became durable: %q", p)
	}
	d := tr.add(1, Position("4"), now, now)
	tr.fail(errors.New("boom"))
	tr.done(d)
	if p, _, err := tr.take(); p != nil || err == nil {
		t.Fatalf("after a failure: %q %v", p, err)
	}
}
