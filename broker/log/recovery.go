package log

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/sluicehq/sluice/internal/vfs"
)

const cleanShutdownName = "clean-shutdown"

// RecoveryReport says what Open found and changed.
type RecoveryReport struct {
	Clean           bool         // the previous Close completed (clean-shutdown marker found)
	Truncations     []Truncation // torn or corrupt tails cut off
	DeletedSegments []string     // segments after a corrupt one, removed
	IndexesRebuilt  int          // segments whose indexes were rebuilt
	CleanerSwap     string       // "", "rolled forward" or "discarded": an interrupted compaction swap
}

// Truncation is one cut made by recovery.
type Truncation struct {
	Segment    string // the .log file
	Position   int64  // byte position where valid data ended (the new size)
	Bytes      int64  // bytes removed
	NextOffset int64  // the offset that follows the last valid batch
	Reason     string
}

// Recovery returns what Open found and changed.
func (l *Log) Recovery() RecoveryReport {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.recovery
}

// Open opens (creating when missing) the log in dir and recovers it:
// an interrupted compaction swap is rolled forward or discarded; the
// active segment (every segment after an unclean shutdown) is validated
// batch by batch (CRC-32C, offsets increasing) and cut at the first torn
// or corrupt batch, and every later segment is removed, each cut logged at
// Warn and counted in the metrics and in Recovery(); missing or corrupt
// indexes are rebuilt. A batch that was fsynced and is intact is never
// removed unless it follows a corrupt one.
func Open(fsys vfs.FS, dir string, cfg Config, opts ...Option) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TimestampType == "" {
		cfg.TimestampType = CreateTime
	}
	o := buildOptions(opts)
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating log dir %s: %w", dir, err)
	}
	l := &Log{
		fsys: fsys, dir: dir, logger: o.logger.With("log_dir", dir), metrics: o.metrics, now: o.clock,
		cfg: cfg, maxTs: -1, maxTsOff: -1, leaderEpoch: -1, tombDeadline: -1, dedupeBytes: max(o.dedupeBytes, 1),
		flushWake: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	if err := l.recover(); err != nil {
		for _, s := range l.segs {
			_ = s.closeFiles()
		}
		return nil, fmt.Errorf("recovering log %s: %w", dir, err)
	}
	l.wg.Add(1)
	go l.flushLoop()
	return l, nil
}

