package log

import (
	"context"
	"fmt"
	"time"
)

// AppendReplica appends whole v2 batches fetched from the partition
// leader (a follower's append), byte for byte: base offsets,
// partitionLeaderEpoch and everything else are kept as the leader wrote
// them, and batches is not modified. Every batch is checked (magic,
// length, CRC-32C, record count against the last offset delta) and so is
// the order: the first base offset must be >= EndOffset() and each base
// offset must follow the previous batch's last offset (gaps are allowed,
// as compaction leaves them). A violation is ErrOffsetOutOfOrder, a bad
// batch or trailing bytes after the last whole batch ErrCorruptBatch
// (strip the partial batch a Kafka fetch response may end with before
// calling); a refused input writes nothing. max.message.bytes and the
// compacted-topic key check are not applied: the leader did both, and a
// follower must not diverge from it.
//
// A batch whose partitionLeaderEpoch is greater than LatestEpoch() adds a
// leader epoch cache entry (persisted before the batch is written). A new
// segment is rolled when the active one is full; its base offset is the
// first batch's base offset, so leader gaps survive a roll.
//
// Durability is as Append's: with FlushMS == 0 it returns after an fsync
// that covers the batches (group commit with concurrent appends), so
// EndOffset() once it returns is at least the returned LastOffset+1 and
// durable up to there (DurableEndOffset). It returns the info of the last
// batch appended; an empty input appends nothing and returns
// AppendInfo{BaseOffset: -1, LastOffset: -1}. ctx is checked before the
// write only. After an I/O error the log refuses writes (ErrFailed).
func (l *Log) AppendReplica(ctx context.Context, batches []byte) (AppendInfo, error) {
	if err := ctx.Err(); err != nil {
		return AppendInfo{}, err
	}
	hs, err := checkReplicaBatches(batches)
	if err != nil {
		return AppendInfo{}, l.refuse("corrupt", err)
	}
	if len(hs) == 0 {
		return AppendInfo{BaseOffset: -1, LastOffset: -1, MaxTimestamp: -1, LogAppendTime: -1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, nil
	}
	l.inAppend.Add(1)
	defer l.inAppend.Add(-1)
	seq, wait, err := l.writeReplica(hs, batches)
	if err != nil {
		return AppendInfo{}, err
	}
	if wait {
		// Invariant: ack after durable write.
		if err := l.waitDurable(seq, true); err != nil {
			return AppendInfo{}, err
		}
	}
	h := hs[len(hs)-1]
	info := AppendInfo{
		BaseOffset:    h.BaseOffset,
		LastOffset:    h.LastOffset(),
		MaxTimestamp:  h.MaxTimestamp,
		LogAppendTime: -1,
		ProducerID:    h.ProducerID,
		ProducerEpoch: h.ProducerEpoch,
		BaseSequence:  h.BaseSequence,
		NumRecords:    h.NumRecords,
	}
	if h.Attributes&attrLogAppendTime != 0 {
		info.LogAppendTime = h.MaxTimestamp
	}
	return info, nil
}

// checkReplicaBatches validates a run of whole batches and their offset
// order among themselves (not against the log; see writeReplica).
func checkReplicaBatches(b []byte) ([]BatchHeader, error) {
	var hs []BatchHeader
	for pos := 0; pos < len(b); {
		h, err := checkBatch(b[pos:])
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", len(hs), pos, err)
		}
		if h.NumRecords > h.LastOffsetDelta+1 {
			return nil, fmt.Errorf("%w: batch %d at byte %d has %d records with last offset delta %d", ErrCorruptBatch, len(hs), pos, h.NumRecords, h.LastOffsetDelta)
		}
		if h.BaseOffset < 0 || h.LastOffset() < h.BaseOffset {
			return nil, fmt.Errorf("%w: batch %d at byte %d: offsets %d..%d", ErrOffsetOutOfOrder, len(hs), pos, h.BaseOffset, h.LastOffset())
		}
		if n := len(hs); n > 0 && h.BaseOffset <= hs[n-1].LastOffset() {
			return nil, fmt.Errorf("%w: batch %d at byte %d has base offset %d, previous batch ends at %d", ErrOffsetOutOfOrder, n, pos, h.BaseOffset, hs[n-1].LastOffset())
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs, nil
}

// writeReplica writes checked batches under mu: one Write per segment
// they land in. It returns the write sequence number to wait for.
func (l *Log) writeReplica(hs []BatchHeader, batches []byte) (uint64, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, false, ErrClosed
	}
	if l.failed != nil {
		return 0, false, fmt.Errorf("%w: %v", ErrFailed, l.failed)
	}
	if end := l.active().next; hs[0].BaseOffset < end {
		return 0, false, l.refuse("out_of_order", fmt.Errorf("%w: base offset %d below the log end offset %d", ErrOffsetOutOfOrder, hs[0].BaseOffset, end))
	}
	now := l.now()
	seg := l.active()
	// Batches [from, i) at bytes [at, pos) wait to be written to seg.
	from, at, pos := 0, 0, 0
	flush := func(i int) error {
		if i == from {
			return nil
		}
		err := l.writeBatchesLocked(seg, hs[from:i], batches[at:pos], now)
		from, at = i, pos
		return err
	}
	for i, h := range hs {
		if l.shouldRollReplicaLocked(seg, pos-at, h, now) {
			if err := flush(i); err != nil {
				return 0, false, err
			}
			var err error
			if seg, err = l.rollLocked(h.BaseOffset, now); err != nil {
				l.failed = err
				return 0, false, err
			}
		}
		// Invariant: the epoch entry is durable before its first batch.
		if es, changed := assignEpoch(l.epochs, h.PartitionLeaderEpoch, h.BaseOffset); changed {
			if err := flush(i); err != nil {
				return 0, false, err
			}
			if err := l.setEpochsLocked(es, true); err != nil {
				return 0, false, err
			}
		}
		pos += h.Size()
	}
	if err := flush(len(hs)); err != nil {
		return 0, false, err
	}
	l.metrics.Appends.Add(float64(len(hs)))
	wait := l.cfg.FlushMS == 0 || (l.cfg.FlushMessages > 0 && l.unflushed >= l.cfg.FlushMessages)
	return l.writeSeq, wait, nil
}

// shouldRollReplicaLocked: Append's roll rules for a batch that would
// follow pending bytes not yet written to seg, plus a roll of an empty
// segment whose base is too far below the batch for relative offsets.
func (l *Log) shouldRollReplicaLocked(seg *segment, pending int, h BatchHeader, now time.Time) bool {
	if seg.empty() && pending == 0 {
		return h.LastOffset()-seg.base > maxRel
	}
	size := seg.size + int64(pending)
	switch {
	case size+int64(h.Size()) > l.cfg.SegmentBytes:
		return true
	case l.cfg.SegmentMS > 0 && !seg.created.IsZero() && now.Sub(seg.created) >= l.cfg.SegmentMS:
		return true
	case h.LastOffset()-seg.base > maxRel, size+int64(h.Size()) > maxRel:
		return true
	}
	return false
}
