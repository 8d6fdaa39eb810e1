package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path"
	"sort"
)

// The leader epoch cache (Kafka's leader-epoch-checkpoint): for each
// leader epoch seen in the log, the first offset written in it. Entries
// strictly increase in both epoch and start offset. It lives in memory
// (Log.epochs, guarded by Log.mu) and in "epochs.checkpoint", replaced
// atomically (temporary file, fsync, rename, fsync of the directory):
//
//	magic[4] "SLEP" | version u8 (1) | reserved[3] | count u32 |
//	count × (epoch i32 | startOffset i64) | crc32c u32 (of the preceding bytes)
//
// Crash ordering, which Open relies on:
//   - a new entry is persisted before the first batch of its epoch is
//     written, so a durable batch always has its entry on disk;
//   - TruncateTo cuts (and fsyncs) the data before rewriting the file, and
//     a log start move persists meta.checkpoint before this file.
//
// So the file may only be ahead of the data: Open drops entries starting
// at or after the recovered end offset and clips the first entry to the
// log start offset (keeping an entry at the start of an empty log). A missing or corrupt file is rebuilt from the batch
// headers (every partitionLeaderEpoch >= 0, in offset order) and written.
// Version 1 is the only version.
const (
	epochsName       = "epochs.checkpoint"
	epochsVersion    = 1
	epochEntrySize   = 4 + 8
	epochsHeaderSize = 4 + 4 + 4
)

var epochsMagic = [4]byte{'S', 'L', 'E', 'P'}

// epochEntry: the first offset written with leader epoch epoch.
type epochEntry struct {
	epoch int32
	start int64
}

