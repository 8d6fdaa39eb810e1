package log

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

// Compaction (cleanup.policy compact or compact,delete).
//
// A pass cleans the closed segments from the oldest up to the first one
// younger than min.compaction.lag.ms (by its max timestamp); the active
// segment is never touched. It runs when the dirty part (segments at or
// past the cleaner offset) is at least min.cleanable.dirty.ratio of the
// cleanable bytes. It builds a map key -> latest offset over the cleanable
// segments, then rewrites each segment keeping, per key, only the record
// at the latest offset; a latest record that is a tombstone (null value)
// is dropped once its timestamp is older than delete.retention.ms.
// Offsets are preserved: a batch keeps its base offset and last offset
// delta (gaps appear inside and between batches). A batch whose records
// all survive is copied byte for byte; a filtered batch is rebuilt with
// the same header fields and codec and a new CRC; a batch left empty is
// dropped, except the last one of each producer id, kept with zero records
// so the producer's sequence state survives (as Kafka). Control batches and
// records without a key are kept.
//
// Crash-safe swap, one commit point for the whole pass:
//
//  1. write every rewritten segment to B.log.cleaned, fsync it; fsync dir
//     (a run of small consecutive segments is merged into the first one's
//     B.log.cleaned when the result fits segment.bytes)
//  2. write cleaner.swap listing those bases, and the bases of the
//     segments merged away (tmp, fsync, rename, fsync dir)
//     <- commit point
//  3. for each B: remove B.index and B.timeindex, rename B.log.cleaned over
//     B.log; fsync dir; swap the open files under Log.mu (merged segments
//     leave the list); remove the merged-away segments' files
//  4. write the new indexes; remove cleaner.swap; fsync dir
//
// Recovery (Open): with cleaner.swap present, redo step 3 for each listed
// B whose .cleaned file still exists and remove every merged-away
// segment (rolled forward: the log reads as after the cleaning); without it, delete every *.cleaned (discarded: the
// log reads as before). Missing indexes are rebuilt as usual.
//
// cleaner.swap format: "SLCS" | version u8 (2) | reserved[3] | count u32 |
// count x base i64 | mergedCount u32 | mergedCount x base i64 | crc32c u32
// of the preceding bytes. Version 1 (no merged list) is still read.

const swapName = "cleaner.swap"

var swapMagic = [4]byte{'S', 'L', 'C', 'S'}

