package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/vfs"
)

// leaderBatch is a one-batch replica input: n keyed records stamped with
// base offset base and leader epoch epoch, as a leader's Read returns it.
func leaderBatch(t testing.TB, base int64, epoch int32, n int) []byte {
	t.Helper()
	recs := make([]kv, n)
	for i := range recs {
		recs[i] = kv{k: fmt.Appendf(nil, "k%d", base+int64(i)), v: bytes.Repeat([]byte{'v'}, 40)}
	}
	b := mkBatch(t, CodecNone, 1000+base, recs...)
	setBaseOffset(b, base)
	setEpoch(b, epoch)
	return b
}

func setEpoch(b []byte, epoch int32) {
	b[12], b[13], b[14], b[15] = byte(uint32(epoch)>>24), byte(uint32(epoch)>>16), byte(uint32(epoch)>>8), byte(uint32(epoch))
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func replicaT(t testing.TB, l *Log, b []byte) AppendInfo {
	t.Helper()
	info, err := l.AppendReplica(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func epochsOf(l *Log) []epochEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.epochs)
}

func TestAppendReplica(t *testing.T) {
	t.Parallel()
	compact := testConfig()
	compact.CleanupPolicy = PolicyCompact
	tiny := testConfig()
	tiny.SegmentBytes = 300
	tests := []struct {
		name       string
		cfg        Config
		batches    [][]byte // appended one AppendReplica call each
		wantEnd    int64
		wantSegs   []int64 // segment base offsets
		wantEpochs []epochEntry
	}{
		{
			name:       "contiguous",
			cfg:        testConfig(),
			batches:    [][]byte{cat(leaderBatch(t, 0, 0, 2), leaderBatch(t, 2, 0, 3)), leaderBatch(t, 5, 1, 1)},
			wantEnd:    6,
			wantSegs:   []int64{0},
			wantEpochs: []epochEntry{{0, 0}, {1, 5}},
		},
		{
			name:       "gaps as compaction leaves them",
			cfg:        testConfig(),
			batches:    [][]byte{cat(leaderBatch(t, 3, 2, 1), leaderBatch(t, 10, 2, 2)), leaderBatch(t, 100, 7, 1)},
			wantEnd:    101,
			wantSegs:   []int64{0},
			wantEpochs: []epochEntry{{2, 3}, {7, 100}},
		},
		{
			name:       "rolls keep the leader's base offsets",
			cfg:        tiny,
			batches:    [][]byte{cat(leaderBatch(t, 0, 1, 2), leaderBatch(t, 2, 1, 2), leaderBatch(t, 50, 1, 2), leaderBatch(t, 60, 3, 2))},
			wantEnd:    62,
			wantSegs:   []int64{0, 2, 50, 60},
			wantEpochs: []epochEntry{{1, 0}, {3, 60}},
		},
		{
			name:     "a gap too wide for relative offsets rolls even an empty segment",
			cfg:      testConfig(),
			batches:  [][]byte{leaderBatch(t, 1<<33, 0, 1), leaderBatch(t, 1<<34, 0, 1)},
			wantEnd:  1<<34 + 1,
			wantSegs: []int64{0, 1 << 33, 1 << 34}, wantEpochs: []epochEntry{{0, 1 << 33}},
		},
		{
			name:    "keyless records on a compacted log and epoch -1",
			cfg:     compact,
			batches: [][]byte{mkBatchAt(t, 0, -1, rec("", "no key"))},
			wantEnd: 1, wantSegs: []int64{0},
		},
		{
			name:    "empty input",
			cfg:     testConfig(),
			batches: [][]byte{nil},
			wantEnd: 0, wantSegs: []int64{0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := vfs.NewCrash(1)
			l := openT(t, fsys, tc.cfg)
			var want []byte
			for _, b := range tc.batches {
				in := bytes.Clone(b)
				info := replicaT(t, l, b)
				if !bytes.Equal(in, b) {
					t.Fatal("AppendReplica changed its input")
				}
				if len(b) == 0 {
					if info.LastOffset != -1 {
						t.Fatalf("empty input: %+v", info)
					}
					continue
				}
				hs, _ := checkReplicaBatches(b)
				last := hs[len(hs)-1]
				if info.BaseOffset != last.BaseOffset || info.LastOffset != last.LastOffset() || info.NumRecords != last.NumRecords {
					t.Fatalf("info %+v, last batch %+v", info, last)
				}
				if d := l.DurableEndOffset(); d < info.LastOffset+1 {
					t.Fatalf("durable end %d after an append ending at %d", d, info.LastOffset)
				}
				want = append(want, b...)
			}
			check := func(l *Log) {
				t.Helper()
				if l.EndOffset() != tc.wantEnd {
					t.Fatalf("end %d, want %d", l.EndOffset(), tc.wantEnd)
				}
				var bases []int64
				for _, s := range l.segs {
					bases = append(bases, s.base)
				}
				if !slices.Equal(bases, tc.wantSegs) {
					t.Fatalf("segments %v, want %v", bases, tc.wantSegs)
				}
				if got := cat(readAll(t, l, 0)...); !bytes.Equal(got, want) {
					t.Fatalf("read %d bytes differing from the %d appended", len(got), len(want))
				}
				if got := epochsOf(l); !slices.Equal(got, tc.wantEpochs) {
					t.Fatalf("epochs %v, want %v", got, tc.wantEpochs)
				}
			}
			check(l)
			// Durable as returned: a crash now loses nothing.
			l2 := openT(t, fsys.CrashClone(), tc.cfg)
			check(l2)
			_ = l2.Close()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l3 := openT(t, fsys, tc.cfg)
			defer l3.Close()
			check(l3)
		})
	}
}

// mkBatchAt is mkBatch with a base offset and leader epoch.
func mkBatchAt(t testing.TB, base int64, epoch int32, recs ...kv) []byte {
	b := mkBatch(t, CodecNone, 1, recs...)
	setBaseOffset(b, base)
	setEpoch(b, epoch)
	return b
}

func TestAppendReplicaRefuses(t *testing.T) {
	t.Parallel()
	good := leaderBatch(t, 10, 1, 2) // offsets 10..11
	badCRC := bytes.Clone(leaderBatch(t, 12, 1, 1))
	badCRC[len(badCRC)-1] ^= 1
	badCount := leaderBatch(t, 12, 1, 1)
	badCount[60] = 5 // record count 5 > last offset delta + 1 (covered by the CRC)
	setCRC(badCount)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"base below the end", leaderBatch(t, 4, 1, 1), ErrOffsetOutOfOrder},
		{"last offset below the end", leaderBatch(t, 0, 1, 3), ErrOffsetOutOfOrder},
		{"overlapping the end", leaderBatch(t, 4, 1, 3), ErrOffsetOutOfOrder},
		{"overlap inside the input", cat(good, leaderBatch(t, 11, 1, 1)), ErrOffsetOutOfOrder},
		{"decreasing inside the input", cat(good, leaderBatch(t, 6, 1, 1)), ErrOffsetOutOfOrder},
		{"negative base", leaderBatch(t, -3, 1, 1), ErrOffsetOutOfOrder},
		{"bad crc in the second batch", cat(good, badCRC), ErrCorruptBatch},
		{"record count", cat(good, badCount), ErrCorruptBatch},
		{"partial last batch", cat(good, good[:40]), ErrCorruptBatch},
		{"trailing garbage", cat(good, []byte{1, 2, 3}), ErrCorruptBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := openT(t, vfs.NewMem(), testConfig())
			defer l.Close()
			replicaT(t, l, leaderBatch(t, 0, 0, 5))
			size, epochs := l.Size(), epochsOf(l)
			_, err := l.AppendReplica(context.Background(), tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if l.Size() != size || l.EndOffset() != 5 || !slices.Equal(epochsOf(l), epochs) {
				t.Fatalf("refused input changed the log: size %d end %d epochs %v", l.Size(), l.EndOffset(), epochsOf(l))
			}
			replicaT(t, l, leaderBatch(t, 5, 0, 1)) // still usable
		})
	}
}

