package redis

import "errors"

// Sentinel errors of the Redis sink. Errors returned by this package wrap
// them, so callers can test with errors.Is.
var (
	// ErrConfig marks an invalid Config given to New.
	ErrConfig = errors.New("redis: invalid config")
	// ErrTemplate marks a key template that does not parse.
	ErrTemplate = errors.New("redis: invalid key template")
	// ErrKeyColumn marks a record whose key lacks a column the key template
	// names; the record is rejected (dead-letter topic).
	ErrKeyColumn = errors.New("redis: key column missing")
	// ErrRecord marks a record that is not a change event this sink can
	// apply (bad key, bad envelope, missing after image); it is rejected.
	ErrRecord = errors.New("redis: invalid record")
	// ErrNoPrefix is returned where a sweep (rebuild, truncate) would need
	// a static key prefix and the key template has none: sweeping "*"
	// would delete keys this sink does not own.
	ErrNoPrefix = errors.New("redis: key template has no static prefix to sweep")
	// ErrNotOpen is returned by Write, BeginRebuild and FinishRebuild
	// before Open or after Close.
	ErrNotOpen = errors.New("redis: sink is not open")
	// ErrNotRebuilding is returned by FinishRebuild without BeginRebuild.
	ErrNotRebuilding = errors.New("redis: no rebuild in progress")
	// ErrRejected marks a command Redis refused for this key alone
	// (WRONGTYPE: the key holds another type than the mode writes).
	ErrRejected = errors.New("redis: command rejected")
)
