package diskfault

import (
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CapacityUnlimited, passed to SetCapacity, removes the capacity limit.
const CapacityUnlimited int64 = -1

// Mem is an in-memory FS with the crash semantics of a real disk under
// power loss. The zero Mem is not usable; call NewMem.
//
// Files. Each file has a current image (what reads return) and a durable
// image (as of its last successful Sync). Writes and Truncate change only
// the current image.
//
// Directories. Each directory has current entries and durable entries (as
// of its last Sync through OpenDir). Create, Remove, RemoveAll, Rename and
// MkdirAll change only the current entries, each as one numbered change;
// syncing a file does not make its own directory entry durable. A Rename
// between two directories is durable only when both are synced.
//
// Crash simulates power loss; see CrashWith for exactly what survives.
//
// Open handles of a removed file keep working on the orphaned file, as on
// POSIX. Paths are slash-separated; relative and absolute names resolve
// from the same root, and a name that climbs above it fails with EINVAL.
// Permissions are recorded but not enforced. Modification times are always
// zero, because Mem never reads the clock. A file cannot grow past 4 GiB
// (EFBIG), so that a wild offset fails instead of exhausting memory.
//
// Memory. Content is kept in 4 KiB pages that a file's two images share
// until one of them is written, so synced data is held once, Sync copies no
// bytes, and the holes that Truncate or a write past the end leave take no
// memory. A removed file stays in memory until its removal is durable (its
// directory synced) or a crash has decided its fate, because a crash may
// bring it back.
//
// Mem is safe for concurrent use; every method takes one mutex, so it is
// deterministic when called from one goroutine.
type Mem struct {
	mu   sync.Mutex
	root *node
	// epoch counts crashes; a handle from an older epoch is dead.
	epoch uint64
	// capacityBytes bounds usedBytes, or is CapacityUnlimited.
	capacityBytes int64
	// usedBytes is the current size of every live file: linked in a
	// directory or held open. Durable images do not count, just as blocks
	// that a crash could roll back to do not count as used on a real disk.
	usedBytes int64
	// changeSequence numbers directory changes; a crash keeps a prefix.
	changeSequence uint64
	// changedDirectories holds every directory with unsynced changes.
	changedDirectories map[*node]struct{}
}

var _ FS = (*Mem)(nil)

// node is a file or a directory (an inode).
type node struct {
	directory bool
	mode      os.FileMode
	// data is a file's content.
	data fileData
	// links counts the current directory entries that name this node and
	// handles its open handles; a file with neither is garbage.
	links   int
	handles int
	// entries and durableEntries are a directory's current and durable
	// names; applying changes to durableEntries yields entries.
	entries        map[string]*node
	durableEntries map[string]*node
	changes        []entryChange
}

// entryChange is one unsynced change to a directory: name now refers to
// target, or is removed when target is nil. The changes of one operation
// (both halves of a Rename) share a sequence number so that a crash keeps
// all of them or none.
type entryChange struct {
	sequence uint64
	name     string
	target   *node
}

func newDirectory(perm os.FileMode) *node {
	return &node{
		directory:      true,
		mode:           fs.ModeDir | perm.Perm(),
		entries:        make(map[string]*node),
		durableEntries: make(map[string]*node),
	}
}

func (n *node) live() bool { return n.links > 0 || n.handles > 0 }

// NewMem returns an empty in-memory filesystem with unlimited capacity.
func NewMem() *Mem {
	return &Mem{
		root:               newDirectory(0o755),
		capacityBytes:      CapacityUnlimited,
		changedDirectories: make(map[*node]struct{}),
	}
}

// SetCapacity limits the bytes that live files may hold; a write or
// Truncate that would exceed it fails with ENOSPC (a write first writes
// what fits, as write(2) does). CapacityUnlimited, or any negative value,
// removes the limit. Lowering the capacity below UsedBytes deletes nothing;
// it only makes files unable to grow.
func (m *Mem) SetCapacity(bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.capacityBytes = max(bytes, CapacityUnlimited)
}

// UsedBytes returns the total current size of every file that is linked in
// a directory or held open. It counts sizes, not pages, so a sparse file
// counts in full: capacity errs on the side of running out early.
func (m *Mem) UsedBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.usedBytes
}

// availableBytes is how many more bytes files may grow by.
func (m *Mem) availableBytes() int64 {
	if m.capacityBytes < 0 {
		return fileBytesMax
	}
	return max(m.capacityBytes-m.usedBytes, 0)
}

// Create creates or truncates the named file. Truncating an existing file is
// an unsynced size change of that file; a new file is an unsynced entry of
// its directory.
func (m *Mem) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts, err := splitPath(name)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	if len(parts) == 0 {
		return nil, pathError("open", name, syscall.EISDIR)
	}
	parent, err := m.directoryAt(parts[:len(parts)-1])
	if err != nil {
		return nil, pathError("open", name, err)
	}
	base := parts[len(parts)-1]
	target := parent.entries[base]
	switch {
	case target == nil:
		target = &node{mode: 0o644}
		m.link(parent, base, target, m.nextChange())
	case target.directory:
		return nil, pathError("open", name, syscall.EISDIR)
	default:
		m.resize(target, 0)
	}
	return m.open(target, name, true), nil
}

