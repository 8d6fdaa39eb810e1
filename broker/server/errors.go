package server

import "errors"

var (
	// ErrNoLogStore reports a Server built without a partition log implementation.
	ErrNoLogStore = errors.New("server: no partition log store configured")
	// ErrClosed reports use of a Server after Run returned or Close was called.
	ErrClosed = errors.New("server: closed")
	// ErrBadConfig is wrapped by every configuration validation error.
	ErrBadConfig = errors.New("server: invalid configuration")
	// ErrStateFile reports a data-dir state file that cannot be decoded.
	ErrStateFile = errors.New("server: unreadable state file")
)
