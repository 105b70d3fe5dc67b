package diskfault

import (
	"maps"
	"slices"
	"syscall"
)

// The synced view: what a crash that keeps nothing unsynced (CrashWith
// with KeepNever) would leave, read without crashing. It is for checkers
// that must judge what a program made durable without asking the program:
// the simulator reads a broker's logs here to see whether what its storage
// reported synced really is. Both methods only read; they change neither
// image nor any directory's changes, so a later crash draws the same
// choices as if they had never been called.

// SyncedList returns the sorted names in dir as the synced view has them:
// the durable entries of dir, reached from the root through durable
// entries only. A directory that would not survive a crash is ENOENT.
func (m *Mem) SyncedList(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target, err := m.syncedLookup(dir)
	if err != nil {
		return nil, pathError("open", dir, err)
	}
	if !target.directory {
		return nil, pathError("readdirent", dir, syscall.ENOTDIR)
	}
	return slices.Sorted(maps.Keys(target.durableEntries)), nil
}

// SyncedFile returns a copy of the named file's durable image: its content
// as of its last successful Sync, under a name that is itself durable. A
// file that would not survive a crash is ENOENT.
func (m *Mem) SyncedFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target, err := m.syncedLookup(name)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	if target.directory {
		return nil, pathError("read", name, syscall.EISDIR)
	}
	durable := &target.data.durable
	out := make([]byte, durable.sizeBytes)
	durable.readAt(out, 0)
	return out, nil
}

// SyncedReadAt copies into p the bytes of the named file's durable image
// at offset, as SyncedFile would hold them, and returns how many (fewer
// than len(p) at its end); it reads only those bytes, for checkers that
// walk a large file's structure.
func (m *Mem) SyncedReadAt(name string, p []byte, offset int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target, err := m.syncedLookup(name)
	if err != nil {
		return 0, pathError("open", name, err)
	}
	if target.directory {
		return 0, pathError("read", name, syscall.EISDIR)
	}
	if offset < 0 {
		return 0, pathError("read", name, syscall.EINVAL)
	}
	return target.data.durable.readAt(p, offset), nil
}

// syncedLookup walks durable entries from the root.
func (m *Mem) syncedLookup(name string) (*node, error) {
	parts, err := splitPath(name)
	if err != nil {
		return nil, err
	}
	current := m.root
	for _, part := range parts {
		if !current.directory {
			return nil, syscall.ENOTDIR
		}
		child := current.durableEntries[part]
		if child == nil {
			return nil, syscall.ENOENT
		}
		current = child
	}
	return current, nil
}
