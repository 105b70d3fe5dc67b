package diskfault

import "fmt"

// assert panics when an internal invariant does not hold. It is for bugs in
// this package only, never for bad input, which gets an error: a violated
// invariant means the simulated disk can no longer be trusted, and a crash
// is the loudest way to say so.
func assert(condition bool, format string, args ...any) {
	if !condition {
		panic(fmt.Sprintf("diskfault: assertion failed: "+format, args...))
	}
}
