package kafkaproto

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// RequestHeader is a parsed request header: v0 (ControlledShutdown v0 only:
// no client id), v1, or v2 (flexible: tagged fields after the client id).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      *string // nil when the client sent a null client id
	Flexible      bool    // header v2: the body is flexible and tagged fields followed the client id
}

// ParseRequestHeader parses the header at the start of frame (a frame body as
// returned by FrameReader.Next) and returns it with the remaining body bytes.
// The key must be known to kmsg, which decides whether the header is v2; an
// unknown key yields an *UnsupportedError whose CorrelationID, APIKey and
// APIVersion are valid. The returned body aliases frame.
func ParseRequestHeader(frame []byte) (RequestHeader, []byte, error) {
	var h RequestHeader
	if len(frame) < 8 {
		return h, nil, ErrTruncatedHeader
	}
	h.APIKey = int16(binary.BigEndian.Uint16(frame[0:]))
	h.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	req := kmsg.RequestForKey(h.APIKey)
	if req == nil || h.APIVersion < 0 {
		return h, nil, &UnsupportedError{Header: h}
	}
	req.SetVersion(h.APIVersion)
	h.Flexible = req.IsFlexible()

	rest := frame[8:]
	if h.APIKey == int16(kmsg.ControlledShutdown) && h.APIVersion == 0 {
		return h, rest, nil // header v0: no client id (the only API that uses it)
	}
	if len(rest) < 2 {
		return h, nil, ErrTruncatedHeader
	}
	n := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	switch {
	case n == -1:
	case n < -1 || int(n) > len(rest):
		return h, nil, ErrTruncatedHeader
	default:
		id := string(rest[:n])
		h.ClientID = &id
		rest = rest[n:]
	}
	if h.Flexible {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return h, nil, err
		}
	}
	return h, rest, nil
}

// skipTags skips a tagged-field section: uvarint count, then per field a
// uvarint tag, a uvarint size and size bytes.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, ErrTruncatedHeader
	}
	b = b[n:]
	for i := uint64(0); i < count; i++ {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, ErrTruncatedHeader
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, ErrTruncatedHeader
		}
		b = b[n+int(size):]
	}
	return b, nil
}
