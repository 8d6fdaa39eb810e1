package connectors

import (
	"errors"
	"fmt"
)

// Errors of the runtime (the pipeline config's errors live in errors.go).
var (
	ErrUnknownPipeline   = errors.New("connectors: unknown pipeline")
	ErrUnknownSink       = errors.New("connectors: unknown sink")
	ErrRebuildInProgress = errors.New("connectors: rebuild already in progress")
	ErrBadSpec           = errors.New("connectors: invalid pipeline spec")
	ErrBadPositionRecord = errors.New("connectors: bad __sluice_offsets record")
	ErrProduce           = errors.New("connectors: producing to the broker failed")
	ErrRuntimeRunning    = errors.New("connectors: runtime already running")
)

// errStoppedEarly marks a run that returned nil before shutdown began.
var errStoppedEarly = errors.New("connectors: stopped without error before shutdown")

// ErrRecordTooLarge: a source record is larger than the broker accepts for
// its topic (max.message.bytes). Carried by *TooLargeError.
var ErrRecordTooLarge = errors.New("connectors: record too large for the broker")

// TooLargeError names a record the broker refuses for its size: the topic,
// the key, the record's size and the limit (0 when the broker did not say).
type TooLargeError struct {
	Topic string
	Key   []byte
	Size  int
	Limit int
}

func (e *TooLargeError) Error() string {
	lim := "the broker's limit"
	if e.Limit > 0 {
		lim = fmt.Sprintf("max.message.bytes %d", e.Limit)
	}
	key := string(e.Key)
	if len(key) > 200 {
		key = key[:200] + "..."
	}
	return fmt.Sprintf("%v: topic %s, key %s: %d bytes > %s (raise the topic's max.message.bytes, e.g. `sluice topic alter %s --config max.message.bytes=N`, then restart; or set the source's on_too_large: dlq)",
		ErrRecordTooLarge, e.Topic, key, e.Size, lim, e.Topic)
}

func (e *TooLargeError) Unwrap() error { return ErrRecordTooLarge }

// DegradedError is what a Checker returns when the component still runs
// but part of its input is gone for good (a table dropped while
// streaming): the status shows "degraded" with Err, and the rest keeps
// flowing. Any other Check error means "unreachable, retrying".
type DegradedError struct{ Err error }

func (e *DegradedError) Error() string { return e.Err.Error() }
func (e *DegradedError) Unwrap() error { return e.Err }
