package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Change identifies one change made upstream, as Identify finds it in a
// record (e.g. "public.items:42:v3"). Every Emit call must return changes
// distinct from all earlier ones.
type Change string

// SourceHarness connects the suite to one Source implementation.
type SourceHarness struct {
	// New returns a fresh, unopened Source over the harness's upstream
	// (each call is one run of the source, as the supervisor does).
	New func(t *testing.T) connectors.Source
	// Emit makes n changes upstream, committed in the returned order.
	Emit func(t *testing.T, n int) []Change
	// Identify returns the change a record carries; ok is false for records
	// the suite ignores (tombstones, other tables, snapshot rows).
	Identify func(r connectors.Record) (c Change, ok bool)
	// Break, when set, cuts the upstream connection of open sources (kill
	// the walsender, close the binlog connection). Optional.
	Break func(t *testing.T)
	// Timeout bounds each wait for records (a hang guard). Default 60s.
	Timeout time.Duration
}

func (h *SourceHarness) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return 60 * time.Second
}

// readBatch is one batch returned by Read, with the changes it carried.
type readBatch struct {
	changes []Change
	pos     connectors.Position
}

// readUntil reads from src until every change of want was seen, returning
// the batches in order. It fails t on a read error or when the hang guard
// fires.
func (h *SourceHarness) readUntil(t *testing.T, src connectors.Source, want []Change) []readBatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	missing := map[Change]bool{}
	for _, c := range want {
		missing[c] = true
	}
	var out []readBatch
	for len(missing) > 0 {
		b, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("Read: %v (still missing %d of %d changes)", err, len(missing), len(want))
		}
		rb := readBatch{pos: b.Position}
		for _, r := range b.Records {
			if r.Partition != -1 {
				t.Fatalf("source record with partition %d: the runtime partitions, sources set -1", r.Partition)
			}
			if c, ok := h.Identify(r); ok {
				rb.changes = append(rb.changes, c)
				delete(missing, c)
			}
		}
		out = append(out, rb)
	}
	return out
}

func (h *SourceHarness) open(t *testing.T, from connectors.Position) connectors.Source {
	t.Helper()
	src := h.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	defer cancel()
	if err := src.Open(ctx, from); err != nil {
		t.Fatalf("Open(%s): %v", from, err)
	}
	return src
}

