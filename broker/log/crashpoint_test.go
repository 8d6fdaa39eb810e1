package log

import (
	"io/fs"
	"sync"

	"github.com/sluicehq/sluice/internal/vfs"
)

// pointFS counts mutating operations (create, write, sync, truncate,
// rename, remove, syncdir) on a Crash FS and takes a CrashClone just
// before operation number at: a crash at that point.
type pointFS struct {
	*vfs.Crash
	mu   sync.Mutex
	n    int
	at   int
	snap *vfs.Crash
}

func (p *pointFS) op() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if p.n == p.at {
		p.snap = p.Crash.CrashClone()
	}
}

type pointFile struct {
	vfs.File
	p *pointFS
}

func (p *pointFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	p.op()
	f, err := p.Crash.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return pointFile{f, p}, nil
}

func (p *pointFS) Create(name string) (vfs.File, error) {
	p.op()
	f, err := p.Crash.Create(name)
	if err != nil {
		return nil, err
	}
	return pointFile{f, p}, nil
}

func (p *pointFS) Rename(a, b string) error { p.op(); return p.Crash.Rename(a, b) }
func (p *pointFS) Remove(a string) error    { p.op(); return p.Crash.Remove(a) }
func (p *pointFS) SyncDir(d string) error   { p.op(); return p.Crash.SyncDir(d) }

func (f pointFile) Write(b []byte) (int, error) { f.p.op(); return f.File.Write(b) }
func (f pointFile) Sync() error                 { f.p.op(); return f.File.Sync() }
func (f pointFile) Truncate(n int64) error      { f.p.op(); return f.File.Truncate(n) }