func encodeSwap(bases, merged []int64) []byte {
	b := append([]byte(nil), swapMagic[:]...)
	b = append(b, 2, 0, 0, 0)
	for _, xs := range [][]int64{bases, merged} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(xs)))
		for _, x := range xs {
			b = binary.BigEndian.AppendUint64(b, uint64(x))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeSwap reads versions 1 (bases only) and 2 (bases, then the bases
// of segments merged into an earlier one).
func decodeSwap(b []byte) (bases, merged []int64, err error) {
	if len(b) < 16 || [4]byte(b[:4]) != swapMagic || (b[4] != 1 && b[4] != 2) {
		return nil, nil, errors.New("bad cleaner.swap header")
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, nil, errors.New("cleaner.swap crc mismatch")
	}
	body := b[8 : len(b)-4]
	lists := 1
	if b[4] == 2 {
		lists = 2
	}
	out := make([][]int64, 2)
	for i := range lists {
		if len(body) < 4 {
			return nil, nil, errors.New("bad cleaner.swap length")
		}
		n := binary.BigEndian.Uint32(body)
		body = body[4:]
		if uint64(len(body)) < 8*uint64(n) {
			return nil, nil, errors.New("bad cleaner.swap length")
		}
		out[i] = make([]int64, n)
		for j := range out[i] {
			out[i][j] = int64(binary.BigEndian.Uint64(body[8*j:]))
		}
		body = body[8*n:]
	}
	if len(body) != 0 {
		return nil, nil, errors.New("bad cleaner.swap length")
	}
	return out[0], out[1], nil
}

// recoverCleanerSwap rolls an interrupted swap forward (see above).
func (l *Log) recoverCleanerSwap() (string, error) {
	p := path.Join(l.dir, swapName)
	b, err := readWhole(l.fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", swapName, err)
	}
	bases, merged, err := decodeSwap(b)
	if err != nil {
		// Written atomically, so this is damage, not a torn write: the
		// .cleaned files are discarded and the old segments kept.
		l.logger.Warn("discarding an unreadable compaction swap record", "err", err)
	}
	for _, base := range bases {
		if err := l.swapInFiles(base); err != nil {
			return "", err
		}
	}
	// Segments merged into an earlier one go only after it is in place
	// (the record lists the merged ones after the bases).
	for _, base := range merged {
		dead := &segment{fsys: l.fsys, dir: l.dir, base: base}
		if err := dead.remove(); err != nil {
			return "", fmt.Errorf("removing merged segment: %w", err)
		}
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return "", err
	}
	if err := l.fsys.Remove(p); err != nil {
		return "", fmt.Errorf("removing %s: %w", swapName, err)
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return "", err
	}
	if err != nil {
		return "discarded", nil
	}
	l.logger.Warn("rolled an interrupted compaction forward", "segments", len(bases))
	return "rolled forward", nil
}

// swapInFiles replaces B.log with B.log.cleaned (if still there) and drops
// B's indexes, which are rebuilt from the new file.
func (l *Log) swapInFiles(base int64) error {
	cleaned := path.Join(l.dir, segName(base, logSuffix+cleanedSuffix))
	if _, err := l.fsys.Stat(cleaned); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		if err := l.fsys.Remove(path.Join(l.dir, segName(base, suf))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing index: %w", err)
		}
	}
	if err := l.fsys.Rename(cleaned, path.Join(l.dir, segName(base, logSuffix))); err != nil {
		return fmt.Errorf("swapping in %s: %w", cleaned, err)
	}
	return nil
}

// CleanStats describes one compaction pass.
type CleanStats struct {
	Segments          int   // segments rewritten
	SegmentsMerged    int   // of those, merged into an earlier one (gone)
	BytesBefore       int64 // of the rewritten segments
	BytesAfter        int64
	RecordsRemoved    int
	TombstonesRemoved int
	KeysMapped        int   // distinct keys in the pass's key map
	MapBytes          int64 // their size as counted against WithDedupeBufferBytes
	CleanedTo         int64 // the cleaner offset after the pass
}

// Compact runs one compaction pass if the policy compacts and the dirty
// ratio allows (see the comment at the top of cleaner.go). It blocks
// retention, truncation, DeleteRecordsBefore and Close for its duration,
// appends and reads only for the swap. ctx is checked between segments;
// a cancelled pass leaves the log as before.
func (l *Log) Compact(ctx context.Context) (CleanStats, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return CleanStats{}, ErrClosed
	}
	cfg, now, cleanerAt := l.cfg, l.now(), l.cleanerAt
	closedSegs := append([]*segment(nil), l.segs[:len(l.segs)-1]...)
	nextBase := make([]int64, len(closedSegs))
	for i := range closedSegs {
		nextBase[i] = l.segs[i+1].base
	}
	l.mu.RUnlock()
	if !cfg.compact() {
		return CleanStats{}, nil
	}
	lagLimit := msBefore(now, cfg.MinCompactionLagMS)
	var segs []*segment
	var clean, dirty int64
	for i, s := range closedSegs {
		if cfg.MinCompactionLagMS > 0 && s.maxTs > lagLimit {
			break
		}
		segs = append(segs, s)
		if nextBase[i] > cleanerAt {
			dirty += s.size
		} else {
			clean += s.size
		}
	}
	l.mu.RLock()
	tombDue := l.tombDeadline >= 0 && now.UnixMilli() >= l.tombDeadline
	l.mu.RUnlock()
	if len(segs) == 0 || (!tombDue && (dirty == 0 || float64(dirty)/float64(clean+dirty) < cfg.MinCleanableDirtyRatio)) {
		return CleanStats{}, nil
	}
	// Map the dirty segments only: passes so far left every key at most
	// once before the cleaner offset, so a key not in the map has its
	// latest record there. The map stops at dedupeBytes; the pass then
	// cleans only the segments before the one it stopped in (map entries
	// from that one still point at records that stay).
	firstDirty := len(segs)
	for i := range segs {
		if nextBase[i] > cleanerAt {
			firstDirty = i
			break
		}
	}
	latest, lastOfProducer, mapped, mapBytes, err := buildOffsetMap(segs, firstDirty, l.dedupeBytes)
	if err != nil {
		return CleanStats{}, err
	}
	segs = segs[:mapped]
	cleanedTo := nextBase[len(segs)-1]
	tombLimit := msBefore(now, cfg.DeleteRetentionMS)
	nextTomb := int64(-1) // earliest time a kept tombstone expires
	st := CleanStats{KeysMapped: len(latest), MapBytes: mapBytes, CleanedTo: cleanedTo}
	committed := false
	defer func() { // before the commit point a failure drops the partial output
		if committed {
			return
		}
		for _, s := range segs {
			_ = l.fsys.Remove(path.Join(l.dir, segName(s.base, logSuffix+cleanedSuffix)))
		}
	}()
	// Segments are cleaned in order into groups: a run of consecutive
	// segments whose cleaned sizes fit segment.bytes (and the u32 relative
	// offsets) is written as one segment under the first one's base.
	var groups []*cleanGroup
	var cur *cleanGroup
	flush := func() error {
		if cur == nil {
			return nil
		}
		g := cur
		cur = nil
		if len(g.segs) == 1 && g.outs[0] == nil {
			return nil // unchanged and alone: nothing to write
		}
		r, n, err := l.writeCleaned(g)
		if err != nil {
			return err
		}
		g.result = r
		groups = append(groups, g)
		st.Segments += len(g.segs)
		st.SegmentsMerged += len(g.segs) - 1
		for _, s := range g.segs {
			st.BytesBefore += s.size
		}
		st.BytesAfter += n
		return nil
	}
	for i, s := range segs {
		if err := ctx.Err(); err != nil {
			return CleanStats{}, err
		}
		out, ch, removed, tombs, err := cleanSegment(s, latest, lastOfProducer, tombLimit, cfg.DeleteRetentionMS.Milliseconds(), &nextTomb)
		if err != nil {
			return CleanStats{}, err
		}
		st.RecordsRemoved += removed
		st.TombstonesRemoved += tombs
		size := s.size
		switch {
		case !ch:
			out = nil // unchanged: writeCleaned copies s if it is merged
		case out == nil:
			out = []byte{} // changed to empty
		}
		if ch {
			size = int64(len(out))
		}
		if cur != nil && (cur.size+size > cfg.SegmentBytes || cur.size+size > maxRel || nextBase[i]-1-cur.segs[0].base > maxRel) {
			if err := flush(); err != nil {
				return CleanStats{}, err
			}
		}
		if cur == nil {
			cur = &cleanGroup{}
		}
		cur.segs = append(cur.segs, s)
		cur.outs = append(cur.outs, out)
		cur.size += size
	}
	if err := flush(); err != nil {
		return CleanStats{}, err
	}
	if len(groups) > 0 {
		if err := l.fsys.SyncDir(l.dir); err != nil {
			return CleanStats{}, fmt.Errorf("syncing %s: %w", l.dir, err)
		}
		var bases, merged []int64
		for _, g := range groups {
			bases = append(bases, g.segs[0].base)
			for _, s := range g.segs[1:] {
				merged = append(merged, s.base)
			}
		}
		// Commit point. A failure inside writeFileAtomic may or may not
		// have made the record durable, so keep the .cleaned files either
		// way: recovery decides.
		committed = true
		if err := writeFileAtomic(l.fsys, l.dir, path.Join(l.dir, swapName), encodeSwap(bases, merged)); err != nil {
			l.mu.Lock()
			l.failed = fmt.Errorf("writing %s: %w", swapName, err)
			l.mu.Unlock()
			return CleanStats{}, fmt.Errorf("writing %s: %w", swapName, err)
		}
		if err := l.swapIn(groups); err != nil {
			return CleanStats{}, err
		}
	}
	l.mu.Lock()
	if cleanedTo > l.cleanerAt {
		l.cleanerAt = cleanedTo
	}
	l.tombDeadline = nextTomb
	err = l.writeCheckpointLocked()
	l.mu.Unlock()
	if err != nil {
		return st, err
	}
	if st.Segments > 0 {
		l.metrics.CleanerRuns.Inc()
		l.metrics.CleanerBytesFreed.Add(float64(st.BytesBefore - st.BytesAfter))
		l.logger.Debug("log compacted", "segments", st.Segments, "bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter,
			"records_removed", st.RecordsRemoved, "tombstones_removed", st.TombstonesRemoved)
	}
	return st, nil
}

