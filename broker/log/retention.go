package log

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
)

// TruncateTo removes every batch at or after offset (a follower after a
// leader change). Truncation happens at batch boundaries: a batch that
// contains offset is removed whole, so EndOffset becomes its base offset.
// offset >= EndOffset does nothing; offset < StartOffset empties the log
// and restarts it at offset (as Kafka's truncateFullyAndStartAt). The cut
// is fsynced before TruncateTo returns.
func (l *Log) TruncateTo(offset int64) error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("%w: %v", ErrFailed, l.failed)
	}
	if offset < 0 {
		return fmt.Errorf("%w: truncating to %d", ErrOffsetOutOfRange, offset)
	}
	if offset >= l.active().next {
		return nil
	}
	if err := l.writePendingLocked(l.active()); err != nil {
		return err
	}
	if offset < l.start {
		return l.truncateFullyLocked(offset)
	}
	k := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base >= offset })
	keep := max(k, 1)
	seg := l.segs[keep-1]
	pos := int64(0)
	if k > 0 {
		p, h, ok, err := seg.findBatch(offset)
		if err != nil {
			return err
		}
		pos = seg.size
		if ok {
			pos = p
			if h.BaseOffset < l.start {
				// The batch holding offset began below the log start:
				// cutting it would end the log before its start.
				return l.truncateFullyLocked(l.start)
			}
		}
	}
	// Newest first, each removal durable before the next and all before
	// the cut: a crash at any point leaves a prefix of the old log (never
	// the cut segment followed by a later one, a hole recovery could not
	// tell from a compaction gap).
	for len(l.segs) > keep {
		s := l.segs[len(l.segs)-1]
		if err := s.remove(); err != nil {
			return fmt.Errorf("removing segment: %w", err)
		}
		l.segs = l.segs[:len(l.segs)-1]
		l.metrics.SegmentsDeleted.WithLabelValues("truncate").Inc()
		if err := l.fsys.SyncDir(l.dir); err != nil {
			return fmt.Errorf("syncing %s: %w", l.dir, err)
		}
	}
	if err := seg.f.Truncate(pos); err != nil {
		l.failed = fmt.Errorf("truncating %s: %w", seg.logPath(), err)
		return l.failed
	}
	if err := seg.f.Sync(); err != nil {
		l.failed = fmt.Errorf("syncing %s: %w", seg.logPath(), err)
		return l.failed
	}
	r := scanSegment(seg.f, pos, seg.base, l.cfg.IndexIntervalBytes)
	if r.validSize != pos {
		return &CorruptionError{Segment: seg.logPath(), Offset: r.validSize, Reason: fmt.Sprint(r.err)}
	}
	seg.size, seg.next = pos, r.next
	if seg.next < l.start {
		// The cut went below the log start (the batch holding offset began
		// below it, or offset lies in a gap just above it): restart empty
		// at the start, as recovery would.
		return l.truncateFullyLocked(l.start)
	}
	seg.oidx, seg.tidx, seg.sinceIdx, seg.lastIndexedTs = r.oidx, r.tidx, r.sinceIdx, r.lastTs
	seg.maxTs, seg.maxTsOff = r.maxTs, r.maxTsOff
	// The segment is active now: its index files are stale until Close
	// rewrites them, and recovery rebuilds an active segment's anyway.
	for _, p := range []string{seg.oidxPath(), seg.tidxPath()} {
		if err := l.fsys.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing stale index: %w", err)
		}
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fmt.Errorf("syncing %s: %w", l.dir, err)
	}
	l.recomputeMaxTsLocked()
	l.durableEnd = min(l.durableEnd, seg.next)
	l.logger.Info("log truncated", "offset", offset, "end_offset", seg.next)
	// The data is cut and synced before the epoch file changes (epoch.go).
	if err := l.setEpochsLocked(truncateEpochsFromEnd(l.epochs, seg.next, l.start)); err != nil {
		return err
	}
	if l.cleanerAt > seg.next {
		l.cleanerAt = seg.next
		return l.writeCheckpointLocked()
	}
	return nil
}

// truncateFullyLocked removes every segment and restarts the log, empty,
// at offset.
func (l *Log) truncateFullyLocked(offset int64) error {
	// The new start goes first: a crash before the segments are gone then
	// recovers the old log (its first segment's base is above offset).
	l.start, l.cleanerAt = offset, offset
	if err := l.writeCheckpointLocked(); err != nil {
		return err
	}
	for _, s := range l.segs {
		if err := s.remove(); err != nil {
			return fmt.Errorf("removing segment: %w", err)
		}
		l.metrics.SegmentsDeleted.WithLabelValues("truncate").Inc()
	}
	l.segs = nil
	seg, err := l.createSegmentLocked(offset)
	if err != nil {
		l.failed = err
		return err
	}
	seg.created = l.now()
	l.segs = []*segment{seg}
	l.durableEnd = offset
	l.recomputeMaxTsLocked()
	return l.setEpochsLocked(nil, len(l.epochs) > 0)
}

