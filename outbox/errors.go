package outbox

import "errors"

var (
	// ErrInvalidEvent: an event lacks a required field or its payload or
	// headers are not JSON; the message names the field.
	ErrInvalidEvent = errors.New("outbox: invalid event")
	// ErrConfig: the options given to New do not fit together.
	ErrConfig = errors.New("outbox: invalid config")
)
