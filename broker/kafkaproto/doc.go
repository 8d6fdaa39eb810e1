// Package kafkaproto is the Kafka wire protocol layer of the Sluice broker:
// size-capped framing, request header parsing, decoding request bodies into
// kmsg types, encoding responses with the right header version, the table of
// API versions the broker advertises, the v2 record batch header (parse,
// CRC check, split), building and walking uncompressed records for the
// broker's internal topics, and the one mapping from Go errors to Kafka
// error codes.
//
// It is pure code: no goroutines, no I/O beyond the io.Reader handed to a
// FrameReader, no global mutable state.
//
// # Wire format
//
// Every request and response is a frame: a big-endian int32 size followed by
// that many bytes.
//
//	request:  size int32 | api_key int16 | api_version int16 | correlation_id int32 |
//	          client_id nullable_string (int16 length, never compact) |
//	          [tagged_fields, header v2 only] | body
//	response: size int32 | correlation_id int32 | [tagged_fields, header v1 only] | body
//
// The request header is v2 when the request is flexible (KIP-482) at its
// version, else v1. The response header is v1 when the response is flexible,
// else v0, except ApiVersions whose response header is always v0 so that a
// client can read it before it knows which versions the broker speaks.
//
// # Invariants
//
//   - FrameReader never allocates a frame body larger than its cap: the size
//     prefix is checked before any allocation, and large bodies grow with the
//     bytes that actually arrive.
//   - DecodeRequest accepts only (key, version) pairs in the advertised table;
//     anything else is an *UnsupportedError carrying the parsed header.
//   - ErrorCode is the only function that turns an error into a Kafka error code.
package kafkaproto