// DeleteRecordsBefore advances the log start offset to offset (Kafka's
// DeleteRecords) and persists it before returning; segments wholly below
// it are deleted. offset <= StartOffset does nothing; offset > EndOffset
// is ErrOffsetOutOfRange.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if offset > l.active().next {
		return fmt.Errorf("%w: deleting records before %d, end offset is %d", ErrOffsetOutOfRange, offset, l.active().next)
	}
	if offset <= l.start {
		return nil
	}
	l.start = offset
	l.cleanerAt = max(l.cleanerAt, offset)
	if err := l.writeCheckpointLocked(); err != nil {
		return err
	}
	_, err := l.deleteSegmentsLocked(func(s *segment, nextBase int64) bool { return nextBase <= l.start }, "log_start")
	return err
}

// deleteSegmentsLocked deletes closed segments from the oldest while
// pred holds, then advances and persists the start offset.
func (l *Log) deleteSegmentsLocked(pred func(s *segment, nextBase int64) bool, reason string) (int, error) {
	n := 0
	for len(l.segs) > 1 && pred(l.segs[0], l.segs[1].base) {
		s := l.segs[0]
		if err := s.remove(); err != nil {
			return n, fmt.Errorf("removing segment %s: %w", s.logPath(), err)
		}
		l.segs = l.segs[1:]
		n++
		l.metrics.SegmentsDeleted.WithLabelValues(reason).Inc()
		l.logger.Debug("segment deleted", "segment", s.logPath(), "reason", reason)
	}
	if n == 0 {
		return 0, nil
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return n, fmt.Errorf("syncing %s: %w", l.dir, err)
	}
	l.recomputeMaxTsLocked()
	if l.segs[0].base > l.start {
		l.start = l.segs[0].base
		l.cleanerAt = max(l.cleanerAt, l.start)
		return n, l.writeCheckpointLocked()
	}
	return n, nil
}

// ApplyRetention deletes whole closed segments past retention.ms (by
// their largest timestamp) or beyond retention.bytes, and segments wholly
// below the start offset. An expired non-empty active segment is rolled
// first so it can go too (as Kafka). Policies without "delete" only drop
// segments below the start offset. It returns the number of segments
// deleted.
func (l *Log) ApplyRetention() (int, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	total, err := l.deleteSegmentsLocked(func(s *segment, nextBase int64) bool { return nextBase <= l.start }, "log_start")
	if err != nil || !l.cfg.deletes() {
		return total, err
	}
	now := l.now()
	if l.cfg.RetentionMS >= 0 {
		limit := msBefore(now, l.cfg.RetentionMS)
		expired := func(s *segment, _ int64) bool { return s.maxTs < limit }
		if a := l.active(); !a.empty() && a.maxTs < limit && l.failed == nil {
			if _, err := l.rollLocked(a.next, now); err != nil {
				l.failed = err
				return total, err
			}
		}
		n, err := l.deleteSegmentsLocked(expired, "retention_ms")
		total += n
		if err != nil {
			return total, err
		}
	}
	if l.cfg.RetentionBytes >= 0 {
		var size int64
		for _, s := range l.segs {
			size += s.size
		}
		tooBig := func(s *segment, _ int64) bool {
			if size-s.size < l.cfg.RetentionBytes {
				return false
			}
			size -= s.size
			return true
		}
		n, err := l.deleteSegmentsLocked(tooBig, "retention_bytes")
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset
// (Kafka's truncateFullyAndStartAt: a follower whose log ends below the
// leader's log start, after OFFSET_OUT_OF_RANGE). The log start and end
// become offset, the leader epoch cache is cleared, and the change is
// durable before it returns. A crash midway leaves either the empty log
// at offset or the old log's segments with the log start at offset or
// at the first segment's base, whichever is higher (the new start is
// persisted first).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("%w: %v", ErrFailed, l.failed)
	}
	if offset < 0 {
		return fmt.Errorf("%w: restarting at %d", ErrOffsetOutOfRange, offset)
	}
	l.logger.Info("log truncated fully", "offset", offset, "end_offset", l.active().next)
	return l.truncateFullyLocked(offset)
}