// TestReplicateFromLeader: a follower fed with the leader's Read output
// holds the leader's bytes exactly, and answers the same epoch queries.
func TestReplicateFromLeader(t *testing.T) {
	t.Parallel()
	leader := openT(t, vfs.NewMem(), testConfig())
	defer leader.Close()
	follower := openT(t, vfs.NewMem(), testConfig())
	defer follower.Close()
	for i := range 40 {
		if i%10 == 0 {
			leader.SetLeaderEpoch(int32(i / 5))
		}
		appendT(t, leader, mkBatch(t, i%5, int64(i), rec("a", "x"), rec("b", fmt.Sprint(i))))
		for follower.EndOffset() < leader.EndOffset() {
			b, err := leader.Read(follower.EndOffset(), 700)
			if err != nil {
				t.Fatal(err)
			}
			replicaT(t, follower, b)
		}
	}
	if !bytes.Equal(cat(readAll(t, leader, 0)...), cat(readAll(t, follower, 0)...)) {
		t.Fatal("follower differs from leader")
	}
	if !slices.Equal(epochsOf(leader), epochsOf(follower)) || leader.LatestEpoch() != 6 {
		t.Fatalf("epochs: leader %v follower %v", epochsOf(leader), epochsOf(follower))
	}
	for e := int32(-1); e < 9; e++ {
		le, lo := leader.EndOffsetForEpoch(e)
		fe, fo := follower.EndOffsetForEpoch(e)
		if le != fe || lo != fo {
			t.Fatalf("epoch %d: leader (%d, %d), follower (%d, %d)", e, le, lo, fe, fo)
		}
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	t.Parallel()
	l := openT(t, vfs.NewMem(), testConfig())
	defer l.Close()
	if l.LatestEpoch() != -1 {
		t.Fatal("empty log has an epoch")
	}
	if e, o := l.EndOffsetForEpoch(0); e != -1 || o != -1 {
		t.Fatalf("empty cache: (%d, %d)", e, o)
	}
	// Epoch 2 at 0..4, epoch 5 at 5..9 and 20..21 (a gap), epoch 6 at 22.
	replicaT(t, l, cat(leaderBatch(t, 0, 2, 5), leaderBatch(t, 5, 5, 5), leaderBatch(t, 20, 5, 2), leaderBatch(t, 22, 6, 1)))
	tests := []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{-1, -1, -1}, {1, -1, -1}, // below the first cached epoch
		{2, 2, 5}, {3, 2, 5}, {4, 2, 5},
		{5, 5, 22},
		{6, 6, 23}, // the latest: the log end
		{9, 6, 23}, // above the latest
	}
	for _, tc := range tests {
		if e, o := l.EndOffsetForEpoch(tc.epoch); e != tc.wantEpoch || o != tc.wantEnd {
			t.Errorf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", tc.epoch, e, o, tc.wantEpoch, tc.wantEnd)
		}
	}
	if l.LatestEpoch() != 6 {
		t.Fatalf("latest %d", l.LatestEpoch())
	}
}

