package log

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

// Log is one partition's log on disk. All methods are safe for concurrent
// use. See doc.go for the lock order and DESIGN.md for the file map.
type Log struct {
	fsys    vfs.FS
	dir     string
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time
	// dedupeBytes bounds a compaction pass's key map (WithDedupeBufferBytes).
	dedupeBytes int64

	// maintMu serializes structural maintenance: retention, truncation,
	// DeleteRecordsBefore, compaction, Close and Delete.
	maintMu sync.Mutex
	// flushMu is held by whoever fsyncs the active segment and by anyone
	// closing segment files, so an fsync never races a close.
	flushMu sync.Mutex

	mu        sync.RWMutex
	cfg       Config
	segs      []*segment // ascending base offsets; the last one is active
	start     int64      // log start offset
	cleanerAt int64      // first offset not yet compacted
	// tombDeadline is when the earliest tombstone kept by the last
	// compaction expires (-1: none known). It makes a pass due even with
	// nothing dirty. In memory only: after a restart expired tombstones go
	// with the next pass that has dirty data.
	tombDeadline int64
	maxTs        int64
	maxTsOff     int64
	writeSeq     uint64 // number of batches written (never decreases)
	unflushed    int64  // records written since the last fsync (flush.messages)
	closed       bool
	failed       error
	recovery     RecoveryReport
	// leaderEpoch, when >= 0, is stamped into each appended batch's
	// partitionLeaderEpoch field (SetLeaderEpoch); -1 keeps what the
	// producer sent.
	leaderEpoch int32
	// epochs is the leader epoch cache (epoch.go).
	epochs []epochEntry
	// durableEnd is the end offset as of the last completed fsync of the
	// active segment (or roll, Close, Open): every offset below it is on
	// disk.
	durableEnd int64

	// Group commit state (durMu is a leaf lock).
	durMu      sync.Mutex
	durableSeq uint64
	syncing    bool
	waiters    []waiter // appenders blocked in waitDurable, by write order
	inAppend   atomic.Int64
	syncErr    error

	// Interval flusher, owned by the Log: started by Open, stopped by Close.
	flushWake chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
}

// AppendInfo describes an appended batch.
type AppendInfo struct {
	BaseOffset, LastOffset int64
	MaxTimestamp           int64
	LogAppendTime          int64 // the broker time stamped on the batch, or -1 for CreateTime logs
	ProducerID             int64
	ProducerEpoch          int16
	BaseSequence           int32
	NumRecords             int32
}

// Append writes exactly one v2 record batch. It checks magic, length and
// CRC (ErrCorruptBatch), size (ErrRecordTooLarge) and, for compacted logs,
// that every record has a key (ErrKeylessCompacted); a refused batch
// writes nothing. It assigns the base offset by rewriting the first 8
// bytes of batch in place (the CRC does not cover them); with
// LogAppendTime it also stamps the max timestamp and attributes and
// recomputes the CRC. Append returns once the batch is durable per the
// flush policy: with FlushMS == 0 after an fsync that covers it (shared
// with concurrent appends: group commit). ctx is checked before the write
// only; a written batch is always waited for, since an fsync cannot be
// abandoned halfway. After an I/O error the log refuses writes (ErrFailed).
func (l *Log) Append(ctx context.Context, batch []byte) (AppendInfo, error) {
	if err := ctx.Err(); err != nil {
		return AppendInfo{}, err
	}
	l.inAppend.Add(1)
	defer l.inAppend.Add(-1)
	info, seq, wait, err := l.write(batch)
	if err != nil {
		return AppendInfo{}, err
	}
	if wait {
		// Invariant: ack after durable write.
		if err := l.waitDurable(seq, true); err != nil {
			return AppendInfo{}, err
		}
	}
	return info, nil
}

func (l *Log) refuse(reason string, err error) error {
	l.metrics.AppendErrors.WithLabelValues(reason).Inc()
	return err
}

