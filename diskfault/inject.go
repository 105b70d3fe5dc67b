package diskfault

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// OpKind is the kind of a filesystem operation that an Injector sees.
type OpKind uint8

// The operations, one per method of FS and File. Read covers Read and
// ReadAt, Write covers Write and WriteAt, Stat covers FS.Stat and
// File.Stat.
const (
	OpCreate OpKind = iota + 1
	OpOpen
	OpOpenReadWrite
	OpOpenDir
	OpRemove
	OpRemoveAll
	OpRename
	OpMkdirAll
	OpList
	OpStat
	OpRead
	OpWrite
	// OpSync is Sync on a file; OpSyncDir is Sync on a handle from
	// OpenDir, kept apart because a failed directory sync puts entries in
	// doubt rather than data.
	OpSync
	OpSyncDir
	OpTruncate
	OpClose
	opKindEnd // One past the last kind.
)

var opKindNames = [...]string{
	OpCreate:        "create",
	OpOpen:          "open",
	OpOpenReadWrite: "openreadwrite",
	OpOpenDir:       "opendir",
	OpRemove:        "remove",
	OpRemoveAll:     "removeall",
	OpRename:        "rename",
	OpMkdirAll:      "mkdirall",
	OpList:          "list",
	OpStat:          "stat",
	OpRead:          "read",
	OpWrite:         "write",
	OpSync:          "sync",
	OpSyncDir:       "syncdir",
	OpTruncate:      "truncate",
	OpClose:         "close",
}

// String returns the lower-case name used in error messages.
func (k OpKind) String() string {
	if k == 0 || k >= opKindEnd {
		return fmt.Sprintf("OpKind(%d)", k)
	}
	return opKindNames[k]
}

// Op describes one operation, before it runs.
type Op struct {
	Kind OpKind
	// Path is the name the operation was called with or, for an operation
	// on a File, the name the File was opened with.
	Path string
	// NewPath is Rename's destination, and empty otherwise.
	NewPath string
	// Offset is, for Read and Write, the file offset of the first byte
	// (Wrap tracks the offset of Read and Write itself), and for Truncate
	// the new size.
	Offset int64
	// Length is, for Read and Write, the number of bytes asked for.
	Length int64
}

// String formats the operation for logs and failure messages.
func (op Op) String() string {
	switch op.Kind {
	case OpRename:
		return fmt.Sprintf("rename %s %s", op.Path, op.NewPath)
	case OpRead, OpWrite:
		return fmt.Sprintf("%s %s offset=%d length=%d", op.Kind, op.Path, op.Offset, op.Length)
	case OpTruncate:
		return fmt.Sprintf("truncate %s size=%d", op.Path, op.Offset)
	}
	return fmt.Sprintf("%s %s", op.Kind, op.Path)
}

// Fault is an injector's verdict on one operation. The zero Fault lets the
// operation run untouched.
type Fault struct {
	// Err, when not nil, fails the operation before it reaches the wrapped
	// FS, which therefore does not change: a failed write writes nothing,
	// and a failed Sync leaves the unsynced state unsynced (so a retried
	// Sync that succeeds persists it), unless DropUnsynced says otherwise.
	// Close is the exception: the wrapped file is still closed, because
	// close(2) releases the descriptor even when it reports an error.
	Err error
	// DropUnsynced, with Err on a Sync of a Mem file, additionally makes
	// the file read back (and a later Sync persist) its content as of the
	// last successful Sync, as a Linux writeback error does; see
	// WritebackError.
	DropUnsynced bool
	// FlipBit, on a Read that succeeds with n > 0 bytes, flips bit
	// Bit mod 8n of the bytes returned (bit b is bit b%8 of byte b/8). The
	// wrapped file is unchanged: the corruption is on the way, not on disk.
	FlipBit bool
	Bit     uint64
}

// Injected reports whether the fault changes the operation at all.
func (f Fault) Injected() bool { return f.Err != nil || f.FlipBit }

// An Injector decides, for every operation through Wrap, whether and how
// to fail it. Injectors are called from whatever goroutines use the FS, so
// they must be safe for concurrent use; those of this package are.
type Injector interface {
	Inject(op Op) Fault
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op) Fault

// Inject calls f.
func (f InjectorFunc) Inject(op Op) Fault { return f(op) }

// Errno fails the operations that p matches with errno, wrapped so that
// errors.Is matches both errno and ErrInjected. A nil p matches nothing.
func Errno(errno syscall.Errno, p Predicate) Injector {
	err := &injectedError{errno: errno}
	return InjectorFunc(func(op Op) Fault {
		if p == nil || !p.Match(op) {
			return Fault{}
		}
		return Fault{Err: err}
	})
}

// EIO fails the operations that p matches with an injected EIO.
func EIO(p Predicate) Injector { return Errno(syscall.EIO, p) }

