package vfs

import (
	"bytes"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// Mem is an in-memory FS. Every write is durable at once; Sync and SyncDir
// do nothing. The zero value is not usable; call NewMem.
type Mem struct {
	mu    sync.Mutex
	nodes map[string]*node // current namespace, cleaned paths

	// Crash tracking (only when crash is set).
	crash   bool
	rng     *rand.Rand
	durable map[string]*node // namespace as of the last SyncDir of each parent
}

var _ FS = (*Mem)(nil)

type node struct {
	mu     sync.RWMutex
	dir    bool
	data   []byte
	synced []byte // crash mode: contents as of the last Sync (may share data's array)
	mod    time.Time
}

// NewMem returns an empty in-memory file system with a root directory "/"
// and the current directory ".".
func NewMem() *Mem {
	m := &Mem{nodes: map[string]*node{}}
	m.nodes["/"] = &node{dir: true}
	m.nodes["."] = &node{dir: true}
	return m
}

// Crash is an in-memory FS that simulates power loss: see CrashClone.
type Crash struct{ *Mem }

// NewCrash returns an empty crash-simulating file system. seed drives the
// choice of how much of an unsynced write survives a crash.
func NewCrash(seed uint64) *Crash {
	m := NewMem()
	m.crash = true
	m.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m.durable = map[string]*node{}
	for p, n := range m.nodes {
		m.durable[p] = n
	}
	return &Crash{m}
}

// CrashClone returns the file system a machine would find after losing
// power now. Only directory entries made durable by SyncDir survive, with
// the contents made durable by File.Sync. An unsynced append survives as a
// random prefix (possibly empty, possibly whole), sometimes followed by
// zeros where the file size reached the disk but the data did not: a torn
// write. An unsynced
// truncation either happened or not. The receiver is unchanged and stays
// usable; the clone is independent and itself crash-simulating (its whole
// state counts as synced). Directories count as durable once created.
func (c *Crash) CrashClone() *Crash {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := NewCrash(c.rng.Uint64())
	names := make([]string, 0, len(c.durable)+len(c.nodes))
	for p := range c.durable {
		names = append(names, p)
	}
	for p, n := range c.nodes {
		if n.dir {
			if _, ok := c.durable[p]; !ok {
				names = append(names, p)
			}
		}
	}
	sort.Strings(names) // deterministic use of rng
	for _, p := range names {
		n := c.durable[p]
		if n == nil {
			n = c.nodes[p]
		}
		if n.dir {
			out.nodes[p] = &node{dir: true}
			out.durable[p] = out.nodes[p]
			continue
		}
		n.mu.RLock()
		content := n.synced
		switch {
		case len(n.data) > len(n.synced) && bytes.HasPrefix(n.data, n.synced):
			extra := len(n.data) - len(n.synced)
			keep, zeros := 0, 0
			switch c.rng.IntN(4) {
			case 0: // nothing of the unsynced tail reached the disk
			case 1:
				keep = extra
			case 2:
				keep = c.rng.IntN(extra + 1)
			default: // the size reached the disk, part of the data did not
				keep = c.rng.IntN(extra + 1)
				zeros = c.rng.IntN(extra - keep + 1)
			}
			content = append(bytes.Clone(n.data[:len(n.synced)+keep]), make([]byte, zeros)...)
		case len(n.data) < len(n.synced) && bytes.HasPrefix(n.synced, n.data):
			if c.rng.IntN(2) == 0 {
				content = n.data
			}
		}
		cp := bytes.Clone(content)
		if cp == nil {
			cp = []byte{}
		}
		n.mu.RUnlock()
		nn := &node{data: cp, synced: cp[:len(cp):len(cp)], mod: time.Now()}
		out.nodes[p] = nn
		out.durable[p] = nn
	}
	return out
}

func clean(name string) string { return path.Clean(name) }

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

func (m *Mem) parentExistsLocked(p string) bool {
	d := path.Dir(p)
	n, ok := m.nodes[d]
	return ok && n.dir
}

// OpenFile implements FS.
func (m *Mem) OpenFile(name string, flag int, _ fs.FileMode) (File, error) {
	p := clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[p]
	switch {
	case ok && n.dir:
		if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			return nil, pathErr("open", name, fs.ErrInvalid)
		}
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, pathErr("open", name, fs.ErrExist)
	case !ok && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case !ok:
		if !m.parentExistsLocked(p) {
			return nil, pathErr("open", name, fs.ErrNotExist)
		}
		n = &node{data: []byte{}, mod: time.Now()}
		m.nodes[p] = n
	}
	f := &memFile{m: m, n: n, name: p, flag: flag}
	if flag&os.O_TRUNC != 0 && !n.dir {
		if err := f.Truncate(0); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Create implements FS.
func (m *Mem) Create(name string) (File, error) {
	return m.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

// Rename implements FS.
func (m *Mem) Rename(oldpath, newpath string) error {
	o, nw := clean(oldpath), clean(newpath)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[o]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	if n.dir {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrInvalid}
	}
	if t, ok := m.nodes[nw]; ok && t.dir {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	}
	if !m.parentExistsLocked(nw) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	if o == nw {
		return nil
	}
	delete(m.nodes, o)
	m.nodes[nw] = n
	return nil
}

// Remove implements FS.
func (m *Mem) Remove(name string) error {
	p := clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[p]
	if !ok {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if n.dir {
		prefix := p + "/"
		for q := range m.nodes {
			if strings.HasPrefix(q, prefix) {
				return pathErr("remove", name, fs.ErrExist)
			}
		}
	}
	delete(m.nodes, p)
	if n.dir && m.crash {
		delete(m.durable, p) // directories are durable at once (see CrashClone)
	}
	return nil
}

// RemoveAll implements FS.
func (m *Mem) RemoveAll(name string) error {
	p := clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	prefix := p + "/"
	for q, n := range m.nodes {
		if q == p || strings.HasPrefix(q, prefix) {
			delete(m.nodes, q)
			if n.dir && m.crash {
				delete(m.durable, q)
			}
		}
	}
	if m.crash {
		// Removing a tree is modelled as durable at once: recovery code
		// must cope with a partition directory that is half gone anyway.
		for q := range m.durable {
			if q == p || strings.HasPrefix(q, prefix) {
				delete(m.durable, q)
			}
		}
	}
	return nil
}

// ReadDir implements FS.
func (m *Mem) ReadDir(dir string) ([]string, error) {
	p := clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[p]
	if !ok {
		return nil, pathErr("readdir", dir, fs.ErrNotExist)
	}
	if !n.dir {
		return nil, pathErr("readdir", dir, fs.ErrInvalid)
	}
	var names []string
	for q := range m.nodes {
		if q != p && path.Dir(q) == p {
			names = append(names, path.Base(q))
		}
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS.
func (m *Mem) MkdirAll(dir string, _ fs.FileMode) error {
	p := clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	var todo []string
	for q := p; ; q = path.Dir(q) {
		if n, ok := m.nodes[q]; ok {
			if !n.dir {
				return pathErr("mkdir", q, fs.ErrExist)
			}
			break
		}
		todo = append(todo, q)
		if q == "/" || q == "." {
			break
		}
	}
	for _, q := range todo {
		n := &node{dir: true, mod: time.Now()}
		m.nodes[q] = n
		if m.crash {
			m.durable[q] = n
		}
	}
	return nil
}

// Stat implements FS.
func (m *Mem) Stat(name string) (fs.FileInfo, error) {
	p := clean(name)
	m.mu.Lock()
	n, ok := m.nodes[p]
	m.mu.Unlock()
	if !ok {
		return nil, pathErr("stat", name, fs.ErrNotExist)
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return fileInfo{name: path.Base(p), size: int64(len(n.data)), dir: n.dir, mod: n.mod}, nil
}

// SyncDir implements FS. For Crash it makes the entries of dir durable.
func (m *Mem) SyncDir(dir string) error {
	p := clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.nodes[p]; !ok || !n.dir {
		return pathErr("syncdir", dir, fs.ErrNotExist)
	}
	if !m.crash {
		return nil
	}
	for q := range m.durable {
		if path.Dir(q) == p && q != p {
			if _, ok := m.nodes[q]; !ok {
				delete(m.durable, q)
			}
		}
	}
	for q, n := range m.nodes {
		if path.Dir(q) == p && q != p {
			m.durable[q] = n
		}
	}
	return nil
}

type fileInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (fi fileInfo) Name() string { return fi.name }
func (fi fileInfo) Size() int64  { return fi.size }
func (fi fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (fi fileInfo) ModTime() time.Time { return fi.mod }
func (fi fileInfo) IsDir() bool        { return fi.dir }
func (fi fileInfo) Sys() any           { return nil }

type memFile struct {
	m    *Mem
	n    *node
	name string
	flag int

	mu     sync.Mutex // guards pos, closed
	pos    int64
	closed bool
}

func (f *memFile) check(write bool) error {
	if f.closed {
		return pathErr("use", f.name, ErrClosed)
	}
	if write && f.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return pathErr("write", f.name, ErrReadOnly)
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	err := f.check(false)
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("readat", f.name, fs.ErrInvalid)
	}
	f.n.mu.RLock()
	defer f.n.mu.RUnlock()
	if off >= int64(len(f.n.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(true); err != nil {
		return 0, err
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if f.flag&os.O_APPEND != 0 {
		f.pos = int64(len(f.n.data))
	}
	end := f.pos + int64(len(p))
	if f.pos < int64(len(f.n.data)) || f.pos > int64(len(f.n.data)) {
		// Overwrite or hole: copy so a shared synced slice stays intact.
		nd := make([]byte, max(end, int64(len(f.n.data))))
		copy(nd, f.n.data)
		f.n.data = nd
	}
	if end > int64(len(f.n.data)) {
		f.n.data = append(f.n.data, p[int64(len(f.n.data))-f.pos:]...)
		copy(f.n.data[f.pos:], p)
	} else {
		copy(f.n.data[f.pos:end], p)
	}
	f.pos = end
	f.n.mod = time.Now()
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(false); err != nil {
		return err
	}
	if f.m.crash {
		f.n.mu.Lock()
		f.n.synced = f.n.data[:len(f.n.data):len(f.n.data)]
		f.n.mu.Unlock()
	}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, fs.ErrInvalid)
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	nd := make([]byte, size)
	copy(nd, f.n.data)
	f.n.data = nd
	f.n.mod = time.Now()
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.mu.Lock()
	err := f.check(false)
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	f.n.mu.RLock()
	defer f.n.mu.RUnlock()
	return int64(len(f.n.data)), nil
}

func (f *memFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, ErrClosed)
	}
	f.closed = true
	return nil
}
