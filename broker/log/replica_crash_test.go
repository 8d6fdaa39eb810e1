package log

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

var followerSeed = flag.Uint64("follower.seed", 0, "seed for TestFollowerCrash (0: pick one and print it)")

// followerState is what a follower's log holds after a step: its bytes
// (whole batches from the start offset) and its epoch cache.
type followerState struct {
	data   []byte
	epochs []epochEntry
}

// followerScript drives a follower the way replication does: fetch runs
// of batches with leader gaps, leader changes (a new epoch), truncation
// to a point in the log after a leader change, and log start moves.
// step runs one step and returns false when the script is over.
type followerScript struct {
	rng   *rand.Rand
	epoch int32
	steps int
}

func (s *followerScript) step(t *testing.T, l *Log) (bool, error) {
	if s.steps == 0 {
		return false, nil
	}
	s.steps--
	end, start := l.EndOffset(), l.StartOffset()
	switch r := s.rng.IntN(20); {
	case r < 2 && end > start:
		s.epoch += int32(1 + s.rng.IntN(2))
		return true, l.TruncateTo(start + s.rng.Int64N(end-start+1))
	case r < 3 && end > start:
		return true, l.DeleteRecordsBefore(start + s.rng.Int64N(end-start+1))
	case r < 5:
		s.epoch++
	}
	var in []byte
	base := end
	for range 1 + s.rng.IntN(3) {
		base += int64(s.rng.IntN(3)) // a gap, sometimes
		n := 1 + s.rng.IntN(4)
		b := mkBatch(t, s.rng.IntN(5), base, kv{k: fmt.Appendf(nil, "k%d", base), v: bytes.Repeat([]byte{'x'}, s.rng.IntN(150))})
		// More records than one: a last offset delta beyond the count (compaction-like).
		b = withLastOffsetDelta(t, b, int32(n-1))
		setBaseOffset(b, base)
		setEpoch(b, s.epoch)
		in = append(in, b...)
		base += int64(n)
	}
	_, err := l.AppendReplica(context.Background(), in)
	return true, err
}

