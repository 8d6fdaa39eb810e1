package group

import "errors"

var (
	// ErrUnsupportedRequest is returned by Handle for a request kind the
	// coordinator does not serve.
	ErrUnsupportedRequest = errors.New("group: unsupported request")
	// ErrNotCoordinator may be wrapped by an OffsetStore's Append when this
	// broker no longer leads the __consumer_offsets partition; clients then get
	// NOT_COORDINATOR and look the coordinator up again.
	ErrNotCoordinator = errors.New("group: not the coordinator")
	// ErrCorruptRecord wraps a __consumer_offsets record that cannot be decoded.
	ErrCorruptRecord = errors.New("group: corrupt __consumer_offsets record")
	// ErrUnknownGroup is returned by the Go-level APIs for a group that does not exist.
	ErrUnknownGroup = errors.New("group: unknown group")
	// ErrLoading is returned by the Go-level APIs before Run has replayed the store.
	ErrLoading = errors.New("group: coordinator is loading")
)
