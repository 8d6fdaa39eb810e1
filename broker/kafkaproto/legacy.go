package kafkaproto

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Legacy message sets (magic 0 and 1) are what Produce v0-v2 carry. The
// broker stores only v2 batches, so they are up-converted on produce.
//
//	message set entry:
//	offset int64 | message_size int32 | crc uint32 (IEEE, of magic..end) |
//	magic int8 | attributes int8 (low 3 bits: codec; magic 1 bit 3: log append time) |
//	[timestamp int64, magic 1 only] | key int32-length bytes (-1 null) |
//	value int32-length bytes (-1 null)
//
// A compressed message (codec != 0) is a wrapper whose value is the
// compressed inner message set, inner messages in order.

// Decompressor decompresses a legacy wrapper's value for codec (1 gzip,
// 2 snappy, 3 lz4; as record batches number them).
type Decompressor func(codec int8, b []byte) ([]byte, error)

// legacyMaxDepth bounds wrapper nesting (Kafka allows one level).
const legacyMaxDepth = 2

// ConvertMessageSet up-converts a legacy message set into the records of
// one v2 batch, in order. Magic 0 messages, which carry no timestamp, get
// now. CRCs are checked; any malformation is ErrCorruptBatch.
func ConvertMessageSet(set []byte, now int64, decompress Decompressor) ([]Record, error) {
	var out []Record
	if err := convertSet(set, now, decompress, 0, &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty message set", ErrCorruptBatch)
	}
	return out, nil
}

func convertSet(set []byte, now int64, decompress Decompressor, depth int, out *[]Record) error {
	for len(set) > 0 {
		if len(set) < 12 {
			return fmt.Errorf("%w: %d trailing bytes in a message set", ErrCorruptBatch, len(set))
		}
		size := int32(binary.BigEndian.Uint32(set[8:]))
		if size < 14 || int(size) > len(set)-12 {
			return fmt.Errorf("%w: message size %d", ErrCorruptBatch, size)
		}
		msg := set[12 : 12+size]
		set = set[12+size:]
		if got, want := crc32.ChecksumIEEE(msg[4:]), binary.BigEndian.Uint32(msg); got != want {
			return fmt.Errorf("%w: message crc %08x, computed %08x", ErrCorruptBatch, want, got)
		}
		magic, attrs := int8(msg[4]), int8(msg[5])
		body := msg[6:]
		ts := now
		switch magic {
		case 0:
		case 1:
			if len(body) < 8 {
				return fmt.Errorf("%w: magic 1 message without a timestamp", ErrCorruptBatch)
			}
			if t := int64(binary.BigEndian.Uint64(body)); t >= 0 {
				ts = t
			}
			body = body[8:]
		default:
			return fmt.Errorf("%w: message magic %d in a legacy message set", ErrCorruptBatch, magic)
		}
		key, body, ok := readInt32Bytes(body)
		if !ok {
			return fmt.Errorf("%w: message key", ErrCorruptBatch)
		}
		value, _, ok := readInt32Bytes(body)
		if !ok {
			return fmt.Errorf("%w: message value", ErrCorruptBatch)
		}
		codec := attrs & AttrCompressionMask
		if codec == 0 {
			*out = append(*out, Record{Key: key, Value: value, Timestamp: ts})
			continue
		}
		if depth+1 >= legacyMaxDepth || decompress == nil || value == nil {
			return fmt.Errorf("%w: compressed message nested too deep or empty", ErrCorruptBatch)
		}
		inner, err := decompress(codec, value)
		if err != nil {
			return fmt.Errorf("%w: decompressing codec %d: %w", ErrCorruptBatch, codec, err)
		}
		if err := convertSet(inner, now, decompress, depth+1, out); err != nil {
			return err
		}
	}
	return nil
}

func readInt32Bytes(b []byte) ([]byte, []byte, bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := int32(binary.BigEndian.Uint32(b))
	b = b[4:]
	switch {
	case n == -1:
		return nil, b, true
	case n < -1 || int(n) > len(b):
		return nil, nil, false
	}
	return b[:n:n], b[n:], true
}

// AppendLegacyMessage appends one uncompressed legacy message (offset 0)
// to dst: a test and tooling helper, the inverse of ConvertMessageSet.
func AppendLegacyMessage(dst []byte, magic int8, ts int64, key, value []byte) []byte {
	var msg []byte
	msg = append(msg, 0, 0, 0, 0, byte(magic), 0)
	if magic == 1 {
		msg = binary.BigEndian.AppendUint64(msg, uint64(ts))
	}
	msg = appendInt32Bytes(msg, key)
	msg = appendInt32Bytes(msg, value)
	binary.BigEndian.PutUint32(msg, crc32.ChecksumIEEE(msg[4:]))
	dst = binary.BigEndian.AppendUint64(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

func appendInt32Bytes(dst, b []byte) []byte {
	if b == nil {
		return binary.BigEndian.AppendUint32(dst, 0xffffffff)
	}
	return append(binary.BigEndian.AppendUint32(dst, uint32(len(b))), b...)
}
