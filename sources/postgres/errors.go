package postgres

import "errors"

// Sentinel errors. Wrapped errors name the table, slot or LSN involved.
var (
	// ErrConfig: the Config is invalid (missing DSN, unknown snapshot mode, ...).
	ErrConfig = errors.New("postgres: invalid config")
	// ErrPrerequisite: the server cannot run CDC as configured (wal_level,
	// privileges, max_replication_slots); the message says what is missing.
	ErrPrerequisite = errors.New("postgres: prerequisite missing")
	// ErrNoKey: a captured table has neither a primary key nor a replica
	// identity index, and keyless tables were not allowed.
	ErrNoKey = errors.New("postgres: table has no primary key or replica identity index")
	// ErrTableNotFound: a configured table does not exist.
	ErrTableNotFound = errors.New("postgres: table not found")
	// ErrSlotMissing: the position needs the replication slot but it is
	// gone (dropped); snapshot mode when_needed re-snapshots instead.
	ErrSlotMissing = errors.New("postgres: replication slot missing")
	// ErrPosition: a Position could not be decoded or belongs to another
	// pipeline/version.
	ErrPosition = errors.New("postgres: invalid position")
	// ErrDecode: a pgoutput message could not be decoded; the error carries
	// the LSN.
	ErrDecode = errors.New("postgres: decoding pgoutput")
	// ErrClosed: the Source was closed.
	ErrClosed = errors.New("postgres: source closed")
)
