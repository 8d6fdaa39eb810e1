package log

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/sluicehq/sluice/internal/vfs"
)

func seedBatches(f *testing.F) []byte {
	var log []byte
	off := int64(0)
	for i, codec := range []int{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd, CodecNone} {
		b := mkBatch(f, codec, int64(1000+i), rec("k", "v"), rec("", "tomb?"), kv{k: []byte("h"), ts: 3})
		setBaseOffset(b, off)
		off += 3
		f.Add(b)
		log = append(log, b...)
	}
	return log
}

// FuzzBatch: the v2 decoder never panics, never claims more bytes than it
// was given, and decoding a re-encoded batch gives the same records.
func FuzzBatch(f *testing.F) {
	seedBatches(f)
	f.Add([]byte{})
	f.Add(make([]byte, 61))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseBatchHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) {
				t.Fatalf("error %v does not wrap ErrCorruptBatch", err)
			}
			return
		}
		if _, err := checkBatch(b); err != nil {
			// Fix the CRC so the record decoder behind it gets fuzzed too.
			if h.Size() > len(b) {
				return
			}
			b = append([]byte(nil), b[:h.Size()]...)
			setCRC(b)
		}
		h, err = checkBatch(b)
		if err != nil {
			t.Fatalf("batch with recomputed CRC: %v", err)
		}
		if h.Size() > len(b) || h.Size() < batchHeaderSize {
			t.Fatalf("batch size %d with %d bytes", h.Size(), len(b))
		}
		recs, err := decodeRecords(b, h)
		if err != nil {
			return
		}
		nb, err := encodeBatch(h, recs)
		if err != nil {
			t.Fatal(err)
		}
		nh, err := checkBatch(nb)
		if err != nil {
			t.Fatalf("re-encoded batch invalid: %v", err)
		}
		again, err := decodeRecords(nb, nh)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-decode: %d records, %v", len(again), err)
		}
		for i := range recs {
			a, b := recs[i], again[i]
			if !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Value, b.Value) || a.OffsetDelta != b.OffsetDelta ||
				a.TimestampDelta != b.TimestampDelta || (a.Key == nil) != (b.Key == nil) || (a.Value == nil) != (b.Value == nil) {
				t.Fatalf("record %d changed on round trip", i)
			}
		}
	})
}

// validPrefix is an independent statement of what recovery must keep:
// the longest run of whole, CRC-valid batches with increasing offsets.
func validPrefix(b []byte) int {
	pos, next := 0, int64(0)
	for pos < len(b) {
		h, err := checkBatch(b[pos:])
		if err != nil || h.BaseOffset < next || h.LastOffset() > maxRel {
			break
		}
		next = h.LastOffset() + 1
		pos += h.Size()
	}
	return pos
}

// FuzzRecovery: Open on an arbitrary segment file never panics, keeps
// exactly the valid prefix and serves only it.
func FuzzRecovery(f *testing.F) {
	log := seedBatches(f)
	f.Add(log)
	f.Add(log[:len(log)-5])
	flipped := append([]byte(nil), log...)
	flipped[len(log)/2] ^= 0x10
	f.Add(flipped)
	f.Add(append(append([]byte(nil), log...), 1, 2, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := vfs.NewMem()
		_ = fsys.MkdirAll("/p", 0o755)
		w, _ := fsys.OpenFile("/p/"+segName(0, logSuffix), os.O_RDWR|os.O_CREATE, 0o644)
		_, _ = w.Write(data)
		_ = w.Close()
		l, err := Open(fsys, "/p", testConfig())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		want := validPrefix(data)
		if l.Size() != int64(want) {
			t.Fatalf("kept %d bytes, valid prefix is %d", l.Size(), want)
		}
		var served []byte
		for _, b := range readAll(t, l, 0) {
			served = append(served, b...)
		}
		if !bytes.Equal(served, data[:want]) {
			t.Fatalf("served %d bytes that are not the valid prefix (%d)", len(served), want)
		}
		if rep := l.Recovery(); (want < len(data)) != (len(rep.Truncations) == 1) {
			t.Fatalf("report %+v for %d of %d bytes valid", rep, want, len(data))
		}
	})
}
