package router

import "errors"

var (
	// ErrMissingColumn: the row lacks a mapped column; the message names it.
	ErrMissingColumn = errors.New("router: missing column")
	// ErrInvalidEvent: a value cannot be routed (empty, not JSON, illegal in a topic name).
	ErrInvalidEvent = errors.New("router: invalid event")
	// ErrConfig: the Router or Cleaner configuration is unusable.
	ErrConfig = errors.New("router: invalid config")
)
