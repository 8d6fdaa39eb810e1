package kafkaproto

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Record is one record of a v2 batch as the broker itself writes and reads
// them (internal topics, up-converted legacy messages). A nil Key is a
// keyless record; a nil Value is a tombstone. Headers are skipped on read
// and never written. Timestamp is only used by AppendBatch (0: the batch's).
type Record struct {
	Key, Value []byte
	Timestamp  int64
}

// AppendBatch appends an uncompressed v2 batch of recs (at least one) with
// base offset 0 (the log assigns the real one), each record at its
// Timestamp or else at ts, no producer id, and a correct CRC.
func AppendBatch(dst []byte, ts int64, recs []Record) []byte {
	start := len(dst)
	be := binary.BigEndian
	base, maxTS := int64(math.MaxInt64), int64(math.MinInt64)
	stamp := func(r Record) int64 {
		if r.Timestamp != 0 {
			return r.Timestamp
		}
		return ts
	}
	for _, r := range recs {
		base, maxTS = min(base, stamp(r)), max(maxTS, stamp(r))
	}
	dst = be.AppendUint64(dst, 0) // base offset
	dst = be.AppendUint32(dst, 0) // batch length, patched below
	dst = be.AppendUint32(dst, 0) // partition leader epoch
	dst = append(dst, 2)          // magic
	dst = be.AppendUint32(dst, 0) // crc, patched below
	dst = be.AppendUint16(dst, 0) // attributes
	dst = be.AppendUint32(dst, uint32(len(recs)-1))
	dst = be.AppendUint64(dst, uint64(base))  // base timestamp
	dst = be.AppendUint64(dst, uint64(maxTS)) // max timestamp
	dst = be.AppendUint64(dst, ^uint64(0))    // producer id -1
	dst = be.AppendUint16(dst, 0xffff)        // producer epoch -1
	dst = be.AppendUint32(dst, 0xffffffff)    // base sequence -1
	dst = be.AppendUint32(dst, uint32(len(recs)))
	var body []byte
	for i, r := range recs {
		body = body[:0]
		body = append(body, 0)                          // attributes
		body = binary.AppendVarint(body, stamp(r)-base) // timestamp delta
		body = binary.AppendVarint(body, int64(i))      // offset delta
		body = appendVarintBytes(body, r.Key)
		body = appendVarintBytes(body, r.Value)
		body = binary.AppendVarint(body, 0) // headers
		dst = binary.AppendVarint(dst, int64(len(body)))
		dst = append(dst, body...)
	}
	be.PutUint32(dst[start+8:], uint32(len(dst)-start-12))
	be.PutUint32(dst[start+17:], crc32.Checksum(dst[start+21:], castagnoli))
	return dst
}

func appendVarintBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(b))), b...)
}

// ForEachRecord decodes the uncompressed records section of a batch (the
// bytes after the header, decompressed if the batch is compressed) and
// calls fn for each of the header's NumRecords records with its offset
// delta. Returned slices alias records. Malformed input is ErrCorruptBatch.
func ForEachRecord(h BatchHeader, records []byte, fn func(offsetDelta int32, r Record) error) error {
	b := records
	for i := int32(0); i < h.NumRecords; i++ {
		length, n := binary.Varint(b)
		if n <= 0 || length < 0 || length > int64(len(b)-n) {
			return fmt.Errorf("%w: record %d length", ErrCorruptBatch, i)
		}
		rec := b[n : n+int(length)]
		b = b[n+int(length):]
		if len(rec) < 1 {
			return fmt.Errorf("%w: record %d empty", ErrCorruptBatch, i)
		}
		rec = rec[1:] // attributes
		var delta int64
		var ok bool
		if _, rec, ok = readVarint(rec); !ok { // timestamp delta
			return fmt.Errorf("%w: record %d timestamp", ErrCorruptBatch, i)
		}
		if delta, rec, ok = readVarint(rec); !ok || delta < 0 || delta > int64(h.LastOffsetDelta) {
			return fmt.Errorf("%w: record %d offset delta", ErrCorruptBatch, i)
		}
		var r Record
		if r.Key, rec, ok = readVarintBytes(rec); !ok {
			return fmt.Errorf("%w: record %d key", ErrCorruptBatch, i)
		}
		if r.Value, _, ok = readVarintBytes(rec); !ok {
			return fmt.Errorf("%w: record %d value", ErrCorruptBatch, i)
		}
		if err := fn(int32(delta), r); err != nil {
			return err
		}
	}
	return nil
}

func readVarint(b []byte) (int64, []byte, bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, false
	}
	return v, b[n:], true
}

func readVarintBytes(b []byte) ([]byte, []byte, bool) {
	l, rest, ok := readVarint(b)
	switch {
	case !ok || l < -1 || l > int64(len(rest)):
		return nil, nil, false
	case l == -1:
		return nil, rest, true
	}
	return rest[:l:l], rest[l:], true
}
