package storage

import (
	"errors"
	"fmt"
	"sort"

	"cairn/diskfault"
)

// readPositionsMax bounds the cache of where recent reads ended; a handful
// covers the followers and the busiest consumers of one partition.
const readPositionsMax = 4

// readPosition remembers the byte position of a batch boundary, so a
// sequential reader that asks for the offset the last read ended at skips
// the index lookup and the header walk.
type readPosition struct {
	segment  *segment
	offset   int64
	position int64
}

// Log is one partition's log. Its methods are for one owner goroutine at a
// time, except SyncJob.Run, which may run on another goroutine meanwhile.
type Log struct {
	fs        diskfault.FS
	dir       string
	config    Config
	directory diskfault.File // for syncing the directory's entries

	checkpointPath string
	markerPath     string

	segments      []*segment // by base offset; the last is active
	nextOffset    int64
	durableOffset int64
	sizeBytes     int64

	// checkpointOffset is the recovery point on disk: segments ending at or
	// below it are synced with their index files. checkpointPending says a
	// roll happened since the last PrepareSync, so the next job moves it.
	checkpointOffset  int64
	checkpointPending bool
	directoryDirty    bool
	dirty             []*segment

	job            SyncJob
	jobOutstanding bool

	failure error // non-nil once failed; wraps ErrFailed
	closed  bool

	window        headerWindow
	readPositions [readPositionsMax]readPosition
	readNext      int    // the readPositions slot to replace next
	scratch       []byte // whole batches for timestamp lookups and recovery
	encodeBuffer  []byte // index files being written
}

// NextOffset is the log end offset: the offset the next batch must carry.
func (l *Log) NextOffset() int64 { return l.nextOffset }

// StartOffset is the first offset in the log.
func (l *Log) StartOffset() int64 { return l.segments[0].baseOffset }

// DurableOffset is the offset below which everything is synced to disk.
func (l *Log) DurableOffset() int64 { return l.durableOffset }

// SizeBytes is the size of all segment files.
func (l *Log) SizeBytes() int64 { return l.sizeBytes }

// SegmentCount is the number of segments, the active one included.
func (l *Log) SegmentCount() int { return len(l.segments) }

// Err returns why the log failed (wrapping ErrFailed), or nil.
func (l *Log) Err() error { return l.failure }

func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }

// segmentFor returns the index of the segment holding offset, which must be
// at least StartOffset.
func (l *Log) segmentFor(offset int64) int {
	return sort.Search(len(l.segments), func(i int) bool {
		return l.segments[i].baseOffset > offset
	}) - 1
}

// writable refuses writes to a closed or failed log.
func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.failure
}

// fail marks the log failed. The first cause is kept.
func (l *Log) fail(cause error) error {
	if l.failure == nil {
		if errors.Is(cause, ErrFailed) {
			l.failure = cause
		} else {
			l.failure = fmt.Errorf("%w: %w", ErrFailed, cause)
		}
	}
	return l.failure
}

// markDirty puts s on the list the next sync job will fsync.
func (l *Log) markDirty(s *segment) {
	if !s.dirty {
		s.dirty = true
		l.dirty = append(l.dirty, s)
	}
}

// forgetPositions drops every cached read position and header window; used
// when bytes the caches describe may change (truncation, removal).
func (l *Log) forgetPositions() {
	l.readPositions = [readPositionsMax]readPosition{}
	l.window.segment = nil
}

func (l *Log) rememberPosition(s *segment, offset, position int64) {
	for i := range l.readPositions {
		if l.readPositions[i].segment == s && l.readPositions[i].offset == offset {
			return
		}
	}
	l.readPositions[l.readNext] = readPosition{segment: s, offset: offset, position: position}
	l.readNext = (l.readNext + 1) % readPositionsMax
}

func (l *Log) recalledPosition(s *segment, offset int64) (int64, bool) {
	for i := range l.readPositions {
		if l.readPositions[i].segment == s && l.readPositions[i].offset == offset {
			return l.readPositions[i].position, true
		}
	}
	return 0, false
}