func TestEpochCacheUpkeep(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SegmentBytes = 400
	// Epoch 1 at 0..9, epoch 3 at 10..19, epoch 4 at 20..29; two-record batches.
	build := func(t *testing.T, fsys vfs.FS) *Log {
		l := openT(t, fsys, cfg)
		for base := int64(0); base < 30; base += 2 {
			replicaT(t, l, leaderBatch(t, base, []int32{1, 3, 4}[base/10], 2))
		}
		return l
	}
	tests := []struct {
		name string
		op   func(l *Log) error
		want []epochEntry
	}{
		{"truncate into epoch 3", func(l *Log) error { return l.TruncateTo(14) }, []epochEntry{{1, 0}, {3, 10}}},
		{"truncate to epoch 3's start", func(l *Log) error { return l.TruncateTo(10) }, []epochEntry{{1, 0}}},
		{"truncate inside a batch", func(l *Log) error { return l.TruncateTo(21) }, []epochEntry{{1, 0}, {3, 10}}},
		{"truncate below the start", func(l *Log) error {
			if err := l.DeleteRecordsBefore(6); err != nil {
				return err
			}
			return l.TruncateTo(2)
		}, nil},
		{"delete records into epoch 3", func(l *Log) error { return l.DeleteRecordsBefore(13) }, []epochEntry{{3, 13}, {4, 20}}},
		{"delete records to epoch 4's start", func(l *Log) error { return l.DeleteRecordsBefore(20) }, []epochEntry{{4, 20}}},
		{"delete records to the end", func(l *Log) error { return l.DeleteRecordsBefore(30) }, []epochEntry{{4, 30}}},
		{"retention drops segments", func(l *Log) error {
			c := l.Config()
			c.RetentionBytes = 1200
			if err := l.SetConfig(c); err != nil {
				return err
			}
			_, err := l.ApplyRetention()
			return err
		}, nil}, // checked against the start offset below
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := vfs.NewCrash(1)
			l := build(t, fsys)
			if err := tc.op(l); err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if tc.name == "retention drops segments" {
				if l.StartOffset() == 0 {
					t.Fatal("retention deleted nothing")
				}
				want, _ = truncateEpochsFromStart([]epochEntry{{1, 0}, {3, 10}, {4, 20}}, l.StartOffset())
			}
			if got := epochsOf(l); !slices.Equal(got, want) {
				t.Fatalf("epochs %v, want %v", got, want)
			}
			// The change is durable as soon as the call returns, and the
			// log keeps following the leader from its new end.
			l2 := openT(t, fsys.CrashClone(), cfg)
			if got := epochsOf(l2); !slices.Equal(got, want) && !(len(want) == 1 && want[0].start == l2.EndOffset() && len(got) == 0) {
				t.Fatalf("after a crash: epochs %v, want %v", got, want)
			}
			_ = l2.Close()
			end := l.EndOffset()
			replicaT(t, l, leaderBatch(t, end, 9, 1))
			if e, o := l.EndOffsetForEpoch(9); e != 9 || o != end+1 {
				t.Fatalf("after a new epoch: (%d, %d)", e, o)
			}
			_ = l.Close()
		})
	}
}