// withLastOffsetDelta rewrites a batch's last offset delta (and CRC).
func withLastOffsetDelta(t testing.TB, b []byte, d int32) []byte {
	b = bytes.Clone(b)
	b[23], b[24], b[25], b[26] = byte(uint32(d)>>24), byte(uint32(d)>>16), byte(uint32(d)>>8), byte(uint32(d))
	setCRC(b)
	if _, err := checkBatch(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func stateOf(t *testing.T, l *Log) followerState {
	return followerState{data: cat(readAll(t, l, l.StartOffset())...), epochs: epochsOf(l)}
}

// batchPrefix reports whether a is b cut at a batch boundary.
func batchPrefix(a, b []byte) bool {
	if !bytes.HasPrefix(b, a) {
		return false
	}
	pos := 0
	for pos < len(a) {
		h, err := ParseBatchHeader(b[pos:])
		if err != nil {
			return false
		}
		pos += h.Size()
	}
	return pos == len(a)
}

// checkRecovered: after a crash during the step from before to after, the
// log reads as a batch prefix of one of them at least as long as what
// they share, and its epoch cache is that state's, cut at the recovered
// end.
func checkRecovered(t *testing.T, got followerState, start, end int64, before, after followerState) {
	t.Helper()
	shared := 0
	for shared < min(len(before.data), len(after.data)) && before.data[shared] == after.data[shared] {
		shared++
	}
	for _, s := range []followerState{after, before} {
		if !batchPrefix(got.data, s.data) || len(got.data) < shared && !bytes.Equal(got.data, s.data) {
			continue
		}
		want, _ := truncateEpochsFromStart(s.epochs, start)
		want, _ = truncateEpochsFromEnd(want, end, start)
		if slices.Equal(got.epochs, want) {
			return
		}
	}
	t.Fatalf("recovered %d bytes, epochs %v (end %d): neither a prefix of the state before (%d bytes, %v) nor after (%d bytes, %v)",
		len(got.data), got.epochs, end, len(before.data), before.epochs, len(after.data), after.epochs)
}

// TestFollowerCrash runs a random follower script, crashing after every
// step (everything returned must survive: the recovered log equals the
// state) and, with a crash-point FS, inside every file operation of a
// shorter script (the log recovers as before or after the step, or a
// batch prefix between them). Rerun with -follower.seed=N.
func TestFollowerCrash(t *testing.T) {
	t.Parallel()
	seed := *followerSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("follower seed %d (rerun with -follower.seed=%d)", seed, seed)
	cfg := testConfig()
	cfg.SegmentBytes = 700

	t.Run("after every step", func(t *testing.T) {
		t.Parallel()
		fsys := vfs.NewCrash(seed)
		l := openT(t, fsys, cfg)
		defer l.Close()
		s := &followerScript{rng: rand.New(rand.NewPCG(seed, 1)), steps: 150}
		for {
			more, err := s.step(t, l)
			if err != nil {
				t.Fatal(err)
			}
			if !more {
				break
			}
			want := stateOf(t, l)
			l2, err := Open(fsys.CrashClone(), "/p", cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkRecovered(t, stateOf(t, l2), l2.StartOffset(), l2.EndOffset(), want, want)
			if l2.EndOffset() != l.EndOffset() || l2.StartOffset() != l.StartOffset() {
				t.Fatalf("recovered [%d, %d), was [%d, %d)", l2.StartOffset(), l2.EndOffset(), l.StartOffset(), l.EndOffset())
			}
			_ = l2.Close()
		}
	})

	t.Run("inside every file operation", func(t *testing.T) {
		t.Parallel()
		// run replays the script on a fresh FS, crashing before file
		// operation at; it returns the states around the step that was
		// running then (or ops, the total, when at < 0).
		run := func(at int) (snap *vfs.Crash, before, after followerState, ops int) {
			p := &pointFS{Crash: vfs.NewCrash(seed), at: at}
			l := openT(t, p, cfg)
			defer l.Close()
			s := &followerScript{rng: rand.New(rand.NewPCG(seed, 2)), steps: 40}
			prev := stateOf(t, l)
			for {
				more, err := s.step(t, l)
				if err != nil {
					t.Fatal(err)
				}
				if !more {
					break
				}
				cur := stateOf(t, l)
				p.mu.Lock()
				done := p.snap != nil
				p.mu.Unlock()
				if done {
					return p.snap, prev, cur, 0
				}
				prev = cur
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			return nil, prev, prev, p.n
		}
		_, _, _, ops := run(-1)
		if ops < 50 {
			t.Fatalf("only %d file operations", ops)
		}
		for at := 1; at <= ops; at++ {
			snap, before, after, _ := run(at)
			if snap == nil {
				t.Fatalf("no crash at op %d", at)
			}
			l, err := Open(snap, "/p", cfg)
			if err != nil {
				t.Fatalf("crash at op %d: reopen: %v", at, err)
			}
			checkRecovered(t, stateOf(t, l), l.StartOffset(), l.EndOffset(), before, after)
			_ = l.Close()
		}
	})
}

// FuzzAppendReplica: AppendReplica on arbitrary bytes never panics; it
// either refuses them with a typed error and leaves the log as it was, or
// appends them exactly (they read back byte for byte, across a reopen).
func FuzzAppendReplica(f *testing.F) {
	f.Add(cat(leaderBatch(f, 3, 1, 2), leaderBatch(f, 9, 2, 1)))
	f.Add(leaderBatch(f, 0, 0, 1))
	f.Add(leaderBatch(f, 3, -1, 4)[:70])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := vfs.NewMem()
		l := openT(t, fsys, testConfig())
		replicaT(t, l, leaderBatch(t, 0, 0, 3))
		before := stateOf(t, l)
		_, err := l.AppendReplica(context.Background(), data)
		after := stateOf(t, l)
		if err != nil {
			_ = l.Close()
			if !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrOffsetOutOfOrder) {
				t.Fatalf("untyped error %v", err)
			}
			if !bytes.Equal(after.data, before.data) || !slices.Equal(after.epochs, before.epochs) {
				t.Fatal("a refused input changed the log")
			}
			return
		}
		if !bytes.Equal(after.data, cat(before.data, data)) {
			t.Fatalf("appended bytes read back differently")
		}
		for i := 1; i < len(after.epochs); i++ {
			if after.epochs[i].epoch <= after.epochs[i-1].epoch || after.epochs[i].start <= after.epochs[i-1].start {
				t.Fatalf("epochs out of order: %v", after.epochs)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2 := openT(t, fsys, testConfig())
		defer l2.Close()
		if again := stateOf(t, l2); !bytes.Equal(again.data, after.data) || !slices.Equal(again.epochs, after.epochs) {
			t.Fatal("reopen changed the log")
		}
	})
}

// FuzzEpochs: the epoch checkpoint decoder never panics, and what it
// accepts re-encodes to the same bytes and is strictly increasing.
func FuzzEpochs(f *testing.F) {
	f.Add(encodeEpochs(nil))
	f.Add(encodeEpochs([]epochEntry{{0, 0}, {4, 99}}))
	f.Add([]byte("SLEP\x01\x00\x00\x00\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeEpochs(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeEpochs(es), b) {
			t.Fatal("re-encoding differs")
		}
		for i := 1; i < len(es); i++ {
			if es[i].epoch <= es[i-1].epoch || es[i].start <= es[i-1].start {
				t.Fatalf("accepted out-of-order entries %v", es)
			}
		}
	})
}