func encodeEpochs(es []epochEntry) []byte {
	b := make([]byte, 0, epochsHeaderSize+len(es)*epochEntrySize+4)
	b = append(b, epochsMagic[:]...)
	b = append(b, epochsVersion, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(es)))
	for _, e := range es {
		b = binary.BigEndian.AppendUint32(b, uint32(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.start))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeEpochs parses an epochs.checkpoint file. It rejects a bad magic,
// version, size or CRC, and entries that are not strictly increasing in
// epoch and start offset or that are negative.
func decodeEpochs(b []byte) ([]epochEntry, error) {
	if len(b) < epochsHeaderSize+4 || [4]byte(b[:4]) != epochsMagic {
		return nil, errors.New("epochs: bad size or magic")
	}
	if b[4] != epochsVersion {
		return nil, fmt.Errorf("epochs: unknown version %d", b[4])
	}
	n := binary.BigEndian.Uint32(b[8:])
	if uint64(len(b)) != epochsHeaderSize+uint64(n)*epochEntrySize+4 {
		return nil, fmt.Errorf("epochs: %d entries do not fit %d bytes", n, len(b))
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, errors.New("epochs: crc mismatch")
	}
	es := make([]epochEntry, n)
	for i := range es {
		p := b[epochsHeaderSize+i*epochEntrySize:]
		es[i] = epochEntry{epoch: int32(binary.BigEndian.Uint32(p)), start: int64(binary.BigEndian.Uint64(p[4:]))}
		if es[i].epoch < 0 || es[i].start < 0 || (i > 0 && (es[i].epoch <= es[i-1].epoch || es[i].start <= es[i-1].start)) {
			return nil, fmt.Errorf("epochs: entry %d (%d, %d) out of order", i, es[i].epoch, es[i].start)
		}
	}
	return es, nil
}

// assignEpoch returns the cache with (epoch, start) added when epoch is
// greater than the latest; changed reports whether it differs. Entries
// starting at or after start are replaced (possible only when the log
// start moved onto the end offset), keeping start offsets increasing.
func assignEpoch(es []epochEntry, epoch int32, start int64) ([]epochEntry, bool) {
	if epoch < 0 || (len(es) > 0 && epoch <= es[len(es)-1].epoch) {
		return es, false
	}
	for len(es) > 0 && es[len(es)-1].start >= start {
		es = es[:len(es)-1]
	}
	return append(es, epochEntry{epoch: epoch, start: start}), true
}

// truncateEpochsFromEnd drops the entries starting at or after end,
// except one starting at the log start (an empty log keeps the entry that
// covers its start, as DeleteRecordsBefore(EndOffset()) leaves it).
func truncateEpochsFromEnd(es []epochEntry, end, logStart int64) ([]epochEntry, bool) {
	end = max(end, logStart+1)
	i := sort.Search(len(es), func(i int) bool { return es[i].start >= end })
	return es[:i], i < len(es)
}

// truncateEpochsFromStart drops the entries wholly below start (those
// followed by an entry starting at or before it) and moves the first
// remaining entry's start up to start.
func truncateEpochsFromStart(es []epochEntry, start int64) ([]epochEntry, bool) {
	changed := false
	for len(es) > 1 && es[1].start <= start {
		es, changed = es[1:], true
	}
	if len(es) > 0 && es[0].start < start {
		es = append([]epochEntry{{epoch: es[0].epoch, start: start}}, es[1:]...)
		changed = true
	}
	return es, changed
}

// setEpochsLocked installs es as the cache and persists it when changed.
// A failed write fails the log: the file could then lag the data, which
// the crash ordering above rules out.
func (l *Log) setEpochsLocked(es []epochEntry, changed bool) error {
	l.epochs = es
	if !changed {
		return nil
	}
	if err := writeFileAtomic(l.fsys, l.dir, path.Join(l.dir, epochsName), encodeEpochs(es)); err != nil {
		l.failed = fmt.Errorf("writing leader epoch checkpoint: %w", err)
		return l.failed
	}
	return nil
}

// loadEpochsLocked reads the epoch cache at Open (after segment recovery
// and the start offset are settled), rebuilding it from the batch headers
// when the file is missing or corrupt, and reconciles it with the data.
func (l *Log) loadEpochsLocked() error {
	b, err := readWhole(l.fsys, path.Join(l.dir, epochsName))
	var es []epochEntry
	if err == nil {
		es, err = decodeEpochs(b)
		if err != nil {
			l.logger.Warn("leader epoch checkpoint unreadable; rebuilding it from the batch headers", "err", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading leader epoch checkpoint: %w", err)
	}
	changed := false
	if err != nil {
		if es, err = l.scanEpochsLocked(); err != nil {
			return err
		}
		changed = true
	}
	es, c1 := truncateEpochsFromEnd(es, l.active().next, l.start)
	es, c2 := truncateEpochsFromStart(es, l.start)
	return l.setEpochsLocked(es, changed || c1 || c2)
}

// scanEpochsLocked rebuilds the epoch cache from every batch header at or
// after the log start.
func (l *Log) scanEpochsLocked() ([]epochEntry, error) {
	var es []epochEntry
	for _, s := range l.segs {
		it := batchIter{f: s.f, end: s.size}
		for {
			h, _, ok := it.next()
			if !ok {
				if it.err != nil {
					return nil, &CorruptionError{Segment: s.logPath(), Offset: it.pos, Reason: it.err.Error()}
				}
				break
			}
			if h.LastOffset() >= l.start {
				es, _ = assignEpoch(es, h.PartitionLeaderEpoch, max(h.BaseOffset, l.start))
			}
		}
	}
	return es, nil
}

// LatestEpoch is the largest leader epoch carried by a batch in the log
// (the last entry of the leader epoch cache), or -1 when none carries an
// epoch >= 0.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.epochs) == 0 {
		return -1
	}
	return l.epochs[len(l.epochs)-1].epoch
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader epoch
// cache: for the largest cached epoch <= epoch it returns that epoch and
// the start offset of the next cached epoch, or EndOffset() when it is
// the latest (so an epoch above the latest also gives (latest,
// EndOffset())); (-1, -1) when epoch is below the first cached epoch or
// the cache is empty. Kafka differs in two corner cases: it answers
// (-1, -1) for an epoch above the latest, and (epoch, first start offset)
// for an epoch below the first.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	es := l.epochs
	i := sort.Search(len(es), func(i int) bool { return es[i].epoch > epoch }) - 1
	if i < 0 {
		return -1, -1
	}
	if i == len(es)-1 {
		return es[i].epoch, l.active().next
	}
	return es[i].epoch, es[i+1].start
}
