package log

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

// gateFS counts fsyncs of .log files and can hold them until released,
// which makes group commit observable without timing.
type gateFS struct {
	vfs.FS
	syncs   atomic.Int64
	mu      sync.Mutex
	gate    chan struct{} // when non-nil, .log syncs wait for it to close
	waiting chan struct{} // receives one value per held sync
}

type gateFile struct {
	vfs.File
	fs *gateFS
}

func (g *gateFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, logSuffix) {
		return f, err
	}
	return gateFile{File: f, fs: g}, nil
}

func (f gateFile) Sync() error {
	f.fs.syncs.Add(1)
	f.fs.mu.Lock()
	gate := f.fs.gate
	f.fs.mu.Unlock()
	if gate != nil {
		f.fs.waiting <- struct{}{}
		<-gate
	}
	return f.File.Sync()
}

func (l *Log) writes() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.writeSeq
}

// TestGroupCommit: while one fsync runs, every append that arrives is
// covered by the single next fsync.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	g := &gateFS{FS: vfs.NewMem(), waiting: make(chan struct{}, 100)}
	l := openT(t, g, testConfig())
	defer l.Close()
	g.syncs.Store(0)
	gate := make(chan struct{})
	g.mu.Lock()
	g.gate = gate
	g.mu.Unlock()

	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	app := func() {
		defer wg.Done()
		_, err := l.Append(context.Background(), valueBatch(t, 1, 1, 10))
		errs <- err
	}
	wg.Add(1)
	go app()
	<-g.waiting // the first append's fsync is in flight
	wg.Add(n)
	for range n {
		go app()
	}
	for l.writes() < n+1 { // all written; they now wait for durability
		time.Sleep(time.Millisecond)
	}
	g.mu.Lock()
	g.gate = nil
	g.mu.Unlock()
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := g.syncs.Load(); got != 2 {
		t.Fatalf("%d fsyncs for %d appends, want 2", got, n+1)
	}
}

// TestIntervalFlush: with FlushMS > 0 Append does not fsync; Flush and
// flush.messages do.
func TestIntervalFlush(t *testing.T) {
	t.Parallel()
	g := &gateFS{FS: vfs.NewMem(), waiting: make(chan struct{}, 100)}
	cfg := testConfig()
	cfg.FlushMS = time.Hour
	cfg.FlushMessages = 5
	l := openT(t, g, cfg)
	defer l.Close()
	g.syncs.Store(0)
	for range 4 {
		appendT(t, l, valueBatch(t, 1, 1, 10))
	}
	if got := g.syncs.Load(); got != 0 {
		t.Fatalf("%d fsyncs before flush.messages", got)
	}
	appendT(t, l, valueBatch(t, 1, 1, 10)) // 5th record: flush.messages
	if got := g.syncs.Load(); got != 1 {
		t.Fatalf("%d fsyncs at flush.messages, want 1", got)
	}
	appendT(t, l, valueBatch(t, 1, 1, 10))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := g.syncs.Load(); got != 2 {
		t.Fatalf("%d fsyncs after Flush, want 2", got)
	}
}

// TestCrashAfterIntervalFlush: with FlushMS > 0, what Flush covered
// survives a crash.
func TestCrashAfterIntervalFlush(t *testing.T) {
	t.Parallel()
	fsys := vfs.NewCrash(7)
	cfg := testConfig()
	cfg.FlushMS = time.Hour
	l := openT(t, fsys, cfg)
	defer l.Close()
	for range 10 {
		appendT(t, l, valueBatch(t, 1, 1, 10))
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l2 := openT(t, fsys.CrashClone(), cfg)
	defer l2.Close()
	if l2.EndOffset() != 10 {
		t.Fatalf("end %d after crash, want 10", l2.EndOffset())
	}
}

// TestReadPending: bytes appended while an fsync runs wait in the
// pending buffer until the next fsync; Read, OffsetForTimestamp and
// MaxTimestamp serve them meanwhile, and they reach the file (and survive
// a reopen) once released.
func TestReadPending(t *testing.T) {
	t.Parallel()
	g := &gateFS{FS: vfs.NewMem(), waiting: make(chan struct{}, 100)}
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openT(t, g, cfg)
	gate := make(chan struct{})
	g.mu.Lock()
	g.gate = gate
	g.mu.Unlock()
	const n = 12
	batches := make([][]byte, n+1)
	for i := range batches {
		batches[i] = mkBatch(t, i%5, int64(100+i), rec("k", fmt.Sprint(i)), rec("j", "v"))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	app := func(b []byte) {
		defer wg.Done()
		_, err := l.Append(context.Background(), b)
		errs <- err
	}
	wg.Add(1)
	go app(batches[0])
	<-g.waiting // the first append's fsync is in flight
	wg.Add(n)
	for _, b := range batches[1:] {
		go app(b)
	}
	for l.writes() < n+1 {
		time.Sleep(time.Millisecond)
	}
	l.mu.RLock()
	pending := len(l.active().pend)
	l.mu.RUnlock()
	if pending == 0 {
		t.Fatal("nothing pending while the fsync is held")
	}
	got := readAll(t, l, 0)
	if len(got) != n+1 {
		t.Fatalf("read %d batches, want %d", len(got), n+1)
	}
	byOff := map[int64][]byte{}
	for _, b := range got {
		h, _ := checkBatch(b)
		byOff[h.BaseOffset] = b
	}
	if _, ts := l.MaxTimestamp(); ts != 100+n {
		t.Fatalf("max timestamp %d", ts)
	}
	if off, ts, err := l.OffsetForTimestamp(100 + n); err != nil || ts != 100+n || off < 0 {
		t.Fatalf("OffsetForTimestamp: %d, %d, %v", off, ts, err)
	}
	g.mu.Lock()
	g.gate = nil
	g.mu.Unlock()
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openT(t, g, cfg)
	defer l2.Close()
	again := readAll(t, l2, 0)
	if len(again) != n+1 {
		t.Fatalf("reopened: %d batches", len(again))
	}
	for _, b := range again {
		h, _ := checkBatch(b)
		if !bytes.Equal(byOff[h.BaseOffset], b) {
			t.Fatalf("batch at %d differs after reopen", h.BaseOffset)
		}
	}
}
