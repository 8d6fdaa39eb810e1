package kafkaproto

import (
	"errors"
	"fmt"
)

var (
	// ErrFrameTooLarge is matched by a *FrameTooLargeError.
	ErrFrameTooLarge = errors.New("kafkaproto: frame larger than socket.request.max.bytes")
	// ErrNegativeFrameSize reports a size prefix below zero.
	ErrNegativeFrameSize = errors.New("kafkaproto: negative frame size")
	// ErrTruncatedHeader reports a frame too short for its request header.
	ErrTruncatedHeader = errors.New("kafkaproto: truncated request header")
	// ErrUnsupported is matched by an *UnsupportedError.
	ErrUnsupported = errors.New("kafkaproto: unsupported api key or version")
	// ErrMalformedBody reports a request body that kmsg could not decode.
	ErrMalformedBody = errors.New("kafkaproto: malformed request body")
	// ErrCorruptBatch reports a record batch whose length, magic or CRC is wrong.
	ErrCorruptBatch = errors.New("kafkaproto: corrupt record batch")
)

// FrameTooLargeError reports a size prefix above the cap. No body was read
// or allocated; the connection must be closed because the stream position
// is lost.
type FrameTooLargeError struct {
	Size int32 // the size prefix the peer sent
	Max  int32 // the configured cap
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("kafkaproto: frame of %d bytes exceeds socket.request.max.bytes %d", e.Size, e.Max)
}

// Is makes errors.Is(err, ErrFrameTooLarge) true.
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }

// UnsupportedError reports a request whose API key or version is not in the
// advertised table. Header is fully parsed when HeaderOK is true (the key is
// known to kmsg); CorrelationID is always valid.
type UnsupportedError struct {
	Header   RequestHeader
	HeaderOK bool
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("kafkaproto: unsupported api key %d version %d", e.Header.APIKey, e.Header.APIVersion)
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }
