package memconn

import "errors"

// Errors returned by the in-memory connectors.
var (
	ErrClosed       = errors.New("memconn: closed")
	ErrNotOpen      = errors.New("memconn: not open")
	ErrAckAhead     = errors.New("memconn: ack beyond what was read")
	ErrAckBackwards = errors.New("memconn: ack moved backwards")
	ErrBadPosition  = errors.New("memconn: bad position")
	ErrDown         = errors.New("memconn: target down")
	ErrRejected     = errors.New("memconn: record rejected")
)
