package log

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Group commit. Appenders write under mu and then wait here for an fsync
// that covers their write sequence number. The first waiter that finds no
// fsync running becomes the syncer: it snapshots the sequence number of
// the last write, fsyncs the active segment without holding mu (so other
// appends keep writing meanwhile), publishes the new durable sequence
// number and wakes everyone. Writes that arrived during that fsync are
// covered by the next one, which one of their appenders runs: one fsync
// per "wave" of concurrent appends.
//
// Roll fsyncs the old segment under mu before switching, so only the
// active segment ever holds unsynced data and one fsync covers every
// write up to the snapshot.

// waitDurable blocks until the write with sequence number seq is durable.
// appender says the caller is counted in inAppend (Append, AppendReplica;
// not Flush).
func (l *Log) waitDurable(seq uint64, appender bool) error {
	l.durMu.Lock()
	defer l.durMu.Unlock()
	for l.durableSeq < seq {
		if l.syncErr != nil {
			return l.syncErr
		}
		if l.syncing {
			// Each waiter has its own channel, closed when an fsync covers
			// it (or to hand it the syncer role): a broadcast would wake
			// every waiter after every fsync, most of them to sleep again.
			ch := make(chan struct{})
			l.waiters = append(l.waiters, waiter{seq: seq, ch: ch})
			l.durMu.Unlock()
			<-ch
			l.durMu.Lock()
			continue
		}
		l.syncing = true
		// Keep syncing while others wait on writes the last fsync did not
		// cover: handing the syncer role to a woken waiter costs a
		// scheduler round trip per fsync. Bounded, so the syncer's own
		// append is not held up for long.
		for round := 0; round < maxSyncRounds; round++ {
			durable := l.durableSeq
			l.durMu.Unlock()
			// A syncer whose own write is durable will not write again
			// before it returns: do not wait for it.
			var self int64
			if appender && durable >= seq {
				self = 1
			}
			l.gather(durable, self)
			upto, err := l.syncActive()
			l.durMu.Lock()
			if err != nil {
				l.syncErr = err
			} else if upto > l.durableSeq {
				l.durableSeq = upto
			}
			l.wakeLocked(err != nil)
			if err != nil || len(l.waiters) == 0 || l.durableSeq >= l.pendingSeq() {
				break
			}
		}
		l.syncing = false
		// Hand the syncer role to a waiter whose write is not covered yet.
		if len(l.waiters) > 0 {
			close(l.waiters[0].ch)
			l.waiters = l.waiters[1:]
		}
	}
	return nil
}

// waiter is an appender waiting for an fsync that covers seq.
type waiter struct {
	seq uint64
	ch  chan struct{}
}

// wakeLocked releases the waiters covered by durableSeq (all of them when
// all is set: an error or Close, which they then observe). durMu is held.
func (l *Log) wakeLocked(all bool) {
	kept := l.waiters[:0]
	for _, w := range l.waiters {
		if all || w.seq <= l.durableSeq {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	clear(l.waiters[len(kept):])
	l.waiters = kept
}

// gather lets the appenders that the previous fsync released write their
// next batches before this fsync starts. Without it, appenders split into
// two alternating halves (one waiting on the running fsync, one writing
// for the next), and each fsync covers only about half of them. It yields
// the processor until everyone inside Append has written (self: the
// syncer itself, once its own write is durable), and stops as soon as a
// few yields bring nothing new: no
// sleeping, no timer, and a lone appender never waits.
func (l *Log) gather(durable uint64, self int64) {
	var prev uint64
	idle := 0
	for i := 0; i < maxGatherYields; i++ {
		pending := l.pendingSeq() - durable
		// Everyone inside Append (but the syncer, once its own write is
		// durable) has written: nobody else is coming soon.
		if int64(pending) >= l.inAppend.Load()-self {
			return
		}
		if pending == prev {
			if idle++; idle > 2 {
				return
			}
		} else {
			idle = 0
		}
		prev = pending
		runtime.Gosched()
	}
}

const maxGatherYields = 32

// maxSyncRounds bounds how many fsyncs one syncer runs back to back.
const maxSyncRounds = 8

// pendingSeq is the last write sequence number. It takes mu briefly and
// may be called with durMu held (lock order durMu -> mu: no path takes
// durMu while holding mu).
func (l *Log) pendingSeq() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.writeSeq
}

// syncActive fsyncs the active segment and returns the write sequence
// number it covers.
func (l *Log) syncActive() (uint64, error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	if l.failed != nil {
		err := l.failed
		l.mu.Unlock()
		if errors.Is(err, ErrClosed) {
			return 0, ErrClosed
		}
		return 0, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	if l.closed {
		seq := l.writeSeq // a clean Close synced everything
		l.mu.Unlock()
		return seq, nil
	}
	seg, seq, end := l.active(), l.writeSeq, l.active().next
	// Invariant: the fsync below begins after every write it covers.
	if err := l.writePendingLocked(seg); err != nil {
		l.mu.Unlock()
		return 0, err
	}
	l.mu.Unlock()
	start := time.Now()
	err := seg.f.Sync()
	l.metrics.FsyncSeconds.Observe(time.Since(start).Seconds())
	l.metrics.Fsyncs.Inc()
	if err != nil {
		err = fmt.Errorf("syncing %s: %w", seg.logPath(), err)
		l.mu.Lock()
		l.failed = err
		l.mu.Unlock()
		return 0, err
	}
	l.mu.Lock()
	l.unflushed = 0
	// flushMu keeps TruncateTo out between the snapshot and here.
	l.durableEnd = max(l.durableEnd, end)
	l.mu.Unlock()
	return seq, nil
}

// DurableEndOffset is the end offset as of the last completed fsync: every
// offset below it is on disk. With FlushMS == 0 it is at least the
// LastOffset+1 of every Append and AppendReplica that has returned.
func (l *Log) DurableEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.durableEnd
}

// Flush makes every batch written so far durable.
func (l *Log) Flush() error {
	l.mu.RLock()
	seq, closed := l.writeSeq, l.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return l.waitDurable(seq, false)
}

// flushLoop runs the interval flush policy (FlushMS > 0). It exits when
// stop is closed (Close, Delete).
func (l *Log) flushLoop() {
	defer l.wg.Done()
	var t *time.Timer
	for {
		l.mu.RLock()
		interval := l.cfg.FlushMS
		l.mu.RUnlock()
		var tick <-chan time.Time
		if interval > 0 {
			t = time.NewTimer(interval)
			tick = t.C
		}
		select {
		case <-l.stop:
			if t != nil {
				t.Stop()
			}
			return
		case <-l.flushWake:
			if t != nil {
				t.Stop()
			}
		case <-tick:
			if err := l.Flush(); err != nil && !errors.Is(err, ErrClosed) {
				// The log is failed now and refuses appends; the error was
				// returned to every waiting appender. Say it once here.
				l.logger.Error("interval flush failed", "err", err)
				return
			}
		}
	}
}