// TestEpochCacheRebuilt: a missing or corrupt epochs.checkpoint is
// rebuilt from the batch headers on Open.
func TestEpochCacheRebuilt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(fsys vfs.FS) error
	}{
		{"missing", func(fsys vfs.FS) error { return fsys.Remove(path.Join("/p", epochsName)) }},
		{"corrupt", func(fsys vfs.FS) error {
			f, err := fsys.OpenFile(path.Join("/p", epochsName), os.O_RDWR|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			_, err = f.Write([]byte{0})
			return errors.Join(err, f.Close())
		}},
		{"unknown version", func(fsys vfs.FS) error {
			b := encodeEpochs([]epochEntry{{1, 0}})
			b[4] = 9
			return writeFileAtomic(fsys, "/p", path.Join("/p", epochsName), b)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := vfs.NewMem()
			l := openT(t, fsys, testConfig())
			for i := range 12 {
				l.SetLeaderEpoch(int32(i / 4 * 2))
				appendT(t, l, mkBatch(t, CodecNone, 1, rec("k", "v"), rec("j", "w")))
			}
			want := epochsOf(l)
			if len(want) != 3 {
				t.Fatalf("epochs %v", want)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(fsys); err != nil {
				t.Fatal(err)
			}
			l2 := openT(t, fsys, testConfig())
			defer l2.Close()
			if got := epochsOf(l2); !slices.Equal(got, want) {
				t.Fatalf("rebuilt %v, want %v", got, want)
			}
			b, err := readWhole(fsys, path.Join("/p", epochsName))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := decodeEpochs(b); err != nil || !slices.Equal(got, want) {
				t.Fatalf("rewritten file: %v, %v", got, err)
			}
		})
	}
}

// TestTruncateFollower: TruncateTo on a follower's log (leader gaps, a
// cut inside a segment, inside a batch, inside a gap), durable at once,
// and the follower appends from its new end.
func TestTruncateFollower(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SegmentBytes = 600
	// Batches (two records each) at 0, 2, 10, 12, 30, 32, 34, 50, 52.
	bases := []int64{0, 2, 10, 12, 30, 32, 34, 50, 52}
	tests := []struct {
		to, wantEnd int64
	}{
		{to: 12, wantEnd: 12}, // a batch boundary
		{to: 13, wantEnd: 12}, // inside a batch: to its base
		{to: 20, wantEnd: 14}, // inside a gap: after the last kept batch
		{to: 34, wantEnd: 34},
		{to: 53, wantEnd: 52},
		{to: 1, wantEnd: 0},
		{to: 54, wantEnd: 54}, // at the end: nothing
		{to: 99, wantEnd: 54},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.to), func(t *testing.T) {
			t.Parallel()
			fsys := vfs.NewCrash(2)
			l := openT(t, fsys, cfg)
			defer l.Close()
			var all [][]byte
			for i, b := range bases {
				all = append(all, leaderBatch(t, b, int32(i/3), 2))
				replicaT(t, l, all[i])
			}
			if len(l.segs) < 3 {
				t.Fatalf("want several segments, got %d", len(l.segs))
			}
			if err := l.TruncateTo(tc.to); err != nil {
				t.Fatal(err)
			}
			var want []byte
			for i, b := range bases {
				if b < tc.wantEnd {
					want = append(want, all[i]...)
				}
			}
			l2 := openT(t, fsys.CrashClone(), cfg)
			defer l2.Close()
			for _, l := range []*Log{l, l2} {
				if l.EndOffset() != tc.wantEnd || !bytes.Equal(cat(readAll(t, l, 0)...), want) {
					t.Fatalf("end %d (want %d), %d bytes (want %d)", l.EndOffset(), tc.wantEnd, l.Size(), len(want))
				}
				if d := l.DurableEndOffset(); d > l.EndOffset() {
					t.Fatalf("durable end %d beyond the end %d", d, l.EndOffset())
				}
			}
			next := leaderBatch(t, tc.wantEnd, 7, 3)
			replicaT(t, l, next)
			if got := cat(readAll(t, l, 0)...); !bytes.Equal(got, cat(want, next)) {
				t.Fatal("append after truncation reads back wrong")
			}
		})
	}
}

