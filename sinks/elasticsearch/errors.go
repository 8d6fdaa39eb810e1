package elasticsearch

import "errors"

// Sentinel errors of the Elasticsearch sink. Errors returned by this
// package wrap them, so callers can test with errors.Is.
var (
	// ErrConfig marks an invalid Config given to New.
	ErrConfig = errors.New("elasticsearch: invalid config")
	// ErrRecord marks a record that is not a change event this sink can
	// apply (bad key, bad envelope, missing after image); it is rejected.
	ErrRecord = errors.New("elasticsearch: invalid record")
	// ErrRejected marks a document Elasticsearch refused for itself
	// (mapper_parsing_exception, illegal_argument_exception, ...).
	ErrRejected = errors.New("elasticsearch: document rejected")
	// ErrUnavailable is returned by Write when Elasticsearch kept failing
	// (connection errors, 429, 5xx) for longer than Config.RetryTimeout;
	// nothing of the batch may be taken as written.
	ErrUnavailable = errors.New("elasticsearch: unavailable")
	// ErrRequest marks a request Elasticsearch refused as a whole (4xx other
	// than 429: bad credentials, bad settings or mappings).
	ErrRequest = errors.New("elasticsearch: request refused")
	// ErrNotOpen is returned by Write, BeginRebuild and FinishRebuild
	// before Open or after Close.
	ErrNotOpen = errors.New("elasticsearch: sink is not open")
	// ErrNotRebuilding is returned by FinishRebuild without BeginRebuild.
	ErrNotRebuilding = errors.New("elasticsearch: no rebuild in progress")
)
