package kafkaproto

import (
	"encoding/binary"
	"io"
)

// DefaultMaxRequestBytes is Kafka's default socket.request.max.bytes (100 MiB).
const DefaultMaxRequestBytes int32 = 100 << 20

// eagerBody is the largest body allocated in one piece. Bigger bodies grow as
// their bytes arrive, so a peer that announces 100 MiB and sends nothing
// costs us nothing.
const eagerBody = 64 << 10

// FrameReader reads size-prefixed frames from a stream. It is not safe for
// concurrent use; one reader goroutine owns it.
type FrameReader struct {
	r    io.Reader
	max  int32
	size [4]byte // kept in the struct so reading the prefix does not allocate
}

// NewFrameReader returns a reader of frames of at most maxBytes bytes
// (DefaultMaxRequestBytes when maxBytes <= 0).
func NewFrameReader(r io.Reader, maxBytes int32) *FrameReader {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxRequestBytes
	}
	return &FrameReader{r: r, max: maxBytes}
}

// SetMax changes the cap for the frames read from now on (<= 0: the
// default), e.g. a small cap until a SASL client has authenticated.
func (f *FrameReader) SetMax(maxBytes int32) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxRequestBytes
	}
	f.max = maxBytes
}

// Next reads one frame and returns its body (without the size prefix). The
// returned slice is owned by the caller. It returns io.EOF on a clean end of
// stream before a frame starts, io.ErrUnexpectedEOF on a torn frame, a
// *FrameTooLargeError when the prefix exceeds the cap (before reading or
// allocating the body), and ErrNegativeFrameSize for a negative prefix.
func (f *FrameReader) Next() ([]byte, error) {
	if _, err := io.ReadFull(f.r, f.size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(f.size[:]))
	switch {
	case n < 0:
		return nil, ErrNegativeFrameSize
	case n > f.max:
		return nil, &FrameTooLargeError{Size: n, Max: f.max}
	case n <= eagerBody:
		body := make([]byte, n)
		if _, err := io.ReadFull(f.r, body); err != nil {
			return nil, noEOF(err)
		}
		return body, nil
	}
	body := make([]byte, 0, eagerBody)
	for len(body) < int(n) {
		if len(body) == cap(body) {
			grown := make([]byte, len(body), min(2*cap(body), int(n)))
			copy(grown, body)
			body = grown
		}
		m, err := io.ReadFull(f.r, body[len(body):cap(body)])
		body = body[:len(body)+m]
		if err != nil {
			return nil, noEOF(err)
		}
	}
	return body, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
