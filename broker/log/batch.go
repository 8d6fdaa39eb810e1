package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Record batch v2 layout (big-endian), as Kafka defines it:
//
//	off  size field
//	0    8    baseOffset            assigned by the log; outside the CRC
//	8    4    batchLength           bytes after this field
//	12   4    partitionLeaderEpoch  outside the CRC
//	16   1    magic (2)
//	17   4    crc                   CRC-32C of bytes [21, end)
//	21   2    attributes            bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control
//	23   4    lastOffsetDelta
//	27   8    baseTimestamp
//	35   8    maxTimestamp
//	43   8    producerId
//	51   2    producerEpoch
//	53   4    baseSequence
//	57   4    recordCount
//	61   ...  records (compressed as one block when codec != 0)
const (
	batchHeaderSize   = 61
	batchLengthOffset = 8
	logOverhead       = 12 // baseOffset + batchLength
	magicOffset       = 16
	crcOffset         = 17
	attributesOffset  = 21
	maxTimestampOff   = 35

	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded fixed header of a v2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the length field; the batch is BatchLength+12 bytes
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the number of bytes of the whole batch.
func (h BatchHeader) Size() int { return int(h.BatchLength) + logOverhead }

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (h BatchHeader) Codec() int { return int(h.Attributes & attrCodecMask) }

// IsControl reports a transaction marker batch.
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// IsTransactional reports a batch written inside a transaction.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// ParseBatchHeader decodes the fixed header of the v2 batch at the start of
// b and checks magic and length (not the CRC; see checkBatch). b may hold
// more than one batch; only the first is looked at. Errors wrap
// ErrCorruptBatch.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < batchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrCorruptBatch, len(b))
	}
	h := BatchHeader{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[0:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[8:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[12:])),
		Magic:                int8(b[16]),
		CRC:                  binary.BigEndian.Uint32(b[17:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[21:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[23:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[27:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[35:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[43:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[51:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[53:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[57:])),
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d, want 2", ErrCorruptBatch, h.Magic)
	}
	if h.BatchLength < batchHeaderSize-logOverhead {
		return h, fmt.Errorf("%w: batch length %d below the header size", ErrCorruptBatch, h.BatchLength)
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 {
		return h, fmt.Errorf("%w: negative last offset delta %d or record count %d", ErrCorruptBatch, h.LastOffsetDelta, h.NumRecords)
	}
	return h, nil
}

// checkBatch validates the complete batch at the start of b: header, that
// b holds the whole batch, and the CRC. It returns the header.
func checkBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if int64(h.BatchLength)+logOverhead > int64(len(b)) {
		return h, fmt.Errorf("%w: batch length %d exceeds the %d bytes present", ErrCorruptBatch, h.BatchLength, len(b)-logOverhead)
	}
	end := h.Size()
	if got := crc32.Checksum(b[attributesOffset:end], castagnoli); got != h.CRC {
		return h, fmt.Errorf("%w: crc %08x, computed %08x", ErrCorruptBatch, h.CRC, got)
	}
	return h, nil
}

// setBaseOffset writes the base offset field; the CRC does not cover it.
func setBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[0:], uint64(off)) }

// setCRC recomputes the CRC of a complete batch after a header change
// that the CRC covers (attributes, max timestamp).
func setCRC(b []byte) {
	binary.BigEndian.PutUint32(b[crcOffset:], crc32.Checksum(b[attributesOffset:], castagnoli))
}
