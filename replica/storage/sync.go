package storage

import (
	"fmt"

	"cairn/core/mutant"
	"cairn/diskfault"
)

// SyncJob is one round of fsyncs that makes a prefix of the log durable. The
// owner prepares it (PrepareSync), anyone may Run it, and the owner
// completes it (CompleteSync). It holds its own references to every file it
// syncs, and Run reads nothing of the Log, so the owner may keep appending
// and reading while it runs. Segments are never removed while a job is
// outstanding: Truncate refuses until it completes. Close and Delete may
// come first; the job then fails on closed handles, and its completion is
// ignored.
type SyncJob struct {
	files     []diskfault.File // segment and index files, synced in order
	directory diskfault.File   // nil unless entries changed or the checkpoint moves
	segments  []*segment       // whose index handles close when this succeeds

	fs               diskfault.FS
	checkpointPath   string
	writeCheckpoint  bool
	checkpointOffset int64
	offset           int64
	err              error // set when the log had failed before the job
}

// PrepareSync collects what must be synced for everything appended so far
// to become durable. It returns nil when nothing is unsynced, when a job is
// already outstanding, or when the log is closed. On a failed log it
// returns a job whose Run reports the failure (wrapping ErrFailed), so the
// broker's sync path sees it. The job is reused: do not keep it past
// CompleteSync.
func (l *Log) PrepareSync() *SyncJob {
	if l.closed || l.jobOutstanding {
		return nil
	}
	j := &l.job
	*j = SyncJob{files: j.files[:0], segments: j.segments[:0], fs: l.fs, checkpointPath: l.checkpointPath}
	j.offset = l.durableOffset
	if l.failure != nil {
		j.err = l.failure
		l.jobOutstanding = true
		return j
	}
	if l.durableOffset == l.nextOffset && len(l.dirty) == 0 && !l.directoryDirty && !l.checkpointPending {
		return nil
	}
	for _, s := range l.dirty {
		if !mutant.Active(mutant.SyncSkipsRolledSegment) || s == l.active() {
			j.files = append(j.files, s.file)
		}
		if s.indexFile != nil {
			j.files = append(j.files, s.indexFile, s.timeIndexFile)
			j.segments = append(j.segments, s)
		}
		s.dirty = false
	}
	clear(l.dirty)
	l.dirty = l.dirty[:0]
	if l.directoryDirty || l.checkpointPending {
		j.directory = l.directory
	}
	// Every segment before the active one is in this job or was synced, with
	// its index files, by an earlier one: the recovery point may move to the
	// active segment once this job succeeds.
	j.writeCheckpoint = l.checkpointPending
	j.checkpointOffset = l.active().baseOffset
	l.directoryDirty, l.checkpointPending = false, false
	j.offset = l.nextOffset
	l.jobOutstanding = true
	return j
}

// Offset is the offset below which everything is durable once the job
// succeeds.
func (j *SyncJob) Offset() int64 { return j.offset }

// Run performs the job's fsyncs: data and index files, then the directory,
// then (after a roll) the recovery-point checkpoint. It may run on any
// goroutine while the owner goes on appending and reading.
func (j *SyncJob) Run() error {
	if j.err != nil {
		return j.err
	}
	for _, f := range j.files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("storage: sync: %w", err)
		}
	}
	if j.directory != nil {
		if err := j.directory.Sync(); err != nil {
			return fmt.Errorf("storage: sync directory: %w", err)
		}
	}
	if j.writeCheckpoint {
		return writeCheckpoint(j.fs, j.checkpointPath, j.checkpointPath+jobTemporarySuffix, j.checkpointOffset, j.directory)
	}
	return nil
}

// CompleteSync reports how Run ended. On success DurableOffset advances to
// the job's Offset. On error the log fails: after a failed fsync the page
// cache can no longer be trusted (the kernel may have dropped the dirty
// pages), so every later Append and PrepareSync reports ErrFailed and reads
// are limited to what was durable; reopening the log recovers.
func (l *Log) CompleteSync(j *SyncJob, err error) {
	if j != &l.job || !l.jobOutstanding || l.closed {
		return
	}
	l.jobOutstanding = false
	if err == nil {
		err = j.err
	}
	if err != nil {
		l.fail(err)
		return
	}
	l.durableOffset = max(l.durableOffset, j.offset)
	if j.writeCheckpoint {
		l.checkpointOffset = j.checkpointOffset
	}
	for _, s := range j.segments {
		// Durable now; reads use the in-memory index. A close error cannot
		// undo a completed fsync, so it is not the log's failure.
		s.closeIndexFiles()
	}
	clear(j.segments)
	clear(j.files)
}