// write validates and writes the batch under mu; it returns the write
// sequence number to wait for and whether to wait.
func (l *Log) write(batch []byte) (AppendInfo, uint64, bool, error) {
	h, err := checkBatch(batch)
	if err != nil {
		return AppendInfo{}, 0, false, l.refuse("corrupt", err)
	}
	if h.Size() != len(batch) {
		return AppendInfo{}, 0, false, l.refuse("corrupt", fmt.Errorf("%w: %d trailing bytes after the batch", ErrCorruptBatch, len(batch)-h.Size()))
	}
	if h.NumRecords == 0 || h.NumRecords-1 > h.LastOffsetDelta {
		return AppendInfo{}, 0, false, l.refuse("corrupt", fmt.Errorf("%w: %d records with last offset delta %d", ErrCorruptBatch, h.NumRecords, h.LastOffsetDelta))
	}
	l.mu.RLock()
	cfg := l.cfg
	l.mu.RUnlock()
	if len(batch) > cfg.MaxMessageBytes {
		return AppendInfo{}, 0, false, l.refuse("too_large", fmt.Errorf("%w: %d bytes, max.message.bytes is %d", ErrRecordTooLarge, len(batch), cfg.MaxMessageBytes))
	}
	if cfg.compact() && !h.IsControl() {
		recs, err := decodeRecords(batch, h)
		if err != nil {
			return AppendInfo{}, 0, false, l.refuse("corrupt", err)
		}
		for _, r := range recs {
			if r.Key == nil {
				return AppendInfo{}, 0, false, l.refuse("keyless", ErrKeylessCompacted)
			}
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return AppendInfo{}, 0, false, ErrClosed
	}
	if l.failed != nil {
		return AppendInfo{}, 0, false, fmt.Errorf("%w: %v", ErrFailed, l.failed)
	}
	now := l.now()
	appendTime := int64(-1)
	if l.cfg.TimestampType == LogAppendTime {
		appendTime = now.UnixMilli()
		attrs := binary.BigEndian.Uint16(batch[attributesOffset:]) | attrLogAppendTime
		binary.BigEndian.PutUint16(batch[attributesOffset:], attrs)
		binary.BigEndian.PutUint64(batch[maxTimestampOff:], uint64(appendTime))
		setCRC(batch)
		h.Attributes, h.MaxTimestamp = int16(attrs), appendTime
	}
	seg := l.active()
	base := seg.next
	if l.shouldRollLocked(seg, len(batch), base+int64(h.LastOffsetDelta), now) {
		if seg, err = l.rollLocked(base, now); err != nil {
			l.failed = err
			return AppendInfo{}, 0, false, err
		}
	}
	setBaseOffset(batch, base)
	h.BaseOffset = base
	if l.leaderEpoch >= 0 { // outside the CRC, like the base offset
		binary.BigEndian.PutUint32(batch[12:], uint32(l.leaderEpoch))
		h.PartitionLeaderEpoch = l.leaderEpoch
		// Invariant: the epoch entry is durable before its first batch.
		if es, changed := assignEpoch(l.epochs, l.leaderEpoch, base); changed {
			if err := l.setEpochsLocked(es, true); err != nil {
				return AppendInfo{}, 0, false, err
			}
		}
	}
	if err := l.writeBatchesLocked(seg, []BatchHeader{h}, batch, now); err != nil {
		return AppendInfo{}, 0, false, err
	}
	l.metrics.Appends.Inc()
	wait := l.cfg.FlushMS == 0 || (l.cfg.FlushMessages > 0 && l.unflushed >= l.cfg.FlushMessages)
	return AppendInfo{
		BaseOffset:    base,
		LastOffset:    h.LastOffset(),
		MaxTimestamp:  h.MaxTimestamp,
		LogAppendTime: appendTime,
		ProducerID:    h.ProducerID,
		ProducerEpoch: h.ProducerEpoch,
		BaseSequence:  h.BaseSequence,
		NumRecords:    h.NumRecords,
	}, l.writeSeq, wait, nil
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

const (
	// directWriteBytes: batches this big are written at once, not copied
	// into the pending buffer.
	directWriteBytes = 64 << 10
	// maxPendBytes bounds the pending buffer of a segment.
	maxPendBytes = 1 << 20
)

// writePendingLocked writes seg's pending bytes to its file (mu held).
func (l *Log) writePendingLocked(seg *segment) error {
	if len(seg.pend) == 0 {
		return nil
	}
	if err := l.writeFileLocked(seg, seg.pend); err != nil {
		return err // pend kept: reads still serve it until the reopen
	}
	seg.pend = seg.pend[:0]
	return nil
}

// writeFileLocked appends data to seg's file, which holds every byte of
// the segment before it. A failed write fails the log.
func (l *Log) writeFileLocked(seg *segment, data []byte) error {
	if _, err := seg.f.Write(data); err != nil {
		// The file may hold part of the data; try to cut it off. Either
		// way the log is failed: recovery on reopen decides what is valid.
		_ = seg.f.Truncate(seg.fileSize())
		l.failed = fmt.Errorf("writing %s: %w", seg.logPath(), err)
		l.metrics.AppendErrors.WithLabelValues("io").Inc()
		return l.failed
	}
	return nil
}

// writeBatchesLocked writes data, the whole batches hs (in order, with
// their final bytes), to the end of seg with one Write and updates the
// segment's indexes, size, end and timestamps. A failed write fails the
// log.
func (l *Log) writeBatchesLocked(seg *segment, hs []BatchHeader, data []byte, now time.Time) error {
	pos := seg.size
	p := pos
	for _, h := range hs {
		if err := seg.indexBatch(h, p, l.cfg.IndexIntervalBytes); err != nil {
			l.failed = err
			return err
		}
		p += int64(h.Size())
	}
	// With group commit the bytes wait in seg.pend for the syncer, which
	// writes everything pending with one Write just before its fsync: the
	// appenders then hold mu for a copy instead of a write(2) each.
	// Otherwise (flush.ms, or big batches that a copy would only slow)
	// they go to the file now, after whatever is pending.
	if l.cfg.FlushMS == 0 && len(data) < directWriteBytes && len(seg.pend)+len(data) <= maxPendBytes {
		seg.pend = append(seg.pend, data...)
	} else {
		if err := l.writePendingLocked(seg); err != nil {
			return err
		}
		if err := l.writeFileLocked(seg, data); err != nil {
			return err
		}
	}
	if seg.empty() && seg.created.IsZero() {
		seg.created = now
	}
	seg.size += int64(len(data))
	for _, h := range hs {
		seg.next = h.LastOffset() + 1
		if h.MaxTimestamp > seg.maxTs {
			seg.maxTs, seg.maxTsOff = h.MaxTimestamp, maxTsOffset(h)
		}
		if h.MaxTimestamp > l.maxTs {
			l.maxTs, l.maxTsOff = h.MaxTimestamp, maxTsOffset(h)
		}
		l.unflushed += int64(h.NumRecords)
	}
	l.writeSeq++
	l.metrics.AppendedBytes.Add(float64(len(data)))
	return nil
}

func (l *Log) shouldRollLocked(seg *segment, n int, lastOffset int64, now time.Time) bool {
	if seg.empty() {
		return false
	}
	switch {
	case seg.size+int64(n) > l.cfg.SegmentBytes:
		return true
	case l.cfg.SegmentMS > 0 && !seg.created.IsZero() && now.Sub(seg.created) >= l.cfg.SegmentMS:
		return true
	case lastOffset-seg.base > maxRel, seg.size+int64(n) > maxRel:
		return true
	}
	return false
}

// rollLocked closes the active segment (final time entry, fsync of log and
// indexes) and starts a new one at base.
func (l *Log) rollLocked(base int64, now time.Time) (*segment, error) {
	old := l.active()
	if err := l.writePendingLocked(old); err != nil {
		return nil, err
	}
	if err := old.finalTimeEntry(); err != nil {
		return nil, err
	}
	if err := old.f.Sync(); err != nil {
		return nil, fmt.Errorf("syncing %s: %w", old.logPath(), err)
	}
	if err := old.writeIndexes(); err != nil {
		return nil, fmt.Errorf("writing indexes of %s: %w", old.logPath(), err)
	}
	seg, err := l.createSegmentLocked(base)
	if err != nil {
		return nil, err
	}
	seg.created = now
	// A closed segment ends where the next begins (a replica's offset
	// gap included), as recovery sees it.
	old.next = max(old.next, base)
	l.durableEnd = max(l.durableEnd, old.next)
	l.segs = append(l.segs, seg)
	l.metrics.Rolls.Inc()
	l.logger.Debug("segment rolled", "base_offset", base, "previous", old.base, "previous_bytes", old.size)
	return seg, nil
}

// createSegmentLocked creates the .log of an empty active segment,
// durably (its index files are written when it is rolled or closed).
func (l *Log) createSegmentLocked(base int64) (*segment, error) {
	seg := &segment{fsys: l.fsys, dir: l.dir, base: base, next: base, maxTs: -1, maxTsOff: -1, lastIndexedTs: -1}
	f, err := l.fsys.OpenFile(seg.logPath(), os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating segment: %w", err)
	}
	seg.f = f
	if err := l.fsys.SyncDir(l.dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("syncing %s: %w", l.dir, err)
	}
	return seg, nil
}

// Read returns the raw bytes of whole batches starting with the batch
// that contains offset (or the first batch after it when compaction left
// a gap): at least one whole batch even if it exceeds maxBytes, then more
// while the total stays within maxBytes. It reads one segment per call.
// Offsets below StartOffset or above EndOffset give ErrOffsetOutOfRange;
// offset == EndOffset gives an empty result. The returned slice belongs
// to the caller. Served bytes may not be fsynced yet (FlushMS > 0); the
// broker bounds consumer reads by its high watermark.
func (l *Log) Read(offset int64, maxBytes int) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	end := l.active().next
	if offset < l.start || offset > end {
		return nil, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, l.start, end)
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	i = max(i, 0)
	for ; i < len(l.segs); i++ {
		s := l.segs[i]
		if b, ok, err := s.readFast(offset, maxBytes, l.cfg.IndexIntervalBytes); err != nil || ok {
			return b, err
		}
		pos, h, ok, err := s.findBatch(offset)
		if err != nil {
			return nil, err
		}
		if ok {
			return s.read(pos, h.Size(), maxBytes)
		}
	}
	return []byte{}, nil
}

// StartOffset is the first offset a reader may ask for.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.start
}

