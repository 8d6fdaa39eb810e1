package kafkaproto

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is a decoded request: its header and its body, whose version is set.
type Request struct {
	Header RequestHeader
	Body   kmsg.Request
}

// DecodeRequest decodes a frame body into a request. Errors:
//   - ErrTruncatedHeader: the header is cut short (close the connection);
//   - *UnsupportedError: key/version not advertised (Kafka answers ApiVersions
//     with UNSUPPORTED_VERSION and closes the connection for anything else);
//   - ErrMalformedBody (wrapped): kmsg could not decode the body.
//
// The body's byte slices (records, metadata) alias frame; the caller must not
// reuse frame while the request is alive.
func DecodeRequest(frame []byte) (*Request, error) {
	h, body, err := ParseRequestHeader(frame)
	if err != nil {
		return nil, err
	}
	if !IsSupported(h.APIKey, h.APIVersion) {
		return nil, &UnsupportedError{Header: h, HeaderOK: true}
	}
	req := kmsg.RequestForKey(h.APIKey)
	req.SetVersion(h.APIVersion)
	if err := req.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%w: %s v%d: %w", ErrMalformedBody, kmsg.NameForKey(h.APIKey), h.APIVersion, err)
	}
	return &Request{Header: h, Body: req}, nil
}

// AppendResponse appends resp as a complete frame (size prefix, response
// header, body) to dst and returns the extended slice. resp's version must
// already be set to the request's version. The header is v1 for flexible
// responses, except ApiVersions which always uses header v0.
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		dst = append(dst, 0) // empty tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