// Open opens the named file, or directory, for reading.
func (m *Mem) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target, err := m.lookup(name)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	return m.open(target, name, false), nil
}

// OpenReadWrite opens an existing file for reading and writing.
func (m *Mem) OpenReadWrite(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target, err := m.lookup(name)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	if target.directory {
		return nil, pathError("open", name, syscall.EISDIR)
	}
	return m.open(target, name, true), nil
}

// OpenDir opens a directory; Sync on the returned File makes its entries
// durable.
func (m *Mem) OpenDir(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target, err := m.lookup(name)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	if !target.directory {
		return nil, pathError("open", name, syscall.ENOTDIR)
	}
	return m.open(target, name, false), nil
}

// Remove removes a file or an empty directory.
func (m *Mem) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts, err := splitPath(name)
	if err != nil {
		return pathError("remove", name, err)
	}
	if len(parts) == 0 {
		return pathError("remove", name, syscall.EBUSY)
	}
	parent, target, err := m.resolve(parts)
	if err != nil {
		return pathError("remove", name, err)
	}
	if target.directory && len(target.entries) > 0 {
		return pathError("remove", name, syscall.ENOTEMPTY)
	}
	m.unlink(parent, parts[len(parts)-1], m.nextChange())
	return nil
}

// RemoveAll removes name and everything under it; a missing name is not an
// error. Each removal is its own directory change, children first, as the
// unlink and rmdir calls of a real RemoveAll are.
func (m *Mem) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts, err := splitPath(name)
	if err != nil {
		return pathError("unlinkat", name, err)
	}
	if len(parts) == 0 {
		return pathError("unlinkat", name, syscall.EINVAL)
	}
	parent, target, err := m.resolve(parts)
	switch {
	case err == syscall.ENOENT:
		return nil
	case err != nil:
		return pathError("unlinkat", name, err)
	}
	if target.directory {
		m.removeChildren(target)
	}
	m.unlink(parent, parts[len(parts)-1], m.nextChange())
	return nil
}

func (m *Mem) removeChildren(directory *node) {
	for _, name := range slices.Sorted(maps.Keys(directory.entries)) {
		if child := directory.entries[name]; child.directory {
			m.removeChildren(child)
		}
		m.unlink(directory, name, m.nextChange())
	}
}

// Rename moves oldname to newname, replacing a file at newname. As with
// os.Rename, an existing directory at newname is not replaced (EEXIST).
func (m *Mem) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldParts, err := splitPath(oldname)
	if err != nil {
		return linkError(oldname, newname, err)
	}
	newParts, err := splitPath(newname)
	if err != nil {
		return linkError(oldname, newname, err)
	}
	if len(oldParts) == 0 || len(newParts) == 0 {
		return linkError(oldname, newname, syscall.EBUSY)
	}
	oldParent, source, err := m.resolve(oldParts)
	if err != nil {
		return linkError(oldname, newname, err)
	}
	newParent, err := m.directoryAt(newParts[:len(newParts)-1])
	if err != nil {
		return linkError(oldname, newname, err)
	}
	replaced := newParent.entries[newParts[len(newParts)-1]]
	switch {
	case replaced == source:
		return nil // POSIX: renaming a file onto itself does nothing.
	case replaced != nil && replaced.directory:
		return linkError(oldname, newname, syscall.EEXIST)
	case replaced != nil && source.directory:
		return linkError(oldname, newname, syscall.ENOTDIR)
	case source.directory && isPrefix(oldParts, newParts):
		// Moving a directory under itself would detach a cycle.
		return linkError(oldname, newname, syscall.EINVAL)
	}
	change := m.nextChange()
	// Link before unlink so the source never looks like garbage in between.
	m.link(newParent, newParts[len(newParts)-1], source, change)
	m.unlink(oldParent, oldParts[len(oldParts)-1], change)
	return nil
}

// MkdirAll creates dir and any missing parents; each creation is its own
// directory change.
func (m *Mem) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts, err := splitPath(dir)
	if err != nil {
		return pathError("mkdir", dir, err)
	}
	current := m.root
	for _, part := range parts {
		child := current.entries[part]
		if child == nil {
			child = newDirectory(perm)
			m.link(current, part, child, m.nextChange())
		}
		if !child.directory {
			return pathError("mkdir", dir, syscall.ENOTDIR)
		}
		current = child
	}
	return nil
}

// List returns the sorted names in dir.
func (m *Mem) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target, err := m.lookup(dir)
	if err != nil {
		return nil, pathError("open", dir, err)
	}
	if !target.directory {
		return nil, pathError("readdirent", dir, syscall.ENOTDIR)
	}
	return slices.Sorted(maps.Keys(target.entries)), nil
}

// Stat describes the named file or directory.
func (m *Mem) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target, err := m.lookup(name)
	if err != nil {
		return nil, pathError("stat", name, err)
	}
	return newFileInfo(name, target), nil
}

