package group

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one record of the __consumer_offsets topic. A nil Value is a
// tombstone.
type Record struct {
	Key   []byte
	Value []byte
}

// OffsetStore is where the coordinator persists committed offsets and group
// metadata. The server implements it over the __consumer_offsets partition
// log; [MemStore] is the in-memory test seam.
type OffsetStore interface {
	// Append writes records in order and returns once they are durable. The
	// coordinator calls it with a group's lock held, so calls for one group
	// never overlap; calls for different groups may run concurrently. An
	// error wrapping [ErrNotCoordinator] answers NOT_COORDINATOR to clients,
	// any other error COORDINATOR_NOT_AVAILABLE.
	Append(ctx context.Context, records []Record) error
	// Load calls fn for every record ever appended (or what compaction kept
	// of them), in append order. It stops at and returns fn's first error.
	Load(ctx context.Context, fn func(Record) error) error
}

// Key versions of the __consumer_offsets schema.
const (
	offsetKeyVersion     = 1 // 0 and 1 share a layout
	groupKeyVersion      = 2
	offsetValueVersion   = 3 // carries the leader epoch; 1 when an expire time is set
	groupValueVersion    = 3 // carries static member instance ids
	maxOffsetValueVer    = 4
	maxGroupValueVersion = 4
)

// decoded is one decoded __consumer_offsets record: exactly one of offset or
// group keys is set.
type decoded struct {
	offsetKey *kmsg.OffsetCommitKey
	offsetVal *kmsg.OffsetCommitValue // nil: tombstone
	groupKey  *kmsg.GroupMetadataKey
	groupVal  *kmsg.GroupMetadataValue // nil: tombstone
}

// decodeRecord decodes a record. It returns ok=false with a nil error for keys
// of other record types (Kafka's KIP-848 group records use key versions 3+).
// It never panics on arbitrary bytes.
func decodeRecord(r Record) (d decoded, ok bool, err error) {
	if len(r.Key) < 2 {
		return d, false, fmt.Errorf("%w: key of %d bytes", ErrCorruptRecord, len(r.Key))
	}
	version := int16(r.Key[0])<<8 | int16(r.Key[1])
	switch version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.Key); err != nil {
			return d, false, fmt.Errorf("%w: offset key: %w", ErrCorruptRecord, err)
		}
		d.offsetKey = &k
		if r.Value != nil {
			var v kmsg.OffsetCommitValue
			if err := v.ReadFrom(r.Value); err != nil {
				return d, false, fmt.Errorf("%w: offset value of %s/%s/%d: %w", ErrCorruptRecord, k.Group, k.Topic, k.Partition, err)
			}
			if v.Version < 0 || v.Version > maxOffsetValueVer {
				return d, false, fmt.Errorf("%w: offset value version %d", ErrCorruptRecord, v.Version)
			}
			d.offsetVal = &v
		}
		return d, true, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			return d, false, fmt.Errorf("%w: group key: %w", ErrCorruptRecord, err)
		}
		d.groupKey = &k
		if r.Value != nil {
			var v kmsg.GroupMetadataValue
			if err := v.ReadFrom(r.Value); err != nil {
				return d, false, fmt.Errorf("%w: group value of %s: %w", ErrCorruptRecord, k.Group, err)
			}
			if v.Version < 0 || v.Version > maxGroupValueVersion {
				return d, false, fmt.Errorf("%w: group value version %d", ErrCorruptRecord, v.Version)
			}
			d.groupVal = &v
		}
		return d, true, nil
	default:
		return d, false, nil
	}
}

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

// offsetValue encodes o as Kafka does: version 3, or version 1 (which has
// an expire timestamp but no leader epoch) when the commit set a retention.
func offsetValue(o Offset) []byte {
	v := kmsg.OffsetCommitValue{
		Version:         offsetValueVersion,
		Offset:          o.Offset,
		LeaderEpoch:     o.LeaderEpoch,
		Metadata:        o.Metadata,
		CommitTimestamp: o.CommitTime.UnixMilli(),
	}
	if !o.ExpireTime.IsZero() {
		v.Version = 1
		v.ExpireTimestamp = o.ExpireTime.UnixMilli()
	}
	return v.AppendTo(nil)
}

// offsetFromValue is the inverse of offsetValue for every value version.
func offsetFromValue(v *kmsg.OffsetCommitValue) Offset {
	o := Offset{Offset: v.Offset, LeaderEpoch: -1, Metadata: v.Metadata, CommitTime: time.UnixMilli(v.CommitTimestamp)}
	if v.Version >= 3 {
		o.LeaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 && v.ExpireTimestamp > 0 {
		o.ExpireTime = time.UnixMilli(v.ExpireTimestamp)
	}
	return o
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}