func closeSource(t *testing.T, src connectors.Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := src.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func ack(t *testing.T, src connectors.Source, p connectors.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := src.Ack(ctx, p); err != nil {
		t.Fatalf("Ack(%s): %v", p, err)
	}
}

// lastPosition returns the last non-nil position of bs and the changes of
// the batches up to and including it.
func lastPosition(bs []readBatch) (connectors.Position, []Change) {
	var pos connectors.Position
	var upTo, acc []Change
	for _, b := range bs {
		acc = append(acc, b.changes...)
		if b.pos != nil {
			pos, upTo = b.pos, slices.Clone(acc)
		}
	}
	return pos, upTo
}

// RunSource runs every source check as a subtest of t. The subtests share
// the harness's upstream and so run one after the other.
func RunSource(t *testing.T, h SourceHarness) {
	t.Helper()
	if h.New == nil || h.Emit == nil || h.Identify == nil {
		t.Fatal("conformance: SourceHarness needs New, Emit and Identify")
	}
	var from connectors.Position // the position every subtest resumes at

	// Catch up with whatever the upstream holds (a snapshot), acking it,
	// so later subtests start from a known position.
	t.Run("ResumeFromPosition", func(t *testing.T) {
		first := h.Emit(t, 6)
		src := h.open(t, nil)
		bs := h.readUntil(t, src, first)
		pos, upTo := lastPosition(bs)
		if pos == nil {
			t.Fatal("no batch carried a position")
		}
		for _, b := range bs { // ack every position in order, as the runtime does
			if b.pos != nil {
				ack(t, src, b.pos)
			}
		}
		closeSource(t, src)

		second := h.Emit(t, 5)
		src = h.open(t, pos)
		defer closeSource(t, src)
		bs = h.readUntil(t, src, second)
		seen := map[Change]bool{}
		for _, b := range bs {
			for _, c := range b.changes {
				seen[c] = true
			}
		}
		for _, c := range upTo {
			if seen[c] {
				t.Errorf("change %s at or before the acknowledged position came back", c)
			}
		}
		from, _ = lastPosition(bs)
		for _, b := range bs {
			if b.pos != nil {
				ack(t, src, b.pos)
			}
		}
	})

	t.Run("NoLossAcrossRestart", func(t *testing.T) {
		changes := h.Emit(t, 8)
		src := h.open(t, from)
		bs := h.readUntil(t, src, changes)
		// Crash: nothing acknowledged, the source closed.
		closeSource(t, src)
		more := h.Emit(t, 3)
		src = h.open(t, from)
		defer closeSource(t, src)
		bs2 := h.readUntil(t, src, append(slices.Clone(changes), more...))
		// Idempotent effect of re-delivery: the same changes, same order.
		var a, b []Change
		for _, x := range bs {
			a = append(a, x.changes...)
		}
		for _, x := range bs2 {
			b = append(b, x.changes...)
		}
		if len(b) < len(a) || !slices.Equal(a, b[:len(a)]) {
			t.Errorf("re-delivery differs:\nfirst  %v\nsecond %v", a, b)
		}
		p, _ := lastPosition(bs2)
		if p != nil {
			ack(t, src, p)
			from = p
		}
	})

	t.Run("CloseWhileReading", func(t *testing.T) {
		src := h.open(t, from)
		// ctx cancel ends a blocked Read with ctx.Err().
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			for {
				if _, err := src.Read(ctx); err != nil {
					errc <- err
					return
				}
			}
		}()
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Read after cancel: %v, want context.Canceled", err)
			}
		case <-time.After(h.timeout()):
			t.Fatal("Read did not return after its ctx was cancelled")
		}
		// Close ends a Read blocked on a live ctx.
		go func() {
			for {
				if _, err := src.Read(context.Background()); err != nil {
					errc <- err
					return
				}
			}
		}()
		closeSource(t, src)
		select {
		case err := <-errc:
			if err == nil {
				t.Error("Read after Close returned no error")
			}
		case <-time.After(h.timeout()):
			t.Fatal("Read did not return after Close")
		}
	})

	t.Run("PartialFailure", func(t *testing.T) {
		if h.Break == nil {
			// Without a way to break the upstream, check the other half of
			// the contract: a failed run resumes from the acknowledged
			// position with nothing lost (a run that read and died).
			changes := h.Emit(t, 4)
			src := h.open(t, from)
			h.readUntil(t, src, changes[:1])
			closeSource(t, src)
			src = h.open(t, from)
			defer closeSource(t, src)
			bs := h.readUntil(t, src, changes)
			if p, _ := lastPosition(bs); p != nil {
				ack(t, src, p)
				from = p
			}
			return
		}
		changes := h.Emit(t, 4)
		src := h.open(t, from)
		h.readUntil(t, src, changes)
		h.Break(t)
		more := h.Emit(t, 4)
		// The source either reconnects by itself or fails Read; the
		// supervisor then reopens from the acknowledged position.
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
		defer cancel()
		missing := map[Change]bool{}
		for _, c := range more {
			missing[c] = true
		}
		for len(missing) > 0 {
			b, err := src.Read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					t.Fatalf("hang: %v", err)
				}
				closeSource(t, src)
				src = h.open(t, from)
				continue
			}
			for _, r := range b.Records {
				if c, ok := h.Identify(r); ok {
					delete(missing, c)
				}
			}
		}
		closeSource(t, src)
	})
}

// String renders a change list for failure messages.
func (c Change) String() string { return fmt.Sprintf("%q", string(c)) }
