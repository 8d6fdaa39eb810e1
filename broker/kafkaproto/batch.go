package kafkaproto

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// BatchHeaderSize is the size of a v2 record batch header.
//
//	offset  size field
//	0       8    base_offset
//	8       4    batch_length (bytes after this field)
//	12      4    partition_leader_epoch
//	16      1    magic (2)
//	17      4    crc (CRC-32C of bytes 21..end)
//	21      2    attributes
//	23      4    last_offset_delta
//	27      8    base_timestamp
//	35      8    max_timestamp
//	43      8    producer_id
//	51      2    producer_epoch
//	53      4    base_sequence
//	57      4    records_count
//	61           records
const BatchHeaderSize = 61

// Offsets of fields the broker rewrites; both lie outside the CRC.
const (
	BatchBaseOffsetAt           = 0
	BatchPartitionLeaderEpochAt = 12
)

// Batch attribute bits.
const (
	AttrCompressionMask = 0x07
	AttrTimestampType   = 0x08
	AttrTransactional   = 0x10
	AttrControl         = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded header of one v2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // batch_length; the batch is Length+12 bytes
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

// Size is the full size of the batch in bytes.
func (h BatchHeader) Size() int { return int(h.Length) + 12 }

// LastSequence is the sequence of the batch's last record (sequences wrap
// at MaxInt32 back to 0, as in Kafka).
func (h BatchHeader) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	return int32((int64(h.BaseSequence) + int64(h.LastOffsetDelta)) % (1 << 31))
}

// Idempotent reports whether the batch carries a producer id.
func (h BatchHeader) Idempotent() bool { return h.ProducerID >= 0 }

// ParseBatchHeader decodes the header at the start of b without checking the
// CRC. It fails with ErrCorruptBatch if b is shorter than a header, the magic
// is not 2, or the length is impossible. b may hold more than one batch.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	var h BatchHeader
	if len(b) < BatchHeaderSize {
		return h, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrCorruptBatch, len(b))
	}
	be := binary.BigEndian
	h.BaseOffset = int64(be.Uint64(b[0:]))
	h.Length = int32(be.Uint32(b[8:]))
	h.PartitionLeaderEpoch = int32(be.Uint32(b[12:]))
	h.Magic = int8(b[16])
	h.CRC = be.Uint32(b[17:])
	h.Attributes = int16(be.Uint16(b[21:]))
	h.LastOffsetDelta = int32(be.Uint32(b[23:]))
	h.BaseTimestamp = int64(be.Uint64(b[27:]))
	h.MaxTimestamp = int64(be.Uint64(b[35:]))
	h.ProducerID = int64(be.Uint64(b[43:]))
	h.ProducerEpoch = int16(be.Uint16(b[51:]))
	h.BaseSequence = int32(be.Uint32(b[53:]))
	h.NumRecords = int32(be.Uint32(b[57:]))
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d, want 2", ErrCorruptBatch, h.Magic)
	}
	if h.Length < BatchHeaderSize-12 {
		return h, fmt.Errorf("%w: batch length %d", ErrCorruptBatch, h.Length)
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 {
		return h, fmt.Errorf("%w: last offset delta %d, %d records", ErrCorruptBatch, h.LastOffsetDelta, h.NumRecords)
	}
	return h, nil
}

// ValidateBatch checks that b is exactly one v2 batch with a correct CRC and
// returns its header. Errors wrap ErrCorruptBatch.
func ValidateBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, fmt.Errorf("%w: batch of %d bytes in %d bytes of records", ErrCorruptBatch, h.Size(), len(b))
	}
	if got := crc32.Checksum(b[21:], castagnoli); got != h.CRC {
		return h, fmt.Errorf("%w: crc %08x, computed %08x", ErrCorruptBatch, h.CRC, got)
	}
	return h, nil
}

// SplitBatches calls fn for each complete v2 batch in b (as a Fetch or a log
// read returns them; a trailing partial batch is ignored). It stops at the
// first header that does not parse and returns that error.
func SplitBatches(b []byte, fn func(h BatchHeader, batch []byte) bool) error {
	for len(b) >= BatchHeaderSize {
		h, err := ParseBatchHeader(b)
		if err != nil {
			return err
		}
		if h.Size() > len(b) {
			return nil
		}
		if !fn(h, b[:h.Size()]) {
			return nil
		}
		b = b[h.Size():]
	}
	return nil
}