func (l *Log) recover() error {
	rep := &l.recovery
	swap, err := l.recoverCleanerSwap()
	if err != nil {
		return err
	}
	rep.CleanerSwap = swap
	names, err := l.fsys.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	var bases []int64
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
		switch {
		case strings.HasSuffix(n, ".tmp"), strings.HasSuffix(n, cleanedSuffix):
			if strings.HasSuffix(n, cleanedSuffix) && rep.CleanerSwap == "" {
				rep.CleanerSwap = "discarded"
			}
			if err := l.fsys.Remove(path.Join(l.dir, n)); err != nil {
				return fmt.Errorf("removing leftover %s: %w", n, err)
			}
		default:
			if b, ok := parseSegName(n); ok {
				bases = append(bases, b)
			}
		}
	}
	for _, n := range names { // index files without a .log
		for _, suf := range []string{indexSuffix, timeIndexSuffix} {
			if s, ok := strings.CutSuffix(n, suf); ok && !have[s+logSuffix] {
				_ = l.fsys.Remove(path.Join(l.dir, n))
			}
		}
	}

	cp := checkpoint{}
	if b, err := readWhole(l.fsys, path.Join(l.dir, checkpointName)); err == nil {
		if cp, err = decodeCheckpoint(b); err != nil {
			l.logger.Warn("ignoring unreadable checkpoint; start offset falls back to the first segment", "err", err)
			cp = checkpoint{}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading checkpoint: %w", err)
	}

	if _, err := l.fsys.Stat(path.Join(l.dir, cleanShutdownName)); err == nil {
		rep.Clean = true
		if err := l.fsys.Remove(path.Join(l.dir, cleanShutdownName)); err != nil {
			return fmt.Errorf("removing clean-shutdown marker: %w", err)
		}
		if err := l.fsys.SyncDir(l.dir); err != nil {
			return fmt.Errorf("syncing %s: %w", l.dir, err)
		}
	}

	for i, base := range bases {
		last := i == len(bases)-1
		seg, cut, err := l.loadSegment(base, bases, i, !rep.Clean || last)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, seg)
		if cut {
			// Everything after a corrupt batch is unreliable: drop it.
			for _, b := range bases[i+1:] {
				dead := &segment{fsys: l.fsys, dir: l.dir, base: b}
				if err := dead.remove(); err != nil {
					return fmt.Errorf("removing segment after corruption: %w", err)
				}
				rep.DeletedSegments = append(rep.DeletedSegments, dead.logPath())
				l.metrics.SegmentsDeleted.WithLabelValues("corruption").Inc()
				l.logger.Warn("recovery removed a segment that follows corruption", "segment", dead.logPath())
			}
			if err := l.fsys.SyncDir(l.dir); err != nil {
				return fmt.Errorf("syncing %s: %w", l.dir, err)
			}
			break
		}
	}
	if len(l.segs) == 0 {
		seg, err := l.createSegmentLocked(max(cp.logStart, 0))
		if err != nil {
			return err
		}
		seg.created = l.now()
		l.segs = append(l.segs, seg)
	}
	l.start = max(cp.logStart, l.segs[0].base)
	if end := l.active().next; l.start > end {
		// The start offset was advanced past data that recovery had to
		// cut: start over, empty, at the start offset (as Kafka).
		l.logger.Warn("log start offset beyond the recovered end; restarting the log empty", "start_offset", l.start, "end_offset", end)
		if err := l.truncateFullyLocked(l.start); err != nil {
			return err
		}
	}
	l.cleanerAt = min(max(cp.cleanerOffset, l.start), l.active().next)
	l.recomputeMaxTsLocked()
	if cp.logStart != l.start || cp.cleanerOffset != l.cleanerAt {
		if err := l.writeCheckpointLocked(); err != nil {
			return err
		}
	}
	if err := l.loadEpochsLocked(); err != nil {
		return err
	}
	// What recovery kept may sit only in the page cache (a process crash
	// without a machine crash): sync it so DurableEndOffset starts true.
	if err := l.active().f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", l.active().logPath(), err)
	}
	l.durableEnd = l.active().next
	return nil
}

// loadSegment opens one segment. With validate, every batch is checked
// and a bad tail is cut (cut=true); otherwise the indexes are loaded and
// trusted, falling back to validation when they are missing or corrupt.
func (l *Log) loadSegment(base int64, bases []int64, i int, validate bool) (*segment, bool, error) {
	seg := &segment{fsys: l.fsys, dir: l.dir, base: base, next: base, maxTs: -1, maxTsOff: -1, lastIndexedTs: -1}
	f, err := l.fsys.OpenFile(seg.logPath(), os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("opening segment: %w", err)
	}
	seg.f = f
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("sizing %s: %w", seg.logPath(), err)
	}
	seg.size = size
	if !validate {
		relEnd := int64(maxRel) + 1
		if i+1 < len(bases) {
			relEnd = bases[i+1] - base
			seg.next = bases[i+1]
		}
		ob, err1 := readWhole(l.fsys, seg.oidxPath())
		tb, err2 := readWhole(l.fsys, seg.tidxPath())
		if err := errors.Join(err1, err2); err == nil {
			oidx, err1 := decodeOffsetIndex(ob, size, relEnd)
			tidx, err2 := decodeTimeIndex(tb, relEnd)
			if errors.Join(err1, err2) == nil && (size == 0 || len(oidx) > 0) {
				seg.oidx, seg.tidx = oidx, tidx
				if n := len(tidx); n > 0 {
					seg.maxTs, seg.maxTsOff, seg.lastIndexedTs = tidx[n-1].ts, base+int64(tidx[n-1].rel), tidx[n-1].ts
				}
				seg.created = l.now()
				return seg, false, nil
			}
		}
		l.logger.Warn("segment index missing or corrupt; rebuilding", "segment", seg.logPath())
	}
	r := scanSegment(f, size, base, l.cfg.IndexIntervalBytes)
	cut := false
	if r.validSize < size {
		cut = true
		reason := "torn or corrupt batch"
		if r.err != nil {
			reason = r.err.Error()
		}
		if err := f.Truncate(r.validSize); err != nil {
			_ = f.Close()
			return nil, false, fmt.Errorf("truncating %s: %w", seg.logPath(), err)
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, false, fmt.Errorf("syncing %s: %w", seg.logPath(), err)
		}
		t := Truncation{Segment: seg.logPath(), Position: r.validSize, Bytes: size - r.validSize, NextOffset: r.next, Reason: reason}
		l.recovery.Truncations = append(l.recovery.Truncations, t)
		l.metrics.RecoveryTruncated.Inc()
		l.metrics.RecoveryTruncBytes.Add(float64(t.Bytes))
		l.logger.Warn("recovery truncated a torn or corrupt tail", "segment", t.Segment, "position", t.Position,
			"bytes", t.Bytes, "next_offset", t.NextOffset, "reason", reason)
	}
	seg.size, seg.next = r.validSize, r.next
	seg.oidx, seg.tidx = r.oidx, r.tidx
	seg.maxTs, seg.maxTsOff = r.maxTs, r.maxTsOff
	seg.sinceIdx, seg.lastIndexedTs = r.sinceIdx, r.lastTs
	seg.created = l.now()
	if r.firstTs >= 0 && r.firstTs < l.now().UnixMilli() {
		seg.created = unixMilli(r.firstTs)
	}
	if !cut && i+1 < len(bases) {
		// A closed segment ends where the next begins (offset gaps left by
		// compaction included).
		seg.next = max(seg.next, bases[i+1])
	}
	if err := seg.finalTimeEntry(); err != nil {
		return nil, false, err
	}
	if err := seg.writeIndexes(); err != nil {
		_ = f.Close()
		return nil, false, err
	}
	l.recovery.IndexesRebuilt++
	l.metrics.IndexRebuilds.Inc()
	return seg, cut, nil
}

