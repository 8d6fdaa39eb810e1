package mysql

import "errors"

var (
	// ErrConfig is wrapped by every configuration problem.
	ErrConfig = errors.New("mysql: invalid config")
	// ErrPrerequisite names a server setting or grant the source needs.
	ErrPrerequisite = errors.New("mysql: server prerequisite not met")
	// ErrBinlogPurged: the binlog at the stored position is gone; with
	// snapshot when_needed the source re-snapshots instead.
	ErrBinlogPurged = errors.New("mysql: binlog purged past the stored position (re-snapshot with snapshot: when_needed, or reset the pipeline's position)")
	// ErrDecode wraps a binlog event that could not be turned into records.
	ErrDecode = errors.New("mysql: decoding binlog event")
	// ErrPosition is returned for a Position this source cannot read.
	ErrPosition = errors.New("mysql: bad position")
	// ErrNoKey is returned for a captured table without a primary key.
	ErrNoKey = errors.New("mysql: table has no primary key")
	// ErrNoTable is returned for a configured table that does not exist.
	ErrNoTable = errors.New("mysql: table not found")
	// ErrTLS wraps a TLS failure (untrusted certificate, wrong host name,
	// no TLS on the server) of the snapshot or binlog connection.
	ErrTLS = errors.New("mysql: TLS")
	// ErrClosed is returned by Read after Close.
	ErrClosed = errors.New("mysql: source closed")
)
