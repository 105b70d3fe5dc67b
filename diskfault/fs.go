// Package diskfault is Cairn's only door to a filesystem.
//
// Everything that persists state — segment files, indexes, checkpoints — goes
// through the FS and File interfaces here, shaped after pebble's vfs. Two
// implementations stand behind them: OS, the real filesystem, and Mem, an
// in-memory filesystem with crash semantics (a crash keeps what was synced and
// keeps, drops or tears the rest by a seeded choice). Wrap composes fault
// injectors (EIO, ENOSPC, bit flips on read) over any FS.
//
// This package must never read the wall clock or global randomness: every
// choice Mem or an injector makes comes from a *rand.Rand that the caller
// seeded, so that the simulator replays a seed exactly.
package diskfault

import (
	"io"
	"os"
)

// File is an open file. Writes land in a volatile cache until Sync returns
// nil; only then are they promised to survive a crash.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync makes every write so far durable. For a directory handle (from
	// FS.OpenDir) it makes the directory's entries durable: files created,
	// removed or renamed in it.
	Sync() error
	// Truncate changes the file's size. The new size is durable only after Sync.
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
}

// FS is a filesystem. Paths are slash-separated; implementations need not
// support relative paths that climb above their root.
type FS interface {
	// Create creates the named file, truncating it if it exists, open for
	// reading and writing. The new directory entry is durable only after the
	// parent directory is synced.
	Create(name string) (File, error)
	// Open opens an existing file for reading.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing; its
	// offset for Read and Write starts at 0.
	OpenReadWrite(name string) (File, error)
	// OpenDir opens a directory so that Sync can make its entries durable.
	OpenDir(name string) (File, error)
	// Remove removes a file or an empty directory. Durable only after the
	// parent directory is synced: until then a crash may bring it back.
	Remove(name string) error
	// RemoveAll removes a directory tree, like os.RemoveAll.
	RemoveAll(name string) error
	// Rename atomically replaces newname with oldname. Durable only after the
	// parent directory is synced.
	Rename(oldname, newname string) error
	// MkdirAll creates dir and any missing parents, like os.MkdirAll. Each
	// new directory is durable only after its parent is synced.
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes the named file or directory as it is now, synced or not.
	Stat(name string) (os.FileInfo, error)
}

// FdFile is implemented by files backed by an operating-system file
// descriptor. The broker uses it to serve fetches with sendfile; files of the
// in-memory FS do not implement it, and callers fall back to ReadAt.
type FdFile interface {
	Fd() uintptr
}
