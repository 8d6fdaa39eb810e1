package log

import (
	"errors"
	"fmt"
)

var (
	// ErrCorruptBatch: a batch failed the magic, length or CRC-32C check.
	// The server maps it to CORRUPT_MESSAGE.
	ErrCorruptBatch = errors.New("log: corrupt record batch")
	// ErrKeylessCompacted: a record without a key was appended to a
	// compacted log (INVALID_RECORD).
	ErrKeylessCompacted = errors.New("log: compacted log requires a key on every record")
	// ErrOffsetOutOfRange: an offset below the log start or above the log end.
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	// ErrOffsetOutOfOrder: AppendReplica got a batch whose base offset is
	// below the log end offset or does not follow the previous batch.
	ErrOffsetOutOfOrder = errors.New("log: replica batch offsets out of order")
	// ErrRecordTooLarge: a batch larger than Config.MaxMessageBytes
	// (MESSAGE_TOO_LARGE).
	ErrRecordTooLarge = errors.New("log: record batch too large")
	// ErrClosed: the log was closed or deleted.
	ErrClosed = errors.New("log: closed")
	// ErrInvalidConfig: a Config field is out of range.
	ErrInvalidConfig = errors.New("log: invalid config")
	// ErrFailed: an earlier fsync or write failed; the log refuses further
	// writes until it is reopened (the state on disk is unknown).
	ErrFailed = errors.New("log: failed after an I/O error; reopen to recover")
)

// CorruptionError reports corrupt data found on disk: the segment file and
// the byte position (Offset) within it where valid data ends.
type CorruptionError struct {
	Segment string
	Offset  int64
	Reason  string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("log: corruption in %s at byte %d: %s", e.Segment, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorruptBatch) true for corruption on disk.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorruptBatch }
