package log

import (
	"context"
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
