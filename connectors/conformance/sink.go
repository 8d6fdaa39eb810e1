package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// SinkHarness connects the suite to one Sink implementation and its target.
//
// The suite writes change events of one table, schema "public", table
// Table, on topic Topic (default "<pipeline>.public.<table>" is the
// caller's business: the sink under test must be configured to accept it).
// Keys are {"id":N}; images are {"id":N,"v":V,"name":"n<N>-v<V>"}.
type SinkHarness struct {
	// New returns a fresh, unopened Sink writing to the harness's target.
	New func(t *testing.T) connectors.Sink
	// Topic and Table the records are on (defaults "conformance.public.items"
	// and "items").
	Topic, Table string
	// Lookup returns the version v stored for id, or ok false when the
	// target holds no such key (after a delete).
	Lookup func(t *testing.T, id int) (v int, ok bool)
	// Poison, when set, makes r a record the target rejects for itself (a
	// mapping conflict); nil: the target never rejects a single record.
	Poison func(r *connectors.Record)
	// Down and Up, when set, make the target unreachable and back.
	Down, Up func(t *testing.T)
	// Timeout bounds each Write (a hang guard). Default 60s.
	Timeout time.Duration
}

func (h *SinkHarness) defaults() {
	if h.Topic == "" {
		h.Topic = "conformance.public.items"
	}
	if h.Table == "" {
		h.Table = "items"
	}
	if h.Timeout <= 0 {
		h.Timeout = 60 * time.Second
	}
}

// ChangeRecord returns the sink-side record of a change: op c/u with the
// image, or d with the key as before image. offset is the record's offset.
func ChangeRecord(topic, table string, id, v int, op connectors.Op, offset int64) connectors.Record {
	key := fmt.Sprintf(`{"id":%d}`, id)
	env := connectors.Envelope{
		Op:   op,
		TsMs: 1700000000000,
		Source: connectors.SourceInfo{Connector: "postgresql", Name: "conformance", DB: "conformance",
			Schema: "public", Table: table, Snapshot: "false", TsMs: 1700000000000},
	}
	img := fmt.Sprintf(`{"id":%d,"v":%d,"name":"n%d-v%d"}`, id, v, id, v)
	switch op {
	case connectors.OpDelete:
		env.Before = []byte(key)
	case connectors.OpCreate, connectors.OpRead:
		env.After = []byte(img)
	default:
		env.Before, env.After = []byte(img), []byte(img)
	}
	val, err := env.Marshal()
	if err != nil {
		panic(err) // cannot happen: fixed shapes
	}
	return connectors.Record{Topic: topic, Partition: 0, Offset: offset, Key: []byte(key), Value: val,
		Timestamp: time.UnixMilli(1700000000000)}
}

// Tombstone returns the tombstone following a delete of id.
func Tombstone(topic string, id int, offset int64) connectors.Record {
	return connectors.Record{Topic: topic, Offset: offset, Key: fmt.Appendf(nil, `{"id":%d}`, id),
		Timestamp: time.UnixMilli(1700000000000)}
}

type sinkRun struct {
	h      *SinkHarness
	t      *testing.T
	sink   connectors.Sink
	offset int64
}

func (h *SinkHarness) open(t *testing.T) *sinkRun {
	t.Helper()
	s := h.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
	defer cancel()
	if err := s.Open(ctx); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return &sinkRun{h: h, t: t, sink: s}
}

func (r *sinkRun) close() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.h.Timeout)
	defer cancel()
	if err := r.sink.Close(ctx); err != nil {
		r.t.Errorf("Close: %v", err)
	}
}

// change is one step of a script: v < 0 deletes id (delete + tombstone).
type change struct{ id, v int }

func (r *sinkRun) batch(cs ...change) connectors.Batch {
	var b connectors.Batch
	for _, c := range cs {
		if c.v < 0 {
			b.Records = append(b.Records, ChangeRecord(r.h.Topic, r.h.Table, c.id, 0, connectors.OpDelete, r.offset))
			r.offset++
			b.Records = append(b.Records, Tombstone(r.h.Topic, c.id, r.offset))
		} else {
			op := connectors.OpUpdate
			if c.v == 0 {
				op = connectors.OpCreate
			}
			b.Records = append(b.Records, ChangeRecord(r.h.Topic, r.h.Table, c.id, c.v, op, r.offset))
		}
		r.offset++
	}
	return b
}