// ENOSPC fails the operations that p matches with an injected ENOSPC. It
// does not check the kind: combine p with Kinds(OpWrite, ...) to hit only
// operations that allocate. For a disk that fills up naturally, use
// Mem.SetCapacity instead.
func ENOSPC(p Predicate) Injector { return Errno(syscall.ENOSPC, p) }

// WritebackError fails the Syncs of files that p matches with an injected
// EIO, the way Linux reports a failed writeback: on a Mem file, the data
// written since the last successful Sync then reads back as it was at that
// Sync (zeros past its end) while the file keeps its current size, and a
// later Sync that succeeds persists that lost state. Code that retries
// fsync after EIO and trusts the retry fails under this injector, as it
// would on Linux. On other filesystems only the EIO is injected. p is
// consulted for OpSync only.
func WritebackError(p Predicate) Injector {
	err := &injectedError{errno: syscall.EIO}
	return InjectorFunc(func(op Op) Fault {
		if op.Kind != OpSync || p == nil || !p.Match(op) {
			return Fault{}
		}
		return Fault{Err: err, DropUnsynced: true}
	})
}

// BitFlip corrupts the reads that p matches: each returns its data with
// one bit, drawn from rng, flipped. p is consulted for OpRead only. It
// returns an error when rng is nil.
func BitFlip(p Predicate, rng *rand.Rand) (Injector, error) {
	if rng == nil {
		return nil, errNoRand
	}
	var mu sync.Mutex // *rand.Rand is not safe for concurrent use.
	return InjectorFunc(func(op Op) Fault {
		if op.Kind != OpRead || p == nil || !p.Match(op) {
			return Fault{}
		}
		mu.Lock()
		defer mu.Unlock()
		return Fault{FlipBit: true, Bit: rng.Uint64()}
	}), nil
}

// Chain asks each injector in turn and returns the first fault injected;
// later injectors are not asked, so their stateful predicates do not
// count that operation. Nil injectors are skipped.
func Chain(injectors ...Injector) Injector {
	return InjectorFunc(func(op Op) Fault {
		for _, injector := range injectors {
			if injector == nil {
				continue
			}
			if fault := injector.Inject(op); fault.Injected() {
				return fault
			}
		}
		return Fault{}
	})
}

// Counter wraps an Injector and counts the faults it injects, so a test can
// assert that a fault really happened.
type Counter struct {
	injector Injector
	count    atomic.Int64
}

// NewCounter counts the faults of injector; a nil injector injects none.
func NewCounter(injector Injector) *Counter {
	return &Counter{injector: injector}
}

// Inject forwards to the wrapped injector and counts.
func (c *Counter) Inject(op Op) Fault {
	if c.injector == nil {
		return Fault{}
	}
	fault := c.injector.Inject(op)
	if fault.Injected() {
		c.count.Add(1)
	}
	return fault
}

// Count returns the number of faults injected so far.
func (c *Counter) Count() int64 { return c.count.Load() }

// A Predicate selects operations. Predicates may keep state (OnIndex
// counts the operations it is asked about), so where one is placed in All
// or Any matters: put filters before counters.
type Predicate interface {
	Match(op Op) bool
}

// PredicateFunc adapts a function to Predicate.
type PredicateFunc func(op Op) bool

// Match calls f.
func (f PredicateFunc) Match(op Op) bool { return f(op) }

// Kinds matches operations of the given kinds.
func Kinds(kinds ...OpKind) Predicate {
	var set uint64
	for _, kind := range kinds {
		if kind < opKindEnd {
			set |= 1 << kind
		}
	}
	return PredicateFunc(func(op Op) bool {
		return op.Kind < opKindEnd && set&(1<<op.Kind) != 0
	})
}

// PathPrefix matches operations whose Path, or NewPath for a Rename,
// starts with prefix. It compares strings, not path components: "a/b"
// matches "a/bc".
func PathPrefix(prefix string) Predicate {
	return PredicateFunc(func(op Op) bool {
		return hasPrefix(op.Path, prefix) || (op.NewPath != "" && hasPrefix(op.NewPath, prefix))
	})
}

func hasPrefix(s, prefix string) bool {
	return len(s) >= len(prefix) && s[:len(prefix)] == prefix
}

// OnIndex matches exactly one operation: the one with the given index,
// counting from 0, among the operations it is asked about. A negative
// index matches nothing.
func OnIndex(index int64) Predicate {
	var seen atomic.Int64
	return PredicateFunc(func(Op) bool {
		return seen.Add(1)-1 == index
	})
}

// Randomly matches each operation it is asked about with probability
// numerator/denominator, drawing one number from rng per operation. The
// probability is an integer ratio so that a seed means the same on every
// machine. It returns an error when rng is nil, denominator is zero or
// numerator exceeds denominator.
func Randomly(numerator, denominator uint64, rng *rand.Rand) (Predicate, error) {
	switch {
	case rng == nil:
		return nil, errNoRand
	case denominator == 0 || numerator > denominator:
		return nil, fmt.Errorf("diskfault: Randomly(%d, %d): not a probability", numerator, denominator)
	}
	var mu sync.Mutex // *rand.Rand is not safe for concurrent use.
	return PredicateFunc(func(Op) bool {
		mu.Lock()
		defer mu.Unlock()
		return rng.Uint64N(denominator) < numerator
	}), nil
}

// Toggle is a Predicate switched at run time: it matches every operation
// while enabled and none while disabled. The zero Toggle is disabled. A
// simulator enables it for its fault phase and disables it to heal.
type Toggle struct {
	enabled atomic.Bool
}

// Enable makes t match every operation.
func (t *Toggle) Enable() { t.enabled.Store(true) }

// Disable makes t match no operation.
func (t *Toggle) Disable() { t.enabled.Store(false) }

// Enabled reports whether t is enabled.
func (t *Toggle) Enabled() bool { return t.enabled.Load() }

// Match reports whether t is enabled.
func (t *Toggle) Match(Op) bool { return t.enabled.Load() }

// All matches when every predicate matches, asking them in order and
// stopping at the first that does not. All() matches everything. A nil
// predicate matches nothing.
func All(predicates ...Predicate) Predicate {
	return PredicateFunc(func(op Op) bool {
		for _, p := range predicates {
			if p == nil || !p.Match(op) {
				return false
			}
		}
		return true
	})
}

// Any matches when some predicate matches, asking them in order and
// stopping at the first that does. Any() matches nothing. A nil predicate
// matches nothing.
func Any(predicates ...Predicate) Predicate {
	return PredicateFunc(func(op Op) bool {
		for _, p := range predicates {
			if p != nil && p.Match(op) {
				return true
			}
		}
		return false
	})
}

// Not matches what p does not. Not(nil) matches everything.
func Not(p Predicate) Predicate {
	return PredicateFunc(func(op Op) bool {
		return p == nil || !p.Match(op)
	})
}

// Wrap returns an FS that asks inj about every operation before forwarding
// it to fs. A nil inj injects nothing; a nil fs makes every operation fail.
// Files opened through it do not implement FdFile, even when fs's files
// do: a sendfile would read around the injector.
func Wrap(fs FS, inj Injector) FS {
	return &faultFS{inner: fs, injector: inj}
}

type faultFS struct {
	inner    FS
	injector Injector
}

var _ FS = (*faultFS)(nil)

// check asks the injector about op and returns the error to fail it with,
// if any, already wrapped with the operation and path.
func (w *faultFS) check(op Op) (Fault, error) {
	var fault Fault
	switch {
	case w.inner == nil:
		fault.Err = errNoFS
	case w.injector != nil:
		fault = w.injector.Inject(op)
	}
	if fault.Err == nil {
		return fault, nil
	}
	if op.Kind == OpRename {
		return fault, linkError(op.Path, op.NewPath, fault.Err)
	}
	return fault, pathError(op.Kind.String(), op.Path, fault.Err)
}

// open serves the four ways to open a file. It takes the kind rather than
// a method value because evaluating w.inner.Create with a nil w.inner
// would panic before check could report errNoFS.
func (w *faultFS) open(kind OpKind, name string) (File, error) {
	if _, err := w.check(Op{Kind: kind, Path: name}); err != nil {
		return nil, err
	}
	var file File
	var err error
	switch kind {
	case OpCreate:
		file, err = w.inner.Create(name)
	case OpOpen:
		file, err = w.inner.Open(name)
	case OpOpenReadWrite:
		file, err = w.inner.OpenReadWrite(name)
	default:
		assert(kind == OpOpenDir, "open called with %v", kind)
		file, err = w.inner.OpenDir(name)
	}
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: w, inner: file, name: name, directory: kind == OpOpenDir}, nil
}

func (w *faultFS) Create(name string) (File, error)        { return w.open(OpCreate, name) }
func (w *faultFS) Open(name string) (File, error)          { return w.open(OpOpen, name) }
func (w *faultFS) OpenReadWrite(name string) (File, error) { return w.open(OpOpenReadWrite, name) }
func (w *faultFS) OpenDir(name string) (File, error)       { return w.open(OpOpenDir, name) }

