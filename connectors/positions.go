package connectors

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// OffsetsTopic is the compacted topic source positions are stored in.
//
// Record key: compact JSON {"pipeline":P,"source":S} (fields in that order),
// S being the pipeline's source name (its type, e.g. "postgres").
//
// Record value, version 1:
//
//	{"version":1,"position":<P>,"ts_ms":<ms>}                     P valid JSON: embedded as is
//	{"version":1,"encoding":"base64","position":"<b64>","ts_ms":..} otherwise
//
// A null value (tombstone) forgets the position: the next run starts from
// nil. Readers take the last record per key and refuse versions they do not
// know (a newer Sluice wrote it): the position is never guessed.
const OffsetsTopic = "__sluice_offsets"

// positionVersion is the value format written; readers accept 1.
const positionVersion = 1

type positionKey struct {
	Pipeline string `json:"pipeline"`
	Source   string `json:"source"`
}

type positionValue struct {
	Version  int             `json:"version"`
	Encoding string          `json:"encoding,omitempty"`
	Position json.RawMessage `json:"position"`
	TsMs     int64           `json:"ts_ms,omitempty"`
}

// PositionKey returns the __sluice_offsets key of a pipeline's source.
func PositionKey(pipeline, source string) []byte {
	b, _ := json.Marshal(positionKey{Pipeline: pipeline, Source: source})
	return b
}

// EncodePosition returns the __sluice_offsets value storing p.
func EncodePosition(p Position, at time.Time) []byte {
	v := positionValue{Version: positionVersion, TsMs: at.UnixMilli()}
	if json.Valid(p) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, p); err == nil {
			v.Position = buf.Bytes()
		}
	}
	if v.Position == nil {
		v.Encoding = "base64"
		s, _ := json.Marshal(base64.StdEncoding.EncodeToString(p))
		v.Position = s
	}
	b, _ := json.Marshal(v)
	return b
}

// DecodePosition decodes a __sluice_offsets value. A nil value (tombstone)
// is a nil Position.
func DecodePosition(value []byte) (Position, error) {
	if value == nil {
		return nil, nil
	}
	var v positionValue
	if err := json.Unmarshal(value, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPositionRecord, err)
	}
	if v.Version != positionVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadPositionRecord, v.Version, positionVersion)
	}
	if len(v.Position) == 0 {
		return nil, fmt.Errorf("%w: no position", ErrBadPositionRecord)
	}
	switch v.Encoding {
	case "":
		return Position(v.Position), nil
	case "base64":
		var s string
		if err := json.Unmarshal(v.Position, &s); err != nil {
			return nil, fmt.Errorf("%w: base64 position: %v", ErrBadPositionRecord, err)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: base64 position: %v", ErrBadPositionRecord, err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("%w: encoding %q", ErrBadPositionRecord, v.Encoding)
	}
}

// ensureOffsetsTopic creates __sluice_offsets when missing: 1 partition (one
// total order of checkpoints), compacted, the broker's replication factor.
func ensureOffsetsTopic(ctx context.Context, adm *kadm.Client) error {
	compact := "compact"
	_, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": &compact}, OffsetsTopic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating %s: %w", OffsetsTopic, err)
	}
	return nil
}

// loadPositions reads __sluice_offsets up to its end and returns the latest
// position of every key whose value is not a tombstone. newClient builds a
// plain (non-group) client with the caller's connection options.
func loadPositions(ctx context.Context, adm *kadm.Client, newClient func(...kgo.Opt) (*kgo.Client, error)) (map[string]Position, error) {
	ends, err := adm.ListEndOffsets(ctx, OffsetsTopic)
	if err != nil {
		return nil, fmt.Errorf("listing %s end offsets: %w", OffsetsTopic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("listing %s end offsets: %w", OffsetsTopic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	out := map[string]Position{}
	if len(want) == 0 {
		return out, nil
	}
	parts := map[int32]kgo.Offset{}
	for p := range want {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := newClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{OffsetsTopic: parts}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	readAny := false
	for len(want) > 0 {
		// A poll that stays empty after records came means the records up
		// to the end offset are gone (compacted away at the tail): what was
		// read is all. Breaking early on a merely slow broker could only
		// yield an older position (re-delivery, never loss); with nothing
		// read yet, keep waiting rather than start from scratch.
		pollCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cl.PollFetches(pollCtx)
		timedOut := pollCtx.Err() != nil
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", OffsetsTopic, err)
		}
		if timedOut && fs.NumRecords() == 0 {
			if readAny {
				break
			}
			continue
		}
		readAny = readAny || fs.NumRecords() > 0
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = err
			}
		})
		if ferr != nil {
			return nil, fmt.Errorf("reading %s: %w", OffsetsTopic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value == nil {
				delete(out, string(r.Key))
			} else {
				out[string(r.Key)] = r.Value // decoded by the caller, per key
			}
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return out, nil
}

// storePosition writes p for key synchronously with acks=all.
func storePosition(ctx context.Context, cl *kgo.Client, key []byte, p Position) error {
	rec := &kgo.Record{Topic: OffsetsTopic, Key: key, Value: EncodePosition(p, time.Now())}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("storing position in %s: %w", OffsetsTopic, err)
	}
	return nil
}
