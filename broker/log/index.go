package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/sluicehq/sluice/internal/vfs"
)

// Index files (ours, not Kafka's) start with an 8-byte header:
//
//	magic[4] ("SLOI" offset index, "SLTI" time index) | version u8 (1) | reserved[3] (0)
//
// then fixed-size big-endian entries:
//
//	offset index: relOffset u32 | position u32          (8 bytes)
//	time index:   timestamp i64 | relOffset u32         (12 bytes)
//
// relOffset is relative to the segment's base offset. Offset entries are
// sparse (one per IndexIntervalBytes of log); each names the first byte of
// a batch whose base offset is base+relOffset. A time entry (T, O) means
// every record at an offset <= base+O has a timestamp <= T, and the record
// at base+O has timestamp T (the running maximum). Both are strictly
// increasing. Version 1 is the only version; readers accept versions 1.
// Migration: a reader that does not know a version rebuilds the index from
// the .log, so a format change costs one scan, never data.
const (
	indexVersion    = 1
	indexHeaderSize = 8
	offEntrySize    = 8
	tsEntrySize     = 12
)

var (
	offsetIndexMagic = [4]byte{'S', 'L', 'O', 'I'}
	timeIndexMagic   = [4]byte{'S', 'L', 'T', 'I'}
)

type offEntry struct {
	rel uint32
	pos uint32
}

type tsEntry struct {
	ts  int64
	rel uint32
}

var errBadIndex = errors.New("bad index")

func indexHeader(magic [4]byte) []byte {
	h := make([]byte, indexHeaderSize)
	copy(h, magic[:])
	h[4] = indexVersion
	return h
}

func appendOffEntry(b []byte, e offEntry) []byte {
	b = binary.BigEndian.AppendUint32(b, e.rel)
	return binary.BigEndian.AppendUint32(b, e.pos)
}

func appendTsEntry(b []byte, e tsEntry) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.ts))
	return binary.BigEndian.AppendUint32(b, e.rel)
}

// decodeOffsetIndex parses an offset index and checks it against the
// segment: entries strictly increasing and inside the log's size and
// offset range. A trailing partial entry is an error (the index is then
// rebuilt).
func decodeOffsetIndex(b []byte, logSize int64, relEnd int64) ([]offEntry, error) {
	if err := checkIndexHeader(b, offsetIndexMagic); err != nil {
		return nil, err
	}
	b = b[indexHeaderSize:]
	if len(b)%offEntrySize != 0 {
		return nil, fmt.Errorf("%w: partial entry", errBadIndex)
	}
	out := make([]offEntry, 0, len(b)/offEntrySize)
	for i := 0; i < len(b); i += offEntrySize {
		e := offEntry{rel: binary.BigEndian.Uint32(b[i:]), pos: binary.BigEndian.Uint32(b[i+4:])}
		if int64(e.pos)+batchHeaderSize > logSize || int64(e.rel) >= relEnd {
			return nil, fmt.Errorf("%w: entry %d past the log", errBadIndex, i/offEntrySize)
		}
		if n := len(out); n > 0 && (e.rel <= out[n-1].rel || e.pos <= out[n-1].pos) {
			return nil, fmt.Errorf("%w: entry %d not increasing", errBadIndex, i/offEntrySize)
		}
		out = append(out, e)
	}
	return out, nil
}

func decodeTimeIndex(b []byte, relEnd int64) ([]tsEntry, error) {
	if err := checkIndexHeader(b, timeIndexMagic); err != nil {
		return nil, err
	}
	b = b[indexHeaderSize:]
	if len(b)%tsEntrySize != 0 {
		return nil, fmt.Errorf("%w: partial entry", errBadIndex)
	}
	out := make([]tsEntry, 0, len(b)/tsEntrySize)
	for i := 0; i < len(b); i += tsEntrySize {
		e := tsEntry{ts: int64(binary.BigEndian.Uint64(b[i:])), rel: binary.BigEndian.Uint32(b[i+8:])}
		if int64(e.rel) >= relEnd {
			return nil, fmt.Errorf("%w: entry %d past the log", errBadIndex, i/tsEntrySize)
		}
		if n := len(out); n > 0 && (e.ts <= out[n-1].ts || e.rel <= out[n-1].rel) {
			return nil, fmt.Errorf("%w: entry %d not increasing", errBadIndex, i/tsEntrySize)
		}
		out = append(out, e)
	}
	return out, nil
}

func checkIndexHeader(b []byte, magic [4]byte) error {
	if len(b) < indexHeaderSize {
		return fmt.Errorf("%w: short header", errBadIndex)
	}
	if [4]byte(b[:4]) != magic {
		return fmt.Errorf("%w: magic %q", errBadIndex, b[:4])
	}
	if b[4] != indexVersion {
		return fmt.Errorf("%w: version %d", errBadIndex, b[4])
	}
	return nil
}

// lookupOffset returns the position to start scanning for offset.
func lookupOffset(idx []offEntry, rel int64) int64 {
	i := sort.Search(len(idx), func(i int) bool { return int64(idx[i].rel) > rel })
	if i == 0 {
		return 0
	}
	return int64(idx[i-1].pos)
}

// readWhole reads a whole file.
func readWhole(fsys vfs.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sz, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, sz)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// writeFileAtomic writes data to name via a synced temporary file and a
// rename, then syncs the directory.
func writeFileAtomic(fsys vfs.FS, dir, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}