func (w *faultFS) Remove(name string) error {
	if _, err := w.check(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return w.inner.Remove(name)
}

func (w *faultFS) RemoveAll(name string) error {
	if _, err := w.check(Op{Kind: OpRemoveAll, Path: name}); err != nil {
		return err
	}
	return w.inner.RemoveAll(name)
}

func (w *faultFS) Rename(oldname, newname string) error {
	if _, err := w.check(Op{Kind: OpRename, Path: oldname, NewPath: newname}); err != nil {
		return err
	}
	return w.inner.Rename(oldname, newname)
}

func (w *faultFS) MkdirAll(dir string, perm os.FileMode) error {
	if _, err := w.check(Op{Kind: OpMkdirAll, Path: dir}); err != nil {
		return err
	}
	return w.inner.MkdirAll(dir, perm)
}

func (w *faultFS) List(dir string) ([]string, error) {
	if _, err := w.check(Op{Kind: OpList, Path: dir}); err != nil {
		return nil, err
	}
	return w.inner.List(dir)
}

func (w *faultFS) Stat(name string) (os.FileInfo, error) {
	if _, err := w.check(Op{Kind: OpStat, Path: name}); err != nil {
		return nil, err
	}
	return w.inner.Stat(name)
}

// unsyncedDropper is implemented by files that can model a failed
// writeback (Mem's, and Wrap's, which forward to the file they wrap).
type unsyncedDropper interface {
	dropUnsynced() error
}

// faultFile is a File opened through Wrap. It tracks the offset of Read and
// Write itself so that injectors see it; a File has no Seek, so the offset
// only ever advances by what Read and Write return.
type faultFile struct {
	fs        *faultFS
	inner     File
	name      string
	directory bool
	mu        sync.Mutex // Guards offset across each Read or Write.
	offset    int64
}

var (
	_ File            = (*faultFile)(nil)
	_ unsyncedDropper = (*faultFile)(nil)
)

// Read asks the injector, then reads and applies any bit flip to what the
// read returned.
func (f *faultFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fault, err := f.fs.check(Op{Kind: OpRead, Path: f.name, Offset: f.offset, Length: int64(len(p))})
	if err != nil {
		return 0, err
	}
	n, err := f.inner.Read(p)
	f.offset += int64(n)
	flipBit(p[:n], fault)
	return n, err
}

func (f *faultFile) ReadAt(p []byte, offset int64) (int, error) {
	fault, err := f.fs.check(Op{Kind: OpRead, Path: f.name, Offset: offset, Length: int64(len(p))})
	if err != nil {
		return 0, err
	}
	n, err := f.inner.ReadAt(p, offset)
	flipBit(p[:n], fault)
	return n, err
}

// flipBit applies a FlipBit fault to the bytes a read returned.
func flipBit(data []byte, fault Fault) {
	if !fault.FlipBit || len(data) == 0 {
		return
	}
	bit := fault.Bit % (uint64(len(data)) * 8)
	data[bit/8] ^= 1 << (bit % 8)
}

func (f *faultFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.fs.check(Op{Kind: OpWrite, Path: f.name, Offset: f.offset, Length: int64(len(p))}); err != nil {
		return 0, err
	}
	n, err := f.inner.Write(p)
	f.offset += int64(n)
	return n, err
}

func (f *faultFile) WriteAt(p []byte, offset int64) (int, error) {
	if _, err := f.fs.check(Op{Kind: OpWrite, Path: f.name, Offset: offset, Length: int64(len(p))}); err != nil {
		return 0, err
	}
	return f.inner.WriteAt(p, offset)
}

// Sync asks the injector with OpSync, or OpSyncDir for a handle from
// OpenDir. An injected failure does not reach the wrapped file, except that
// DropUnsynced makes a Mem file lose its unsynced data.
func (f *faultFile) Sync() error {
	kind := OpSync
	if f.directory {
		kind = OpSyncDir
	}
	fault, err := f.fs.check(Op{Kind: kind, Path: f.name})
	if err == nil {
		return f.inner.Sync()
	}
	if fault.DropUnsynced {
		// A dead or closed handle fails before it reaches the device.
		if dropErr := f.dropUnsynced(); dropErr != nil {
			return dropErr
		}
	}
	return err
}

func (f *faultFile) dropUnsynced() error {
	if dropper, ok := f.inner.(unsyncedDropper); ok {
		return dropper.dropUnsynced()
	}
	return nil
}

func (f *faultFile) Truncate(size int64) error {
	if _, err := f.fs.check(Op{Kind: OpTruncate, Path: f.name, Offset: size}); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}

func (f *faultFile) Stat() (os.FileInfo, error) {
	if _, err := f.fs.check(Op{Kind: OpStat, Path: f.name}); err != nil {
		return nil, err
	}
	return f.inner.Stat()
}

// Close always closes the wrapped file, then reports an injected error if
// there is one: close(2) frees the descriptor even when it fails.
func (f *faultFile) Close() error {
	_, injected := f.fs.check(Op{Kind: OpClose, Path: f.name})
	if err := f.inner.Close(); err != nil {
		return err
	}
	return injected
}
