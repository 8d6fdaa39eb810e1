package connectors

import "errors"

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
