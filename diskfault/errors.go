package diskfault

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

var (
	// ErrCrashed is wrapped by the error of every call on a File that was
	// opened before its Mem crashed. A crash is a reboot: no descriptor
	// survives it, and code that keeps using one is a bug the simulator must
	// see as an error rather than as silently working I/O.
	ErrCrashed = errors.New("diskfault: file handle opened before a crash")

	// ErrInjected is matched (errors.Is) by every error that the injectors
	// of this package produce, so a test can tell an injected failure from a
	// real one. Injected errors also match their errno, e.g. syscall.EIO.
	ErrInjected = errors.New("diskfault: injected fault")

	// errNoFS is returned by every operation of Wrap(nil, ...): there is no
	// filesystem to forward to, and a nil dereference would be a panic.
	errNoFS = errors.New("diskfault: Wrap was given a nil FS")

	// errNoRand is returned when a seeded choice is asked for without a
	// source of randomness.
	errNoRand = errors.New("diskfault: a *rand.Rand is required")
)

// injectedError is an errno produced by an injector rather than by a disk.
type injectedError struct {
	errno syscall.Errno
}

func (e *injectedError) Error() string {
	return "injected " + e.errno.Error()
}

// Unwrap exposes both the errno (so callers' errors.Is(err, syscall.EIO)
// checks behave as for a real disk) and ErrInjected.
func (e *injectedError) Unwrap() []error {
	return []error{e.errno, ErrInjected}
}

func pathError(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func linkError(oldname, newname string, err error) error {
	return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
}