func TestDurableEndOffset(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.FlushMS = 1 << 40 // never by the interval flusher
	l := openT(t, vfs.NewMem(), cfg)
	defer l.Close()
	replicaT(t, l, leaderBatch(t, 0, 0, 3))
	appendT(t, l, mkBatch(t, CodecNone, 1, rec("k", "v")))
	if l.DurableEndOffset() != 0 || l.EndOffset() != 4 {
		t.Fatalf("durable end %d, end %d before any fsync", l.DurableEndOffset(), l.EndOffset())
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if l.DurableEndOffset() != 4 {
		t.Fatalf("durable end %d after Flush", l.DurableEndOffset())
	}
}

func TestEpochsEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		es   []epochEntry
		ok   bool
	}{
		{"empty", nil, true},
		{"increasing", []epochEntry{{0, 0}, {3, 7}, {4, 1 << 40}}, true},
		{"same epoch twice", []epochEntry{{1, 0}, {1, 7}}, false},
		{"start not increasing", []epochEntry{{1, 5}, {2, 5}}, false},
		{"negative", []epochEntry{{-1, 0}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeEpochs(encodeEpochs(tc.es))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if tc.ok && !slices.Equal(got, tc.es) && len(got)+len(tc.es) > 0 {
				t.Fatalf("round trip %v -> %v", tc.es, got)
			}
		})
	}
}

// TestReplicaConcurrentReaders: a follower appends while readers fetch and
// query epochs (run with -race); every read returns whole batches that
// match what was appended, and the durable end never passes the end.
func TestReplicaConcurrentReaders(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SegmentBytes = 2000
	l := openT(t, vfs.NewMem(), cfg)
	defer l.Close()
	const n = 200
	want := make([][]byte, n)
	for i := range want {
		want[i] = leaderBatch(t, int64(2*i), int32(i/40), 1) // a gap after each batch
	}
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 3 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				d := l.DurableEndOffset() // first: both only grow
				end := l.EndOffset()
				if d > end {
					errs <- fmt.Errorf("durable end %d past end %d", d, end)
					return
				}
				if end == 0 {
					continue
				}
				off := (end - 1) / 2 * 2
				b, err := l.Read(off, 500)
				if err != nil {
					errs <- err
					return
				}
				if h, err := checkBatch(b); err != nil || !bytes.Equal(b[:h.Size()], want[h.BaseOffset/2]) {
					errs <- fmt.Errorf("Read(%d): %v", off, err)
					return
				}
				l.EndOffsetForEpoch(l.LatestEpoch())
			}
		}()
	}
	for _, b := range want {
		replicaT(t, l, b)
	}
	close(done)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if e, o := l.EndOffsetForEpoch(4); e != 4 || o != 2*n-1 {
		t.Fatalf("EndOffsetForEpoch(4) = (%d, %d)", e, o)
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		at   int64
	}{
		{"above the end (a follower behind the leader's start)", 1000},
		{"inside the log", 7},
		{"below the start", 2},
		{"at the end", 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := vfs.NewCrash(4)
			cfg := testConfig()
			cfg.SegmentBytes = 400
			l := openT(t, fsys, cfg)
			defer l.Close()
			for base := int64(0); base < 20; base += 2 {
				replicaT(t, l, leaderBatch(t, base, int32(base/10), 2))
			}
			if err := l.DeleteRecordsBefore(4); err != nil {
				t.Fatal(err)
			}
			if err := l.TruncateFullyAndStartAt(tc.at); err != nil {
				t.Fatal(err)
			}
			l2 := openT(t, fsys.CrashClone(), cfg)
			defer l2.Close()
			for _, l := range []*Log{l, l2} {
				if l.StartOffset() != tc.at || l.EndOffset() != tc.at || l.Size() != 0 || l.LatestEpoch() != -1 || l.DurableEndOffset() != tc.at {
					t.Fatalf("start %d end %d size %d epoch %d durable %d", l.StartOffset(), l.EndOffset(), l.Size(), l.LatestEpoch(), l.DurableEndOffset())
				}
			}
			b := leaderBatch(t, tc.at, 5, 2)
			replicaT(t, l, b)
			if got := cat(readAll(t, l, tc.at)...); !bytes.Equal(got, b) {
				t.Fatal("append after the restart reads back wrong")
			}
			if e, o := l.EndOffsetForEpoch(5); e != 5 || o != tc.at+2 {
				t.Fatalf("EndOffsetForEpoch(5) = (%d, %d)", e, o)
			}
		})
	}
}
