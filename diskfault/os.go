package diskfault

import (
	"os"
	"syscall"
)

// OS is the real filesystem: a thin layer over package os that adds nothing
// but the FS shape. Its files are *os.File, so they implement FdFile.
type OS struct{}

// Default is the filesystem production code uses.
var Default FS = OS{}

var (
	_ FS     = OS{}
	_ FdFile = (*os.File)(nil)
)

// Create creates or truncates the named file, like os.Create.
func (OS) Create(name string) (File, error) {
	file, err := os.Create(name)
	if err != nil {
		// Returning file itself would wrap a nil *os.File in a non-nil File.
		return nil, err
	}
	return file, nil
}

// Open opens the named file (or directory) for reading, like os.Open.
func (OS) Open(name string) (File, error) {
	file, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return file, nil
}

// OpenReadWrite opens an existing file for reading and writing.
func (OS) OpenReadWrite(name string) (File, error) {
	file, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return file, nil
}

// OpenDir opens a directory so that Sync fsyncs it. It fails with ENOTDIR
// when name is not a directory: fsyncing a file by mistake would succeed and
// leave the directory entries that the caller meant to persist in doubt.
// Read and Write on the returned File fail, as they do for any directory
// descriptor.
func (OS) OpenDir(name string) (File, error) {
	file, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	info, err := file.Stat()
	if err != nil {
		_ = file.Close() // The Stat error is the one worth reporting.
		return nil, err
	}
	if !info.IsDir() {
		_ = file.Close()
		return nil, pathError("open", name, syscall.ENOTDIR)
	}
	return file, nil
}

// Remove removes a file or an empty directory, like os.Remove.
func (OS) Remove(name string) error { return os.Remove(name) }

// RemoveAll removes a directory tree, like os.RemoveAll.
func (OS) RemoveAll(name string) error { return os.RemoveAll(name) }

// Rename renames a file or directory, like os.Rename.
func (OS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// MkdirAll creates a directory and its missing parents, like os.MkdirAll.
func (OS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// List returns the sorted names of the entries of dir.
func (OS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // Sorted by name.
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, entry := range entries {
		names[i] = entry.Name()
	}
	return names, nil
}

// Stat describes the named file, like os.Stat.
func (OS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }
