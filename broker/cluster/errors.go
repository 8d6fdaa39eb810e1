package cluster

import "errors"

var (
	// ErrClosed is returned by requests made after Run ended or on a Node
	// that was closed.
	ErrClosed = errors.New("cluster: node closed")
	// ErrNotYet marks a part of the contract that is not implemented yet.
	ErrNotYet = errors.New("cluster: not yet implemented")
	// ErrNotInQuorum is returned by New when Config.Quorum lacks Config.NodeID.
	ErrNotInQuorum = errors.New("cluster: node id is not a voter of the controller quorum")
	// ErrFrameTooLarge is returned when a controller RPC frame exceeds maxFrame.
	ErrFrameTooLarge = errors.New("cluster: rpc frame too large")
	// ErrBadFrame is returned for a controller RPC frame that does not decode.
	ErrBadFrame = errors.New("cluster: malformed rpc frame")
)