// cleanGroup is a run of consecutive segments cleaned into one new
// segment under the first one's base.
type cleanGroup struct {
	segs   []*segment
	outs   [][]byte // each segment's cleaned bytes; nil: unchanged
	size   int64    // of the cleaned bytes
	result scanResult
}

// writeCleaned writes a group's bytes to B.log.cleaned (fsynced) and
// returns the scan of it and its size.
func (l *Log) writeCleaned(g *cleanGroup) (scanResult, int64, error) {
	base := g.segs[0].base
	data := make([]byte, 0, g.size)
	for i, s := range g.segs {
		if g.outs[i] != nil || s.size == 0 {
			data = append(data, g.outs[i]...)
			continue
		}
		// Unchanged: its bytes as they are (a closed segment; only the
		// cleaner, under maintMu, replaces it).
		b := make([]byte, s.size)
		if _, err := s.f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
			return scanResult{}, 0, fmt.Errorf("reading %s: %w", s.logPath(), err)
		}
		data = append(data, b...)
	}
	name := path.Join(l.dir, segName(base, logSuffix+cleanedSuffix))
	f, err := l.fsys.Create(name)
	if err != nil {
		return scanResult{}, 0, fmt.Errorf("creating %s: %w", name, err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return scanResult{}, 0, fmt.Errorf("writing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return scanResult{}, 0, fmt.Errorf("syncing %s: %w", name, err)
	}
	l.mu.RLock()
	interval := l.cfg.IndexIntervalBytes
	l.mu.RUnlock()
	r := scanSegment(f, int64(len(data)), base, interval)
	if r.validSize != int64(len(data)) {
		return scanResult{}, 0, fmt.Errorf("compacted segment %s does not validate: %v", name, r.err)
	}
	return r, int64(len(data)), nil
}

// swapIn performs step 3 and 4 of the swap for committed groups.
func (l *Log) swapIn(groups []*cleanGroup) error {
	fail := func(err error) error {
		// The swap is committed on disk; memory no longer matches. Refuse
		// further writes; reopening rolls the swap forward.
		l.mu.Lock()
		l.failed = err
		l.mu.Unlock()
		return err
	}
	for _, g := range groups {
		if err := l.swapInFiles(g.segs[0].base); err != nil {
			return fail(err)
		}
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fail(err)
	}
	files := make([]vfs.File, len(groups))
	for i, g := range groups {
		f, err := l.fsys.OpenFile(g.segs[0].logPath(), os.O_RDWR|os.O_APPEND, 0o644)
		if err != nil {
			for _, f := range files[:i] {
				_ = f.Close()
			}
			return fail(fmt.Errorf("opening compacted segment: %w", err))
		}
		files[i] = f
	}
	gone := map[*segment]bool{}
	l.mu.Lock()
	for i, g := range groups {
		r, s := g.result, g.segs[0]
		_ = s.f.Close()
		s.f = files[i]
		s.size = r.validSize
		s.next = g.segs[len(g.segs)-1].next
		s.oidx, s.tidx = r.oidx, r.tidx
		s.maxTs, s.maxTsOff, s.lastIndexedTs = r.maxTs, r.maxTsOff, r.lastTs
		if err := s.finalTimeEntry(); err != nil {
			l.mu.Unlock()
			return fail(err)
		}
		for _, m := range g.segs[1:] {
			gone[m] = true
		}
	}
	kept := l.segs[:0]
	for _, s := range l.segs {
		if !gone[s] {
			kept = append(kept, s)
		}
	}
	clear(l.segs[len(kept):])
	l.segs = kept
	l.recomputeMaxTsLocked()
	l.mu.Unlock()
	// The merged-away segments are out of the list: remove their files
	// (recovery would, from the swap record).
	for _, g := range groups {
		for _, m := range g.segs[1:] {
			if err := m.remove(); err != nil {
				return fail(fmt.Errorf("removing merged segment: %w", err))
			}
			l.metrics.SegmentsDeleted.WithLabelValues("merged").Inc()
		}
	}
	// Indexes: written outside mu; maintMu keeps Close and recovery of
	// this process away, and a crash before they exist rebuilds them.
	for _, g := range groups {
		l.mu.RLock()
		err := g.segs[0].writeIndexes()
		l.mu.RUnlock()
		if err != nil {
			return fail(err)
		}
	}
	if err := l.fsys.Remove(path.Join(l.dir, swapName)); err != nil {
		return fail(fmt.Errorf("removing %s: %w", swapName, err))
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fail(err)
	}
	return nil
}

// errMapFull stops buildOffsetMap's walk of a segment.
var errMapFull = errors.New("key map full")

// buildOffsetMap maps each key of segs[firstDirty:] to its latest offset,
// and each producer id to the base offset of its last batch in segs. The
// key map stops growing at the first batch that finds it at budget bytes
// (keys plus DedupeEntryOverhead each) in a segment after the first dirty
// one; mapped is the number of segments of segs to clean: those before
// the one it stopped in (all of segs when it did not stop).
func buildOffsetMap(segs []*segment, firstDirty int, budget int64) (latest map[string]int64, lastOfProducer map[int64]int64, mapped int, size int64, err error) {
	latest = map[string]int64{}
	lastOfProducer = map[int64]int64{}
	for i, s := range segs {
		err := eachBatch(s, func(h BatchHeader, b []byte) error {
			if i > firstDirty && size >= budget {
				return errMapFull
			}
			if h.ProducerID >= 0 {
				lastOfProducer[h.ProducerID] = h.BaseOffset
			}
			if h.IsControl() || i < firstDirty {
				return nil
			}
			recs, err := decodeRecords(b, h)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.Key == nil {
					continue
				}
				if _, ok := latest[string(r.Key)]; !ok {
					size += int64(len(r.Key)) + DedupeEntryOverhead
				}
				latest[string(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
			}
			return nil
		})
		if errors.Is(err, errMapFull) {
			return latest, lastOfProducer, i, size, nil
		}
		if err != nil {
			return nil, nil, 0, 0, err
		}
	}
	return latest, lastOfProducer, len(segs), size, nil
}

// eachBatch calls f for every batch of a closed segment, CRC-checked.
func eachBatch(s *segment, f func(h BatchHeader, b []byte) error) error {
	it := batchIter{f: s.f, end: s.size, verify: true}
	for {
		pos := it.pos
		h, b, ok := it.next()
		if !ok {
			if it.err != nil {
				return &CorruptionError{Segment: s.logPath(), Offset: pos, Reason: it.err.Error()}
			}
			return nil
		}
		if err := f(h, b); errors.Is(err, errMapFull) {
			return err
		} else if err != nil {
			return &CorruptionError{Segment: s.logPath(), Offset: pos, Reason: err.Error()}
		}
	}
}

// cleanSegment returns the cleaned bytes of s and whether they differ
// from s. nextTomb is lowered to the expiry time of every tombstone kept.
func cleanSegment(s *segment, latest map[string]int64, lastOfProducer map[int64]int64, tombLimit, tombRetention int64, nextTomb *int64) (out []byte, changed bool, removed, tombs int, err error) {
	err = eachBatch(s, func(h BatchHeader, b []byte) error {
		if h.IsControl() {
			out = append(out, b...)
			return nil
		}
		recs, err := decodeRecords(b, h)
		if err != nil {
			return err
		}
		kept := recs[:0:0]
		for _, rc := range recs {
			off := h.BaseOffset + int64(rc.OffsetDelta)
			// A key not in the map has its latest record before the
			// cleaner offset, and only one there: this one.
			at, mappedKey := latest[string(rc.Key)]
			switch {
			case rc.Key == nil:
				kept = append(kept, rc)
			case mappedKey && at != off:
				removed++
			case rc.Value == nil && recordTime(h, rc) <= tombLimit:
				removed++
				tombs++
			default:
				if rc.Value == nil {
					if exp := recordTime(h, rc) + tombRetention; *nextTomb < 0 || exp < *nextTomb {
						*nextTomb = exp
					}
				}
				kept = append(kept, rc)
			}
		}
		switch {
		case len(kept) == len(recs):
			out = append(out, b...)
		case len(kept) == 0 && !(h.ProducerID >= 0 && lastOfProducer[h.ProducerID] == h.BaseOffset):
			// dropped whole
		default:
			nb, err := encodeBatch(h, kept)
			if err != nil {
				return err
			}
			out = append(out, nb...)
		}
		return nil
	})
	if err != nil {
		return nil, false, 0, 0, err
	}
	return out, removed > 0, removed, tombs, nil
}

func recordTime(h BatchHeader, r Record) int64 {
	if h.Attributes&attrLogAppendTime != 0 {
		return h.MaxTimestamp
	}
	return h.BaseTimestamp + r.TimestampDelta
}

// Maintain runs one retention pass and one compaction pass.
func (l *Log) Maintain(ctx context.Context) error {
	_, err1 := l.ApplyRetention()
	_, err2 := l.Compact(ctx)
	return errors.Join(err1, err2)
}

// CleanerInterval is how often RunCleaner maintains its log.
const CleanerInterval = 15 * time.Second

// RunCleaner maintains this one log at once and then every
// CleanerInterval until ctx is done (returning nil) or the log is closed
// (returning ErrClosed). A broker with many logs uses one Cleaner instead.
func (l *Log) RunCleaner(ctx context.Context) error {
	t := time.NewTicker(CleanerInterval)
	defer t.Stop()
	for {
		if err := l.Maintain(ctx); errors.Is(err, ErrClosed) {
			return err
		} else if err != nil && ctx.Err() == nil {
			l.logger.Warn("log maintenance failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Cleaner owns retention and compaction for many logs: one goroutine
// (the caller's, in Run) visits every registered log each interval. Add
// and Remove are safe for concurrent use with Run.
type Cleaner struct {
	interval time.Duration
	logger   *slog.Logger

	mu   sync.Mutex
	logs map[*Log]struct{}
}

// NewCleaner returns a Cleaner that visits its logs every interval.
func NewCleaner(interval time.Duration, logger *slog.Logger) *Cleaner {
	if logger == nil {
		logger = buildOptions(nil).logger
	}
	return &Cleaner{interval: interval, logger: logger, logs: map[*Log]struct{}{}}
}

// Add registers a log; Remove unregisters it. A closed log is dropped.
func (c *Cleaner) Add(l *Log) { c.mu.Lock(); c.logs[l] = struct{}{}; c.mu.Unlock() }

// Remove unregisters a log (it may still be in the middle of a pass).
func (c *Cleaner) Remove(l *Log) { c.mu.Lock(); delete(c.logs, l); c.mu.Unlock() }

// RunOnce maintains every registered log once.
func (c *Cleaner) RunOnce(ctx context.Context) {
	c.mu.Lock()
	logs := make([]*Log, 0, len(c.logs))
	for l := range c.logs {
		logs = append(logs, l)
	}
	c.mu.Unlock()
	for _, l := range logs {
		if ctx.Err() != nil {
			return
		}
		err := l.Maintain(ctx)
		switch {
		case errors.Is(err, ErrClosed):
			c.Remove(l)
		case err != nil && ctx.Err() == nil:
			c.logger.Warn("log maintenance failed", "log_dir", l.Dir(), "err", err)
		}
	}
}

// Run maintains the registered logs every interval (the first pass one
// interval after the start, so a starting broker opens its logs first)
// until ctx is done; it returns nil then. The caller owns the goroutine.
func (c *Cleaner) Run(ctx context.Context) error {
	interval := c.interval
	if interval <= 0 {
		interval = CleanerInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.RunOnce(ctx)
		}
	}
}
