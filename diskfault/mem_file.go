package diskfault

import (
	"io"
	"os"
	"syscall"
)

// memFile is an open handle of a Mem file or directory. Its node may be
// unlinked while it is open (the handle keeps the orphan alive); a crash
// kills it.
type memFile struct {
	mem      *Mem
	node     *node
	name     string
	epoch    uint64
	offset   int64
	writable bool
	closed   bool
}

var _ File = (*memFile)(nil)

// open returns a new handle of target; the caller holds m.mu.
func (m *Mem) open(target *node, name string, writable bool) *memFile {
	m.addHandles(target, 1)
	return &memFile{mem: m, node: target, name: name, epoch: m.epoch, writable: writable}
}

// usable checks, with m.mu held, that the handle may still be used.
func (f *memFile) usable(op string) error {
	switch {
	case f.epoch != f.mem.epoch:
		return pathError(op, f.name, ErrCrashed)
	case f.closed:
		return pathError(op, f.name, os.ErrClosed)
	}
	return nil
}

// usableForData also rejects data operations on a directory and, when
// writing, on a read-only handle.
func (f *memFile) usableForData(op string, writing bool) error {
	if err := f.usable(op); err != nil {
		return err
	}
	if f.node.directory {
		return pathError(op, f.name, syscall.EISDIR)
	}
	if writing && !f.writable {
		return pathError(op, f.name, syscall.EBADF)
	}
	return nil
}

// Read reads from the handle's offset.
func (f *memFile) Read(p []byte) (int, error) {
	f.mem.mu.Lock()
	defer f.mem.mu.Unlock()
	if err := f.usableForData("read", false); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := f.node.data.readAt(p, f.offset)
	f.offset += int64(n)
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// ReadAt reads at offset; like os.File it returns io.EOF with a short read.
func (f *memFile) ReadAt(p []byte, offset int64) (int, error) {
	f.mem.mu.Lock()
	defer f.mem.mu.Unlock()
	if err := f.usableForData("read", false); err != nil {
		return 0, err
	}
	if offset < 0 {
		return 0, pathError("read", f.name, syscall.EINVAL)
	}
	n := f.node.data.readAt(p, offset)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Write writes at the handle's offset.
func (f *memFile) Write(p []byte) (int, error) {
	f.mem.mu.Lock()
	defer f.mem.mu.Unlock()
	if err := f.usableForData("write", true); err != nil {
		return 0, err
	}
	n, err := f.writeAt(p, f.offset)
	f.offset += int64(n)
	return n, err
}

// WriteAt writes at offset.
func (f *memFile) WriteAt(p []byte, offset int64) (int, error) {
	f.mem.mu.Lock()
	defer f.mem.mu.Unlock()
	if err := f.usableForData("write", true); err != nil {
		return 0, err
	}
	if offset < 0 {
		return 0, pathError("write", f.name, syscall.EINVAL)
	}
	return f.writeAt(p, offset)
}

// writeAt writes what the capacity allows, like write(2) on a nearly full
// disk: a short count and ENOSPC.
func (f *memFile) writeAt(p []byte, offset int64) (int, error) {
	end := offset + int64(len(p))
	if end > fileBytesMax || end < offset {
		return 0, pathError("write", f.name, syscall.EFBIG)
	}
	data := &f.node.data
	growthBytes := max(end-data.size(), 0)
	writable := p
	var err error
	if available := f.mem.availableBytes(); growthBytes > available {
		writable = p[:max(data.size()+available-offset, 0)]
		err = pathError("write", f.name, syscall.ENOSPC)
	}
	if len(writable) > 0 {
		before := data.size()
		data.writeAt(writable, offset)
		f.mem.usedBytes += data.size() - before
	}
	return len(writable), err
}

// Sync makes the file's writes and size durable or, for a directory, its
// entries. It is allowed on read-only handles, as fsync(2) is.
func (f *memFile) Sync() error {
	f.mem.mu.Lock()
	defer f.mem.mu.Unlock()
	if err := f.usable("sync"); err != nil {
		return err
	}
	if f.node.directory {
		f.mem.syncDirectory(f.node)
	} else {
		f.node.data.sync()
	}
	return nil
}

// Truncate sets the file's current size.
func (f *memFile) Truncate(size int64) error {
	f.mem.mu.Lock()
	defer f.mem.mu.Unlock()
	if err := f.usableForData("truncate", false); err != nil {
		return err
	}
	switch {
	case !f.writable || size < 0:
		return pathError("truncate", f.name, syscall.EINVAL)
	case size > fileBytesMax:
		return pathError("truncate", f.name, syscall.EFBIG)
	case size-f.node.data.size() > f.mem.availableBytes():
		return pathError("truncate", f.name, syscall.ENOSPC)
	}
	f.mem.resize(f.node, size)
	return nil
}

// Stat describes the open file.
func (f *memFile) Stat() (os.FileInfo, error) {
	f.mem.mu.Lock()
	defer f.mem.mu.Unlock()
	if err := f.usable("stat"); err != nil {
		return nil, err
	}
	return newFileInfo(f.name, f.node), nil
}

// Close releases the handle; an orphaned file is freed with its last one.
func (f *memFile) Close() error {
	f.mem.mu.Lock()
	defer f.mem.mu.Unlock()
	if err := f.usable("close"); err != nil {
		return err
	}
	f.closed = true
	f.mem.addHandles(f.node, -1)
	return nil
}

// dropUnsynced implements unsyncedDropper: Wrap calls it when it injects a
// writeback error into Sync (see WritebackError).
func (f *memFile) dropUnsynced() error {
	f.mem.mu.Lock()
	defer f.mem.mu.Unlock()
	if err := f.usable("sync"); err != nil {
		return err
	}
	if !f.node.directory {
		f.node.data.dropUnsynced()
	}
	return nil
}