func (r *sinkRun) write(b connectors.Batch) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.h.Timeout)
	defer cancel()
	return r.sink.Write(ctx, b)
}

func (r *sinkRun) mustWrite(b connectors.Batch) {
	r.t.Helper()
	if err := r.write(b); err != nil {
		r.t.Fatalf("Write: %v", err)
	}
}

// want checks the target: id -> version, or -1 for absent.
func (h *SinkHarness) want(t *testing.T, want map[int]int) {
	t.Helper()
	for id, v := range want {
		got, ok := h.Lookup(t, id)
		switch {
		case v < 0 && ok:
			t.Errorf("id %d: present (v%d), want deleted", id, got)
		case v >= 0 && !ok:
			t.Errorf("id %d: absent, want v%d", id, v)
		case v >= 0 && got != v:
			t.Errorf("id %d: v%d, want v%d", id, got, v)
		}
	}
}

// RunSink runs every sink check as a subtest of t, one after the other;
// each uses its own ids.
func RunSink(t *testing.T, h SinkHarness) {
	t.Helper()
	if h.New == nil || h.Lookup == nil {
		t.Fatal("conformance: SinkHarness needs New and Lookup")
	}
	h.defaults()

	t.Run("UpsertAndDelete", func(t *testing.T) {
		r := h.open(t)
		defer r.close()
		r.mustWrite(r.batch(change{100, 0}, change{101, 0}, change{102, 0}, change{100, 1}))
		r.mustWrite(r.batch(change{101, -1}, change{102, 2}, change{103, 0}))
		h.want(t, map[int]int{100: 1, 101: -1, 102: 2, 103: 0})
	})

	t.Run("IdempotentRedelivery", func(t *testing.T) {
		r := h.open(t)
		defer r.close()
		b1 := r.batch(change{200, 0}, change{201, 0}, change{200, 1})
		b2 := r.batch(change{201, -1}, change{200, 2}, change{202, 0})
		// b1, b2, then a replay from b1's offset (commit lost), written twice.
		for _, b := range []connectors.Batch{b1, b2, b1, b2, b2} {
			r.mustWrite(b)
		}
		h.want(t, map[int]int{200: 2, 201: -1, 202: 0})
	})

	t.Run("ResumeAfterClose", func(t *testing.T) {
		r := h.open(t)
		r.mustWrite(r.batch(change{300, 0}, change{301, 0}))
		r.close()
		r2 := h.open(t)
		defer r2.close()
		r2.offset = r.offset
		r2.mustWrite(r2.batch(change{300, 1}, change{302, 0}))
		h.want(t, map[int]int{300: 1, 301: 0, 302: 0})
	})

	t.Run("CloseWithoutWrites", func(t *testing.T) {
		r := h.open(t)
		r.close()
	})

	t.Run("PartialFailure", func(t *testing.T) {
		r := h.open(t)
		defer r.close()
		if h.Poison != nil {
			b := r.batch(change{400, 0}, change{401, 0}, change{402, 0}, change{403, 0})
			h.Poison(&b.Records[1])
			h.Poison(&b.Records[3])
			err := r.write(b)
			var be *connectors.BatchError
			if !errors.As(err, &be) {
				t.Fatalf("Write of a batch with rejected records: %v, want a *connectors.BatchError", err)
			}
			got := map[int]bool{}
			for _, f := range be.Failed {
				got[f.Index] = true
				if f.Err == nil {
					t.Errorf("record %d rejected without an error", f.Index)
				}
			}
			if len(got) != 2 || !got[1] || !got[3] {
				t.Fatalf("rejected %v, want records 1 and 3", be.Failed)
			}
			h.want(t, map[int]int{400: 0, 402: 0})
		}
		if h.Down != nil && h.Up != nil {
			b := r.batch(change{410, 0}, change{411, 0})
			h.Down(t)
			err := r.write(b)
			var be *connectors.BatchError
			switch {
			case err == nil:
				t.Error("Write with the target down succeeded")
			case errors.As(err, &be):
				t.Errorf("Write with the target down: %v, want a whole-batch error, not a BatchError", err)
			}
			h.Up(t)
			r.mustWrite(b) // the runtime retries the whole batch
			h.want(t, map[int]int{410: 0, 411: 0})
		}
		// Always: a valid batch writes without error.
		r.mustWrite(r.batch(change{420, 0}))
		h.want(t, map[int]int{420: 0})
	})
}
