package kafkaproto

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func testBatch(records int, pid int64, seq int32) []byte {
	rb := kmsg.RecordBatch{
		Magic: 2, LastOffsetDelta: int32(records - 1), ProducerID: pid, FirstSequence: seq,
		NumRecords: int32(records), FirstTimestamp: 1000, MaxTimestamp: 1000,
	}
	var recs []byte
	for i := range records {
		r := kmsg.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: []byte("v")}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	rb.Records = recs
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

func TestValidateBatch(t *testing.T) {
	t.Parallel()
	good := testBatch(3, 9, 4)
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 1
	badMagic := append([]byte(nil), good...)
	badMagic[16] = 1
	tests := []struct {
		name    string
		b       []byte
		wantErr error
	}{
		{name: "good", b: good},
		{name: "bad crc", b: badCRC, wantErr: ErrCorruptBatch},
		{name: "magic 1", b: badMagic, wantErr: ErrCorruptBatch},
		{name: "short", b: good[:40], wantErr: ErrCorruptBatch},
		{name: "two batches", b: append(append([]byte(nil), good...), good...), wantErr: ErrCorruptBatch},
		{name: "truncated", b: good[:len(good)-1], wantErr: ErrCorruptBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, err := ValidateBatch(tc.b)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (h.NumRecords != 3 || h.ProducerID != 9 || h.BaseSequence != 4 || h.LastSequence() != 6) {
				t.Fatalf("header %+v", h)
			}
		})
	}
}

func TestSplitBatches(t *testing.T) {
	t.Parallel()
	b := append(testBatch(1, -1, -1), testBatch(2, -1, -1)...)
	var n []int32
	if err := SplitBatches(append(b, 0, 0, 0), func(h BatchHeader, _ []byte) bool { n = append(n, h.NumRecords); return true }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(n) != "[1 2]" {
		t.Fatalf("got %v", n)
	}
}

func TestLastSequenceWraps(t *testing.T) {
	t.Parallel()
	h := BatchHeader{BaseSequence: 1<<31 - 2, LastOffsetDelta: 3}
	if h.LastSequence() != 1 {
		t.Fatalf("got %d", h.LastSequence())
	}
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want int16
	}{
		{nil, 0},
		{fmt.Errorf("x: %w", kerr.OutOfOrderSequenceNumber), kerr.OutOfOrderSequenceNumber.Code},
		{fmt.Errorf("x: %w", ErrCorruptBatch), kerr.CorruptMessage.Code},
		{&UnsupportedError{}, kerr.UnsupportedVersion.Code},
		{context.DeadlineExceeded, kerr.RequestTimedOut.Code},
		{errors.New("disk on fire"), kerr.UnknownServerError.Code},
	}
	for _, tc := range tests {
		if got := ErrorCode(tc.err); got != tc.want {
			t.Errorf("ErrorCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func FuzzValidateBatch(f *testing.F) {
	f.Add(testBatch(2, 1, 0))
	f.Add(testBatch(1, -1, -1)[:61])
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ValidateBatch(b)
		if err == nil && h.Size() != len(b) {
			t.Fatalf("valid batch of size %d in %d bytes", h.Size(), len(b))
		}
		consumed := 0
		_ = SplitBatches(b, func(h BatchHeader, batch []byte) bool {
			consumed += len(batch)
			if consumed > len(b) || h.Size() != len(batch) {
				t.Fatalf("split consumed %d of %d", consumed, len(b))
			}
			return true
		})
	})
}