// EndOffset is the next offset Append will assign (the log end offset).
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.active().next
}

// Size is the number of bytes of all segments' .log files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// MaxTimestamp returns the offset of the first record carrying the largest
// timestamp in the log and that timestamp, or (-1, -1) for an empty log
// (ListOffsets MAX_TIMESTAMP, as Kafka since KAFKA-16310). The batch is
// tracked on append; the record within it is found by decoding it here,
// falling back to the batch's last offset if that fails.
func (l *Log) MaxTimestamp() (offset int64, ts int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.maxTs < 0 {
		return -1, -1
	}
	return l.exactMaxTsOffsetLocked(), l.maxTs
}

func (l *Log) exactMaxTsOffsetLocked() int64 {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > l.maxTsOff }) - 1
	if i < 0 {
		return l.maxTsOff
	}
	s := l.segs[i]
	pos, h, ok, err := s.findBatch(l.maxTsOff)
	if err != nil || !ok || h.MaxTimestamp != l.maxTs {
		return l.maxTsOff
	}
	b := make([]byte, h.Size())
	if _, err := s.ReadAt(b, pos); err != nil {
		return l.maxTsOff
	}
	if h.Attributes&attrLogAppendTime != 0 {
		return max(h.BaseOffset, l.start)
	}
	recs, err := decodeRecords(b, h)
	if err != nil {
		return l.maxTsOff
	}
	for _, r := range recs {
		if off := h.BaseOffset + int64(r.OffsetDelta); h.BaseTimestamp+r.TimestampDelta == l.maxTs && off >= l.start {
			return off
		}
	}
	return l.maxTsOff
}

