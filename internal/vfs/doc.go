// Package vfs is the only way broker/log touches disk.
//
// It owns three implementations of one small interface:
//
//   - OS: the real file system (package os), with SyncDir implemented by
//     opening the directory and calling fsync on it.
//   - Mem: an in-memory file system for fast tests; every write is durable
//     at once.
//   - Crash: an in-memory file system that remembers what has been made
//     durable. File contents become durable on File.Sync; directory entries
//     (creates, renames, removes) become durable on SyncDir of their parent
//     directory. CrashClone returns the state a machine would find after
//     losing power now: unsynced data is dropped, except that an unsynced
//     append may survive as a random prefix (a torn write).
//
// Invariants: paths are slash-separated and cleaned with path.Clean by the
// in-memory implementations; ReadDir returns names sorted. All three
// implementations are safe for concurrent use by multiple goroutines; a
// single File is safe for concurrent ReadAt alongside one writer.
//
// Lock order (Mem, Crash): fs.mu -> node.mu.
package vfs
