package connectors

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record on its way into the broker (from a source) or out of
// it (to a sink).
//
// Source side: Topic, Key, Value, Headers and Timestamp are set; Partition is
// -1 (the runtime partitions by key with Kafka's murmur2, as the Java client
// does); Offset is unused.
//
// Sink side: every field is set from the consumed record. Value nil is a
// tombstone. The slices are owned by the sink until Write returns.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// Header returns the value of the last header named key, and whether any is.
func (r *Record) Header(key string) ([]byte, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// Position is a source's opaque resume point (Postgres: commit LSN and change
// LSN; MySQL: GTID set or file+pos). The runtime stores it, JSON-encoded, in
// the compacted topic __sluice_offsets keyed by pipeline and source, and hands
// it back to Open after a restart. A nil Position means "from the start"
// (snapshot mode decides what that means).
type Position []byte

// Batch is a group of records read or written together.
//
// From a source: Records are in commit order; Position, when non-nil, is the
// position reached once every record of this batch and of all earlier
// batches is durable in the broker. A batch may carry a Position and no
// records (the source moved on without anything captured, e.g. WAL of other
// tables or a heartbeat); the runtime then acknowledges it once everything
// before it is durable, so idle sources still advance upstream.
type Batch struct {
	Records  []Record
	Position Position
}

// TopicSpec describes a topic a source writes, so the runtime can create it
// before producing. Partitions and ReplicationFactor <= 0 take the
// pipeline's (then the broker's) default.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string // e.g. cleanup.policy=compact for changelogs
}

// Source reads changes from an upstream system.
//
// The runtime calls Open once, then Read in a loop from one goroutine, and
// Ack (possibly from another goroutine, concurrently with a blocked Read)
// whenever a prefix of the batches read so far is durable in the broker.
//
//   - Open(ctx, from): from is the last acknowledged Position, or nil. ctx
//     bounds only the opening, not the source's lifetime.
//   - Read blocks until a batch is ready and returns ctx.Err() when ctx is
//     cancelled. A returned error other than ctx.Err() ends this run; the
//     supervisor closes the source and reopens it from the last acked position.
//   - Ack(ctx, upTo): every record up to upTo is durable downstream; the
//     source may now advance its position upstream (confirm the slot's flush
//     LSN, forget binlog events). It must never advance past upTo.
//   - Close releases everything; no Read or Ack follows it.
type Source interface {
	Open(ctx context.Context, from Position) error
	Read(ctx context.Context) (Batch, error)
	Ack(ctx context.Context, upTo Position) error
	Close(ctx context.Context) error
}

// TopicDeclarer is an optional Source capability: the topics it will write
// and how to create them. The runtime creates missing ones before producing
// the first record to them; without it, topics are created compacted with the
// pipeline's defaults.
type TopicDeclarer interface {
	TopicSpec(topic string) TopicSpec
}

// Sink applies records to a downstream system.
//
// The runtime calls Open once, then Write from one goroutine with batches of
// records in partition order (records of one partition are never reordered,
// and a batch is only written once the previous Write returned). Write must
// return only when the target acknowledged every record it reports as done:
// the runtime commits the consumer offsets of the batch right after.
//
//   - A returned *BatchError marks records the target rejected for
//     themselves (e.g. a mapping conflict); the runtime sends exactly those
//     to the dead-letter topic and commits the rest.
//   - Any other error means nothing of the batch may be considered written;
//     the runtime retries the whole batch with backoff (writes must be
//     idempotent: upsert by key, delete by key).
//   - Close flushes and releases everything; no Write follows it.
type Sink interface {
	Open(ctx context.Context) error
	Write(ctx context.Context, b Batch) error
	Close(ctx context.Context) error
}

// Rebuilder is an optional Sink capability for `sluice sink rebuild`: the
// runtime calls BeginRebuild, replays the sink's topics from the earliest
// offset, and calls FinishRebuild once the replay caught up with the high
// watermarks seen at the start (live records keep flowing meanwhile). The
// sink then makes the rebuilt state visible (swap an alias, sweep stale keys).
type Rebuilder interface {
	BeginRebuild(ctx context.Context) error
	FinishRebuild(ctx context.Context) error
}

// Checker is an optional capability of sources and sinks: a cheap probe of
// the upstream or downstream system, used by /readyz.
type Checker interface {
	Check(ctx context.Context) error
}

// RecordError is one record a sink rejected.
type RecordError struct {
	Index int // into Batch.Records
	Err   error
}

// BatchError reports records of a batch the target rejected for themselves;
// every other record of the batch was written.
type BatchError struct {
	Failed []RecordError
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connectors: %d record(s) rejected", len(e.Failed))
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-3)
			break
		}
		fmt.Fprintf(&b, "; record %d: %v", f.Index, f.Err)
	}
	return b.String()
}