// OffsetForTimestamp returns the first offset >= StartOffset whose record
// timestamp is >= ts, with that timestamp, or (-1, -1) when there is none.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return -1, -1, ErrClosed
	}
	for _, s := range l.segs {
		if s.maxTs < ts || s.next <= l.start {
			continue
		}
		pos := int64(0)
		// The last time entry below ts: every record up to its offset is
		// older than ts, so the scan may start at the batch holding it.
		j := sort.Search(len(s.tidx), func(j int) bool { return s.tidx[j].ts >= ts })
		from := max(l.start, s.base)
		if j > 0 {
			from = max(from, s.base+int64(s.tidx[j-1].rel))
		}
		if from > s.base {
			pos = lookupOffset(s.oidx, from-s.base)
		}
		it := batchIter{f: s, pos: pos, end: s.size}
		for {
			h, b, ok := it.next()
			if !ok {
				if it.err != nil {
					return -1, -1, &CorruptionError{Segment: s.logPath(), Offset: it.pos, Reason: it.err.Error()}
				}
				break
			}
			if h.MaxTimestamp < ts || h.LastOffset() < l.start {
				continue
			}
			if h.Attributes&attrLogAppendTime != 0 {
				return max(h.BaseOffset, l.start), h.MaxTimestamp, nil
			}
			recs, err := decodeRecords(b, h)
			if err != nil {
				return -1, -1, &CorruptionError{Segment: s.logPath(), Offset: it.pos - int64(h.Size()), Reason: err.Error()}
			}
			for _, r := range recs {
				off, rts := h.BaseOffset+int64(r.OffsetDelta), h.BaseTimestamp+r.TimestampDelta
				if off >= l.start && rts >= ts {
					return off, rts, nil
				}
			}
		}
	}
	return -1, -1, nil
}

// SetConfig changes the configuration; it applies to the next append,
// roll, flush and cleaning.
func (l *Log) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.TimestampType == "" {
		cfg.TimestampType = CreateTime
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.cfg = cfg
	select {
	case l.flushWake <- struct{}{}:
	default:
	}
	return nil
}

// SetLeaderEpoch makes Append stamp epoch into the partitionLeaderEpoch
// field of every batch it writes (as a Kafka partition leader does; the
// field is outside the CRC). A negative epoch stops stamping.
func (l *Log) SetLeaderEpoch(epoch int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leaderEpoch = max(epoch, -1)
}

// Config returns the current configuration.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms) }

// msBefore is now minus d in Unix milliseconds, saturating at
// math.MinInt64: Kafka settings such as retention.ms may be near
// Long.MAX_VALUE, and time.Time.Add/UnixMilli would wrap around.
func msBefore(now time.Time, d time.Duration) int64 {
	n, ms := now.UnixMilli(), d.Milliseconds()
	if ms > 0 && n-ms > n || ms < 0 {
		return math.MinInt64
	}
	return n - ms
}
