package kafkaproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAppendBatchRoundTrip(t *testing.T) {
	t.Parallel()
	recs := []Record{{Key: []byte("k1"), Value: []byte("v1")}, {Key: []byte("k2")}, {Value: []byte("keyless")}, {Key: []byte{}, Value: []byte{}}}
	b := AppendBatch([]byte("x"), 1234, recs)[1:]
	h, err := ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.NumRecords != 4 || h.LastOffsetDelta != 3 || h.MaxTimestamp != 1234 || h.ProducerID != -1 {
		t.Fatalf("header %+v", h)
	}
	var got []Record
	if err := ForEachRecord(h, b[BatchHeaderSize:], func(d int32, r Record) error {
		if int(d) != len(got) {
			t.Fatalf("delta %d", d)
		}
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if (recs[i].Key == nil) != (got[i].Key == nil) || (recs[i].Value == nil) != (got[i].Value == nil) ||
			!bytes.Equal(recs[i].Key, got[i].Key) || !bytes.Equal(recs[i].Value, got[i].Value) {
			t.Fatalf("record %d: %+v, want %+v", i, got[i], recs[i])
		}
	}
	// fn's error stops the walk and is returned as is.
	stop := errors.New("stop")
	if err := ForEachRecord(h, b[BatchHeaderSize:], func(int32, Record) error { return stop }); err != stop {
		t.Fatalf("err = %v", err)
	}
	// A truncated records section is corrupt.
	if err := ForEachRecord(h, b[BatchHeaderSize:len(b)-2], func(int32, Record) error { return nil }); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestAppendBatchTimestamps(t *testing.T) {
	t.Parallel()
	b := AppendBatch(nil, 50, []Record{{Value: []byte("a"), Timestamp: 30}, {Value: []byte("b")}, {Value: []byte("c"), Timestamp: 90}})
	h, err := ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseTimestamp != 30 || h.MaxTimestamp != 90 {
		t.Fatalf("base %d max %d", h.BaseTimestamp, h.MaxTimestamp)
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	recs := rb.Records
	var deltas []int64
	for range rb.NumRecords {
		var r kmsg.Record
		length, n := binary.Varint(recs)
		if err := r.ReadFrom(recs[:n+int(length)]); err != nil {
			t.Fatal(err)
		}
		deltas = append(deltas, r.TimestampDelta64)
		recs = recs[n+int(length):]
	}
	if fmt.Sprint(deltas) != "[0 20 60]" {
		t.Fatalf("timestamp deltas %v", deltas)
	}
}

func FuzzForEachRecord(f *testing.F) {
	f.Add(AppendBatch(nil, 1, []Record{{Key: []byte("a"), Value: []byte("b")}, {}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseBatchHeader(b)
		if err != nil {
			return
		}
		n := int32(0)
		_ = ForEachRecord(h, b[BatchHeaderSize:], func(d int32, r Record) error {
			n++
			if d < 0 || d > h.LastOffsetDelta || len(r.Key) > len(b) || len(r.Value) > len(b) {
				t.Fatalf("record out of bounds: delta %d", d)
			}
			return nil
		})
		if n > h.NumRecords {
			t.Fatalf("%d records of %d", n, h.NumRecords)
		}
	})
}
