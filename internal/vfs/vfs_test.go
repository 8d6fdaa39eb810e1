package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"testing"
)

func implementations(t *testing.T) map[string]func() (FS, string) {
	return map[string]func() (FS, string){
		"os":    func() (FS, string) { return OS{}, t.TempDir() },
		"mem":   func() (FS, string) { return NewMem(), "/data" },
		"crash": func() (FS, string) { return NewCrash(1), "/data" },
	}
}

// TestConformance runs the same script against every implementation.
func TestConformance(t *testing.T) {
	t.Parallel()
	for name, mk := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fsys, root := mk()
			dir := path.Join(root, "a", "b")
			if err := fsys.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			p := path.Join(dir, "f")
			f, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"hello ", "world"} {
				if _, err := f.Write([]byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			if sz, _ := f.Size(); sz != 11 {
				t.Fatalf("size %d", sz)
			}
			buf := make([]byte, 5)
			if _, err := f.ReadAt(buf, 6); err != nil || string(buf) != "world" {
				t.Fatalf("ReadAt = %q, %v", buf, err)
			}
			if n, err := f.ReadAt(buf, 8); n != 3 || !errors.Is(err, io.EOF) {
				t.Fatalf("short ReadAt = %d, %v", n, err)
			}
			if err := f.Truncate(5); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("!")); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 6)
			if _, err := f.ReadAt(got, 0); err != nil || string(got) != "hello!" {
				t.Fatalf("after truncate+append: %q %v", got, err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := fsys.Rename(p, path.Join(dir, "g")); err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("stat old name: %v", err)
			}
			if fi, err := fsys.Stat(path.Join(dir, "g")); err != nil || fi.Size() != 6 {
				t.Fatalf("stat new: %v %v", fi, err)
			}
			if err := fsys.SyncDir(dir); err != nil {
				t.Fatal(err)
			}
			names, err := fsys.ReadDir(dir)
			if err != nil || len(names) != 1 || names[0] != "g" {
				t.Fatalf("ReadDir = %v, %v", names, err)
			}
			if _, err := fsys.OpenFile(path.Join(dir, "missing"), os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("open missing: %v", err)
			}
			if err := fsys.Remove(path.Join(dir, "g")); err != nil {
				t.Fatal(err)
			}
			if err := fsys.RemoveAll(path.Join(root, "a")); err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("stat after RemoveAll: %v", err)
			}
		})
	}
}

func write(t *testing.T, f File, s string) {
	t.Helper()
	if _, err := f.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func content(t *testing.T, fsys FS, p string) (string, bool) {
	t.Helper()
	f, err := fsys.OpenFile(p, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sz, _ := f.Size()
	b := make([]byte, sz)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return string(b), true
}

// TestCrashClone checks the durability model: file data needs Sync, names
// need SyncDir, and an unsynced append survives only as a prefix.
func TestCrashClone(t *testing.T) {
	t.Parallel()
	for seed := uint64(0); seed < 50; seed++ {
		c := NewCrash(seed)
		if err := c.MkdirAll("/d", 0o755); err != nil {
			t.Fatal(err)
		}
		f, _ := c.Create("/d/synced")
		write(t, f, "durable")
		_ = f.Sync()
		write(t, f, "-tail")
		g, _ := c.Create("/d/nodirsync")
		write(t, g, "x")
		_ = g.Sync()
		_ = c.SyncDir("/d") // both names durable now
		h, _ := c.Create("/d/unnamed")
		write(t, h, "y")
		_ = h.Sync()
		_ = c.Rename("/d/nodirsync", "/d/renamed") // not synced: old name survives

		cc := c.CrashClone()
		got, ok := content(t, cc, "/d/synced")
		trimmed := bytes.TrimRight([]byte(got), "\x00")
		if !ok || !bytes.HasPrefix(trimmed, []byte("durable")) || !bytes.HasPrefix([]byte("durable-tail"), trimmed) || len(got) > len("durable-tail") {
			t.Fatalf("seed %d: synced file = %q %v", seed, got, ok)
		}
		if _, ok := content(t, cc, "/d/unnamed"); ok {
			t.Fatalf("seed %d: file without SyncDir survived", seed)
		}
		if _, ok := content(t, cc, "/d/renamed"); ok {
			t.Fatalf("seed %d: unsynced rename survived", seed)
		}
		if got, ok := content(t, cc, "/d/nodirsync"); !ok || got != "x" {
			t.Fatalf("seed %d: old name = %q %v", seed, got, ok)
		}
		// The original keeps working after a clone.
		if got, _ := content(t, c, "/d/synced"); got != "durable-tail" {
			t.Fatalf("original changed: %q", got)
		}
	}
}
