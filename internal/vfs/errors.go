package vfs

import (
	"errors"
	"io/fs"
)

var (
	// ErrClosed is returned by operations on a closed in-memory file.
	ErrClosed = errors.New("vfs: file already closed")
	// ErrNotExist is returned (wrapped in *fs.PathError) for missing paths;
	// it is fs.ErrNotExist so errors.Is(err, fs.ErrNotExist) works for all
	// implementations.
	ErrNotExist = fs.ErrNotExist
	// ErrExist is fs.ErrExist, returned for O_EXCL creates of existing files.
	ErrExist = fs.ErrExist
	// ErrReadOnly is returned when writing a file opened read-only.
	ErrReadOnly = errors.New("vfs: file opened read-only")
)