// splitPath turns a name into path components below the root.
func splitPath(name string) ([]string, error) {
	if name == "" {
		return nil, syscall.ENOENT
	}
	cleaned := strings.TrimPrefix(path.Clean(name), "/")
	if cleaned == "" || cleaned == "." {
		return nil, nil
	}
	if cleaned == ".." || strings.HasPrefix(cleaned, "../") {
		return nil, syscall.EINVAL
	}
	return strings.Split(cleaned, "/"), nil
}

func isPrefix(prefix, parts []string) bool {
	return len(prefix) <= len(parts) && slices.Equal(prefix, parts[:len(prefix)])
}

// directoryAt returns the directory that parts name.
func (m *Mem) directoryAt(parts []string) (*node, error) {
	current := m.root
	for _, part := range parts {
		child := current.entries[part]
		if child == nil {
			return nil, syscall.ENOENT
		}
		if !child.directory {
			return nil, syscall.ENOTDIR
		}
		current = child
	}
	return current, nil
}

// resolve returns the node that parts name and its parent directory. When
// only the last component is missing it returns the parent and ENOENT.
func (m *Mem) resolve(parts []string) (parent, target *node, err error) {
	if len(parts) == 0 {
		return nil, m.root, nil
	}
	parent, err = m.directoryAt(parts[:len(parts)-1])
	if err != nil {
		return nil, nil, err
	}
	target = parent.entries[parts[len(parts)-1]]
	if target == nil {
		return parent, nil, syscall.ENOENT
	}
	return parent, target, nil
}

func (m *Mem) lookup(name string) (*node, error) {
	parts, err := splitPath(name)
	if err != nil {
		return nil, err
	}
	_, target, err := m.resolve(parts)
	return target, err
}

func (m *Mem) nextChange() uint64 {
	m.changeSequence++
	return m.changeSequence
}

// link points name in directory at target, replacing any previous entry,
// as change number change.
func (m *Mem) link(directory *node, name string, target *node, change uint64) {
	if replaced := directory.entries[name]; replaced != nil {
		m.addLinks(replaced, -1)
	}
	directory.entries[name] = target
	m.addLinks(target, 1)
	m.recordChange(directory, entryChange{sequence: change, name: name, target: target})
}

func (m *Mem) unlink(directory *node, name string, change uint64) {
	if removed := directory.entries[name]; removed != nil {
		m.addLinks(removed, -1)
	}
	delete(directory.entries, name)
	m.recordChange(directory, entryChange{sequence: change, name: name})
}

func (m *Mem) recordChange(directory *node, change entryChange) {
	directory.changes = append(directory.changes, change)
	m.changedDirectories[directory] = struct{}{}
}

// addLinks and addHandles keep usedBytes equal to the size of live files.
func (m *Mem) addLinks(n *node, delta int) {
	wasLive := n.live()
	n.links += delta
	m.accountLiveness(n, wasLive)
}

func (m *Mem) addHandles(n *node, delta int) {
	wasLive := n.live()
	n.handles += delta
	m.accountLiveness(n, wasLive)
}

func (m *Mem) accountLiveness(n *node, wasLive bool) {
	if n.directory {
		return
	}
	switch isLive := n.live(); {
	case wasLive && !isLive:
		m.usedBytes -= n.data.size()
	case !wasLive && isLive:
		m.usedBytes += n.data.size()
	}
}

// resize truncates or extends a live file, keeping usedBytes. The caller has
// checked capacity for growth.
func (m *Mem) resize(n *node, size int64) {
	m.usedBytes += size - n.data.size()
	n.data.truncate(size)
}

// syncDirectory makes a directory's current entries durable.
func (m *Mem) syncDirectory(directory *node) {
	directory.persistChanges(allChanges)
	delete(m.changedDirectories, directory)
}

// allChanges is a cut that keeps every change.
const allChanges = ^uint64(0)

// persistChanges applies to durableEntries the changes numbered below cut
// and forgets all changes. With cut == allChanges, durableEntries becomes
// equal to entries.
func (n *node) persistChanges(cut uint64) {
	for _, change := range n.changes {
		if change.sequence >= cut {
			break // Changes are recorded in ascending order.
		}
		if change.target == nil {
			delete(n.durableEntries, change.name)
		} else {
			n.durableEntries[change.name] = change.target
		}
	}
	n.changes = nil
}

// fileInfo is Mem's os.FileInfo.
type fileInfo struct {
	name      string
	sizeBytes int64
	mode      os.FileMode
}

func newFileInfo(name string, n *node) *fileInfo {
	base := path.Base(name)
	if parts, err := splitPath(name); err == nil && len(parts) == 0 {
		base = "/"
	}
	info := &fileInfo{name: base, mode: n.mode}
	if !n.directory {
		info.sizeBytes = n.data.size()
	}
	return info
}

func (i *fileInfo) Name() string      { return i.name }
func (i *fileInfo) Size() int64       { return i.sizeBytes }
func (i *fileInfo) Mode() os.FileMode { return i.mode }

// ModTime is always the zero time: Mem never reads the clock.
func (i *fileInfo) ModTime() time.Time { return time.Time{} }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *fileInfo) Sys() any           { return nil }
