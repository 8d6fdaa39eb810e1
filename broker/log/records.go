package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Record is one decoded record of a v2 batch. Key and Value alias the
// decoded (decompressed) buffer; nil means null.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key, Value     []byte
	Headers        []Header
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Codecs, as in the batch attributes.
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLZ4    = 3
	CodecZstd   = 4
)

// maxDecompressed bounds decompression so a small hostile batch cannot
// expand without limit.
const maxDecompressed = 256 << 20

var errShortRecords = errors.New("truncated records")

type reader struct {
	b   []byte
	err error
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortRecords
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n int64) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 {
		return nil
	}
	if n > int64(len(r.b)) {
		r.err = errShortRecords
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) nullable() []byte {
	n := r.varint()
	if r.err != nil || n < 0 {
		return nil
	}
	b := r.bytes(n)
	if b == nil && r.err == nil {
		b = []byte{}
	}
	return b
}

// decodeRecords returns the records of a complete, CRC-checked batch.
func decodeRecords(batch []byte, h BatchHeader) ([]Record, error) {
	body, err := decompress(h.Codec(), batch[batchHeaderSize:h.Size()])
	if err != nil {
		return nil, fmt.Errorf("%w: decompressing: %v", ErrCorruptBatch, err)
	}
	if h.NumRecords > int32(len(body)) { // each record takes at least one byte
		return nil, fmt.Errorf("%w: %d records in %d bytes", ErrCorruptBatch, h.NumRecords, len(body))
	}
	recs := make([]Record, 0, h.NumRecords)
	r := reader{b: body}
	for i := int32(0); i < h.NumRecords; i++ {
		l := r.varint()
		rb := r.bytes(l)
		if r.err != nil || l < 0 {
			return nil, fmt.Errorf("%w: record %d: bad length", ErrCorruptBatch, i)
		}
		rr := reader{b: rb}
		if len(rr.b) < 1 {
			return nil, fmt.Errorf("%w: record %d: empty", ErrCorruptBatch, i)
		}
		rec := Record{Attributes: int8(rr.b[0])}
		rr.b = rr.b[1:]
		rec.TimestampDelta = rr.varint()
		rec.OffsetDelta = int32(rr.varint())
		rec.Key = rr.nullable()
		rec.Value = rr.nullable()
		nh := rr.varint()
		if nh < 0 || nh > int64(len(rr.b)) {
			if rr.err == nil {
				rr.err = errShortRecords
			}
		}
		for j := int64(0); j < nh && rr.err == nil; j++ {
			k := rr.varint()
			kb := rr.bytes(k)
			v := rr.nullable()
			rec.Headers = append(rec.Headers, Header{Key: string(kb), Value: v})
		}
		if rr.err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrCorruptBatch, i, rr.err)
		}
		if rec.OffsetDelta < 0 || rec.OffsetDelta > h.LastOffsetDelta {
			return nil, fmt.Errorf("%w: record %d: offset delta %d outside the batch", ErrCorruptBatch, i, rec.OffsetDelta)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func appendRecord(dst []byte, rec Record) []byte {
	var body []byte
	body = append(body, byte(rec.Attributes))
	body = binary.AppendVarint(body, rec.TimestampDelta)
	body = binary.AppendVarint(body, int64(rec.OffsetDelta))
	body = appendNullable(body, rec.Key)
	body = appendNullable(body, rec.Value)
	body = binary.AppendVarint(body, int64(len(rec.Headers)))
	for _, hd := range rec.Headers {
		body = binary.AppendVarint(body, int64(len(hd.Key)))
		body = append(body, hd.Key...)
		body = appendNullable(body, hd.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendNullable(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// encodeBatch builds a complete v2 batch from h (BatchLength, CRC and
// NumRecords are computed) and recs, compressed with h's codec.
func encodeBatch(h BatchHeader, recs []Record) ([]byte, error) {
	var raw []byte
	for _, r := range recs {
		raw = appendRecord(raw, r)
	}
	body, err := compress(h.Codec(), raw)
	if err != nil {
		return nil, err
	}
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(body))
	binary.BigEndian.PutUint64(b[0:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(b[12:], uint32(h.PartitionLeaderEpoch))
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(h.Attributes))
	binary.BigEndian.PutUint32(b[23:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(b[27:], uint64(h.BaseTimestamp))
	binary.BigEndian.PutUint64(b[35:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(b[43:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[51:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[53:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[57:], uint32(len(recs)))
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-logOverhead))
	setCRC(b)
	return b, nil
}

// xerialMagic starts Kafka's (Java's) framed snappy: magic, then two int32
// versions, then chunks of [int32 length][snappy block].
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

func decompress(codec int, b []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return b, nil
	case CodecGzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return readLimited(zr)
	case CodecSnappy:
		if bytes.HasPrefix(b, xerialMagic) {
			return unxerial(b)
		}
		return snappyBlock(b)
	case CodecLZ4:
		zr := lz4Readers.Get().(*lz4.Reader)
		defer lz4Readers.Put(zr)
		zr.Reset(bytes.NewReader(b))
		return readLimited(zr)
	case CodecZstd:
		dec, err := zstdCodec()
		if err != nil {
			return nil, err
		}
		return dec.d.DecodeAll(b, nil)
	default:
		return nil, fmt.Errorf("unknown codec %d", codec)
	}
}

func snappyBlock(b []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(b)
	if err != nil {
		return nil, err
	}
	if n > maxDecompressed {
		return nil, fmt.Errorf("snappy block of %d bytes too large", n)
	}
	return snappy.Decode(nil, b)
}

func unxerial(b []byte) ([]byte, error) {
	if len(b) < 16 {
		return nil, errors.New("short xerial snappy header")
	}
	b = b[16:]
	var out []byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errors.New("short xerial snappy chunk length")
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return nil, errors.New("xerial snappy chunk past the end")
		}
		d, err := snappyBlock(b[:n])
		if err != nil {
			return nil, err
		}
		if len(out)+len(d) > maxDecompressed {
			return nil, errors.New("xerial snappy data too large")
		}
		out = append(out, d...)
		b = b[n:]
	}
	return out, nil
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDecompressed {
		return nil, errors.New("decompressed data too large")
	}
	return b, nil
}

func compress(codec int, b []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case CodecNone:
		return b, nil
	case CodecGzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case CodecSnappy:
		// A raw snappy block, as franz-go writes; Java reads it too.
		return snappy.Encode(nil, b), nil
	case CodecLZ4:
		w := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(w)
		w.Reset(&buf)
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case CodecZstd:
		c, err := zstdCodec()
		if err != nil {
			return nil, err
		}
		return c.e.EncodeAll(b, nil), nil
	default:
		return nil, fmt.Errorf("unknown codec %d", codec)
	}
	return buf.Bytes(), nil
}

// zstd encoders and decoders are expensive to build and safe for
// concurrent EncodeAll/DecodeAll: build one pair, lazily.
type zstdPair struct {
	e *zstd.Encoder
	d *zstd.Decoder
}

var zstdOnce = sync.OnceValues(func() (*zstdPair, error) {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecompressed))
	if err != nil {
		return nil, err
	}
	return &zstdPair{e: e, d: d}, nil
})

func zstdCodec() (*zstdPair, error) { return zstdOnce() }

// lz4 readers and writers hold large buffers; reuse them.
var (
	lz4Readers = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	lz4Writers = sync.Pool{New: func() any { return lz4.NewWriter(nil) }}
)
