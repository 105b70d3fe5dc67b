package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFileName is the data directory's lock, as Kafka's log directories
// have their .lock: two brokers writing one directory each believe they own
// every segment, and the second's recovery truncates what the first
// acknowledged.
const lockFileName = ".lock"

// lockDataDir takes an exclusive flock on dir's lock file for the life of
// the process (the kernel drops it when the process exits, however it
// exits) and writes this process's pid into it, so that a second broker on
// the same directory can say who holds it. The returned file must stay open
// while the broker runs.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: opening its lock: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another broker%s; stop it first, or give this one its own --data-dir", dir, holder(path))
		}
		return nil, fmt.Errorf("data directory %s: locking %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("data directory %s: writing %s: %w", dir, path, err)
		}
	}
	return f, nil
}

// holder names the pid written in the lock file, if it can be read.
func holder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d holds %s)", pid, path)
}
