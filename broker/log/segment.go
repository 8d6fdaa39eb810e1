package log

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	cleanedSuffix   = ".cleaned"
)

func segName(base int64, suffix string) string { return fmt.Sprintf("%020d%s", base, suffix) }

// parseSegName returns the base offset of a "<20 digits>.log" name.
func parseSegName(name string) (int64, bool) {
	s, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// segment is one .log file with its in-memory indexes. The active segment
// also keeps its index files open for appending. All fields are guarded by
// Log.mu.
type segment struct {
	fsys vfs.FS
	dir  string
	base int64

	f    vfs.File // the .log, O_APPEND
	size int64    // bytes of whole batches, pend included
	// pend holds the last bytes of the segment, appended but not yet
	// written to f (active segment, group commit only): the syncer
	// writes them right before its fsync, roll/TruncateTo/Close before
	// anything else. Reads go through ReadAt, which serves them.
	pend []byte
	next int64 // offset after the last batch (base when empty)

	maxTs, maxTsOff int64 // running maximum timestamp and its offset; -1 when empty
	created         time.Time

	// The indexes live in memory. The files of a closed segment are
	// written (atomically, fsynced) when it is rolled; the active
	// segment's only by Close: after a crash recovery rebuilds them from
	// the validated log anyway, so writing them on the append path would
	// cost syscalls and journal traffic for nothing.
	oidx          []offEntry
	tidx          []tsEntry
	sinceIdx      int   // bytes appended since the last offset entry
	lastIndexedTs int64 // timestamp of the last time entry
}

func (s *segment) logPath() string  { return path.Join(s.dir, segName(s.base, logSuffix)) }
func (s *segment) oidxPath() string { return path.Join(s.dir, segName(s.base, indexSuffix)) }
func (s *segment) tidxPath() string { return path.Join(s.dir, segName(s.base, timeIndexSuffix)) }

func (s *segment) empty() bool { return s.size == 0 }

// fileSize is the number of bytes in the .log file.
func (s *segment) fileSize() int64 { return s.size - int64(len(s.pend)) }

// ReadAt reads the segment's bytes at off: from the file, then from the
// pending buffer. Log.mu must be held (read or write).
func (s *segment) ReadAt(p []byte, off int64) (int, error) {
	fileEnd := s.fileSize()
	n := 0
	if off < fileEnd {
		want := p
		if rem := fileEnd - off; int64(len(want)) > rem {
			want = want[:rem]
		}
		m, err := s.f.ReadAt(want, off)
		n = m
		if m < len(want) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	if n == len(p) {
		return n, nil
	}
	at := off + int64(n) - fileEnd
	if at < 0 || at >= int64(len(s.pend)) {
		return n, io.EOF
	}
	n += copy(p[n:], s.pend[at:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// batchIter walks the batches of a segment file from a position, reading
// in chunks. It validates headers (and the CRC when verify is set) and
// stops at the first bad or incomplete batch.
type batchIter struct {
	f      io.ReaderAt
	pos    int64
	end    int64
	verify bool
	buf    []byte
	bufPos int64 // file position of buf[0]
	err    error // why the walk stopped early (nil at a clean end)
}

const iterChunk = 256 << 10

// next returns the header and the whole batch bytes (valid until the next
// call) or ok=false at the end or on a bad batch (see it.err).
func (it *batchIter) next() (BatchHeader, []byte, bool) {
	if it.pos >= it.end {
		return BatchHeader{}, nil, false
	}
	hb, err := it.window(it.pos, batchHeaderSize)
	if err != nil {
		it.err = err
		return BatchHeader{}, nil, false
	}
	h, err := ParseBatchHeader(hb)
	if err != nil {
		it.err = err
		return h, nil, false
	}
	if it.pos+int64(h.Size()) > it.end {
		it.err = fmt.Errorf("%w: batch of %d bytes runs past the end of the segment", ErrCorruptBatch, h.Size())
		return h, nil, false
	}
	b, err := it.window(it.pos, h.Size())
	if err != nil {
		it.err = err
		return h, nil, false
	}
	if it.verify {
		if _, err := checkBatch(b); err != nil {
			it.err = err
			return h, nil, false
		}
	}
	it.pos += int64(h.Size())
	return h, b, true
}

// window returns n bytes at file position pos, reading a new chunk when
// needed.
func (it *batchIter) window(pos int64, n int) ([]byte, error) {
	if pos >= it.bufPos && pos+int64(n) <= it.bufPos+int64(len(it.buf)) {
		return it.buf[pos-it.bufPos : pos-it.bufPos+int64(n)], nil
	}
	want := max(n, iterChunk)
	if rem := it.end - pos; int64(want) > rem {
		want = int(rem)
	}
	if want < n {
		return nil, fmt.Errorf("%w: %d bytes wanted at %d, %d left", ErrCorruptBatch, n, pos, it.end-pos)
	}
	if cap(it.buf) < want {
		it.buf = make([]byte, want)
	}
	it.buf = it.buf[:want]
	m, err := it.f.ReadAt(it.buf, pos)
	if err != nil && !(errors.Is(err, io.EOF) && m == want) {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: file ends at %d", ErrCorruptBatch, pos+int64(m))
		}
		return nil, err
	}
	it.bufPos = pos
	return it.buf[:n], nil
}

// scanResult is what a validating scan learned about a segment.
type scanResult struct {
	validSize int64
	next      int64
	maxTs     int64
	maxTsOff  int64
	firstTs   int64
	oidx      []offEntry
	tidx      []tsEntry
	sinceIdx  int
	lastTs    int64
	err       error // the reason validation stopped before the file end, if it did
}

// scan validates every batch of f (size bytes) by CRC and offset order and
// rebuilds the indexes. It stops at the first bad batch.
func scanSegment(f vfs.File, size, base int64, interval int) scanResult {
	r := scanResult{next: base, maxTs: -1, maxTsOff: -1, firstTs: -1, lastTs: -1}
	it := batchIter{f: f, end: size, verify: true}
	since := interval // index the first batch
	for {
		pos := it.pos
		h, _, ok := it.next()
		if !ok {
			r.err = it.err
			break
		}
		if h.BaseOffset < r.next || h.LastOffset()-base > maxRel {
			r.err = fmt.Errorf("%w: batch base offset %d below the expected %d", ErrCorruptBatch, h.BaseOffset, r.next)
			break
		}
		if since >= interval {
			r.oidx = append(r.oidx, offEntry{rel: uint32(h.BaseOffset - base), pos: uint32(pos)})
			if r.maxTs > r.lastTs {
				r.tidx = append(r.tidx, tsEntry{ts: r.maxTs, rel: uint32(r.maxTsOff - base)})
				r.lastTs = r.maxTs
			}
			since = 0
		}
		since += h.Size()
		if r.firstTs < 0 {
			r.firstTs = h.MaxTimestamp
		}
		if h.MaxTimestamp > r.maxTs {
			r.maxTs, r.maxTsOff = h.MaxTimestamp, maxTsOffset(h)
		}
		r.next = h.LastOffset() + 1
		r.validSize = it.pos
	}
	r.sinceIdx = since
	return r
}

// maxRel bounds relative offsets so they fit the u32 index fields.
const maxRel = 1<<32 - 1

// maxTsOffset is the offset credited with a batch's max timestamp: Kafka
// uses the last offset for v2 batches (the record is not looked up).
func maxTsOffset(h BatchHeader) int64 { return h.LastOffset() }

// finalTimeEntry adds the running maximum to the time index if it is not
// there yet, so a closed segment's last time entry is its max timestamp.
func (s *segment) finalTimeEntry() error {
	if s.maxTs <= s.lastIndexedTs || s.maxTs < 0 {
		return nil
	}
	if n := len(s.tidx); n > 0 && uint32(s.maxTsOff-s.base) <= s.tidx[n-1].rel {
		return nil
	}
	s.tidx = append(s.tidx, tsEntry{ts: s.maxTs, rel: uint32(s.maxTsOff - s.base)})
	s.lastIndexedTs = s.maxTs
	return nil
}

// writeIndexes writes both index files from memory (atomically, synced).
func (s *segment) writeIndexes() error {
	ob := indexHeader(offsetIndexMagic)
	for _, e := range s.oidx {
		ob = appendOffEntry(ob, e)
	}
	tb := indexHeader(timeIndexMagic)
	for _, e := range s.tidx {
		tb = appendTsEntry(tb, e)
	}
	if err := writeFileAtomic(s.fsys, s.dir, s.oidxPath(), ob); err != nil {
		return fmt.Errorf("writing offset index: %w", err)
	}
	if err := writeFileAtomic(s.fsys, s.dir, s.tidxPath(), tb); err != nil {
		return fmt.Errorf("writing time index: %w", err)
	}
	return nil
}

// indexBatch updates the in-memory and on-file indexes for a batch that is
// about to be written at position pos.
func (s *segment) indexBatch(h BatchHeader, pos int64, interval int) error {
	if s.sinceIdx >= interval || s.empty() {
		s.oidx = append(s.oidx, offEntry{rel: uint32(h.BaseOffset - s.base), pos: uint32(pos)})
		if s.maxTs > s.lastIndexedTs {
			if err := s.finalTimeEntry(); err != nil {
				return err
			}
		}
		s.sinceIdx = 0
	}
	s.sinceIdx += h.Size()
	return nil
}

// findBatch returns the position and header of the first batch whose last
// offset is >= offset, scanning from the sparse index; ok=false when the
// segment has none.
func (s *segment) findBatch(offset int64) (int64, BatchHeader, bool, error) {
	pos := int64(0)
	if offset > s.base {
		pos = lookupOffset(s.oidx, offset-s.base)
	}
	hb := make([]byte, batchHeaderSize)
	for pos < s.size {
		if _, err := s.ReadAt(hb, pos); err != nil {
			return 0, BatchHeader{}, false, fmt.Errorf("reading %s at %d: %w", s.logPath(), pos, err)
		}
		h, err := ParseBatchHeader(hb)
		if err != nil {
			return 0, h, false, &CorruptionError{Segment: s.logPath(), Offset: pos, Reason: err.Error()}
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return 0, BatchHeader{}, false, nil
}

// read returns whole batches from pos: at least the first (of size
// firstSize), then more while the total stays within maxBytes.
func (s *segment) read(pos int64, firstSize int, maxBytes int) ([]byte, error) {
	want := int64(max(maxBytes, firstSize))
	if rem := s.size - pos; want > rem {
		want = rem
	}
	buf := make([]byte, want)
	if _, err := s.ReadAt(buf, pos); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading %s at %d: %w", s.logPath(), pos, err)
	}
	// Cut at the last whole batch that fits.
	end := firstSize
	for end+batchHeaderSize <= len(buf) {
		h, err := ParseBatchHeader(buf[end:])
		if err != nil {
			return nil, &CorruptionError{Segment: s.logPath(), Offset: pos + int64(end), Reason: err.Error()}
		}
		if end+h.Size() > len(buf) || end+h.Size() > maxBytes {
			break
		}
		end += h.Size()
	}
	return buf[:end:end], nil
}

// closeFiles closes the log file without syncing.
func (s *segment) closeFiles() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// remove closes and deletes the segment's files (the caller syncs the dir).
func (s *segment) remove() error {
	_ = s.closeFiles()
	var errs []error
	for _, p := range []string{s.logPath(), s.oidxPath(), s.tidxPath()} {
		if err := s.fsys.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readFast serves a read with one ReadAt: from the sparse index entry
// below offset it reads enough to skip to the wanted batch and return
// maxBytes after it. ok=false when the wanted batch does not lie wholly in
// that window (the caller falls back to findBatch and read).
func (s *segment) readFast(offset int64, maxBytes, interval int) ([]byte, bool, error) {
	pos := int64(0)
	if offset > s.base {
		pos = lookupOffset(s.oidx, offset-s.base)
	}
	want := int64(max(maxBytes, 1) + interval + batchHeaderSize)
	if rem := s.size - pos; want > rem {
		want = rem
	}
	if want < batchHeaderSize {
		return nil, false, nil
	}
	buf := make([]byte, want)
	if _, err := s.ReadAt(buf, pos); err != nil && !errors.Is(err, io.EOF) {
		return nil, false, fmt.Errorf("reading %s at %d: %w", s.logPath(), pos, err)
	}
	at := 0
	for {
		if at+batchHeaderSize > len(buf) {
			return nil, false, nil
		}
		h, err := ParseBatchHeader(buf[at:])
		if err != nil {
			return nil, false, &CorruptionError{Segment: s.logPath(), Offset: pos + int64(at), Reason: err.Error()}
		}
		if at+h.Size() > len(buf) {
			return nil, false, nil
		}
		if h.LastOffset() >= offset {
			break
		}
		at += h.Size()
	}
	end := at
	for end+batchHeaderSize <= len(buf) {
		h, err := ParseBatchHeader(buf[end:])
		if err != nil {
			return nil, false, &CorruptionError{Segment: s.logPath(), Offset: pos + int64(end), Reason: err.Error()}
		}
		if end+h.Size() > len(buf) || (end > at && end-at+h.Size() > maxBytes) {
			break
		}
		end += h.Size()
	}
	return buf[at:end:end], true, nil
}