func (l *Log) recomputeMaxTsLocked() {
	l.maxTs, l.maxTsOff = -1, -1
	for _, s := range l.segs {
		if s.maxTs > l.maxTs {
			l.maxTs, l.maxTsOff = s.maxTs, s.maxTsOff
		}
	}
}

func (l *Log) writeCheckpointLocked() error {
	cp := checkpoint{logStart: l.start, cleanerOffset: l.cleanerAt}
	if err := writeFileAtomic(l.fsys, l.dir, path.Join(l.dir, checkpointName), cp.encode()); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	// A moved log start drops the epoch entries wholly below it, after
	// the start is persisted (epoch.go).
	return l.setEpochsLocked(truncateEpochsFromStart(l.epochs, l.start))
}

// Close fsyncs everything, writes the indexes' final entries, the
// checkpoint and the clean-shutdown marker, and closes the files. Appends
// waiting for durability are released (their batches are synced by
// Close). Later calls return ErrClosed.
func (l *Log) Close() error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	err := l.closeLocked(true)
	if errors.Is(err, ErrClosed) {
		return err
	}
	close(l.stop)
	l.wg.Wait()
	l.durMu.Lock()
	l.wakeLocked(true)
	l.durMu.Unlock()
	return err
}

func (l *Log) closeLocked(clean bool) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	var errs []error
	if !clean && l.failed == nil {
		l.failed = ErrClosed // waiting appends were not synced
	}
	if clean && l.failed == nil {
		seg := l.active()
		if err := l.writePendingLocked(seg); err != nil {
			errs = append(errs, err)
		}
		if err := seg.finalTimeEntry(); err != nil {
			errs = append(errs, err)
		}
		if err := seg.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("syncing %s: %w", seg.logPath(), err))
		}
		if err := seg.writeIndexes(); err != nil {
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			l.durableEnd = seg.next
		}
		if err := l.writeCheckpointLocked(); err != nil {
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			if err := writeFileAtomic(l.fsys, l.dir, path.Join(l.dir, cleanShutdownName), nil); err != nil {
				errs = append(errs, fmt.Errorf("writing clean-shutdown marker: %w", err))
			}
		}
		if len(errs) > 0 {
			l.failed = errors.Join(errs...)
		}
	}
	for _, s := range l.segs {
		if err := s.closeFiles(); err != nil {
			errs = append(errs, err)
		}
	}
	l.closed = true
	return errors.Join(errs...)
}

// Delete closes the log (if open) and removes its directory.
func (l *Log) Delete() error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	if err := l.closeLocked(false); err == nil {
		close(l.stop)
		l.wg.Wait()
	}
	l.durMu.Lock()
	l.wakeLocked(true)
	l.durMu.Unlock()
	if err := l.fsys.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("removing %s: %w", l.dir, err)
	}
	return nil
}
