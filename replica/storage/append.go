package storage

import (
	"errors"
	"fmt"
	"io"
	"time"

	"cairn/core/batch"
	"cairn/diskfault"
)

// Append writes one batch at the end of the log, into the page cache; it is
// durable only after a sync job covers it. b must be a batch that
// batch.Validate accepted, with base offset NextOffset; the log checks its
// framing and CRC-32C again (a write and its read-back each check the CRC)
// and refuses it with ErrInvalidBatch otherwise. If the write fails the
// segment is cut back to its previous size and the log stays usable; if
// that fails too, the log is failed. Append does not allocate in the steady
// state.
func (l *Log) Append(b []byte, now time.Time) error {
	if err := l.writable(); err != nil {
		return err
	}
	h, total, err := checkBatchAt(b, l.nextOffset)
	if err == nil && total != int64(len(b)) {
		err = batch.ErrTrailing
	}
	if err != nil {
		return fmt.Errorf("%w: at offset %d: %w", ErrInvalidBatch, l.nextOffset, err)
	}
	if l.shouldRoll(&h, total, now) {
		if err := l.roll(); err != nil {
			return err
		}
	}
	s := l.active()
	position := s.sizeBytes
	n, err := s.file.WriteAt(b, position)
	if err != nil || n != len(b) {
		return l.undoWrite(s, position, err)
	}
	if position == 0 {
		s.rollStart = now
	}
	s.noteBatch(&h, position, l.config.IndexIntervalBytes)
	l.nextOffset = s.nextOffset
	l.sizeBytes += total
	l.markDirty(s)
	return nil
}

// undoWrite cuts the active segment back to position after a failed or short
// write, so that no partial batch stays in the page cache to be served or
// synced. If even that fails, the file's contents are unknown: fail the log.
func (l *Log) undoWrite(s *segment, position int64, cause error) error {
	if cause == nil {
		cause = io.ErrShortWrite
	}
	if err := s.file.Truncate(position); err != nil {
		return l.fail(fmt.Errorf("append at offset %d: %w; undo: %w", l.nextOffset, cause, err))
	}
	return fmt.Errorf("storage: append at offset %d: %w", l.nextOffset, cause)
}

// shouldRoll reports whether the batch must start a new segment: the active
// one is not empty and the batch would take it past its size, its age, or
// what a uint32 relative offset can address.
func (l *Log) shouldRoll(h *batch.Header, totalBytes int64, now time.Time) bool {
	s := l.active()
	if s.sizeBytes == 0 {
		return false
	}
	return s.sizeBytes+totalBytes > l.config.SegmentBytesMax ||
		!s.fitsRelative(h.NextOffset()) ||
		now.Sub(s.rollStart) > l.config.SegmentAgeMax
}

// roll starts a new active segment at NextOffset. The old segment's index
// files are written now, whole, and synced by the next job, which then moves
// the recovery point past it. The new segment file is created last, so a
// failed roll leaves nothing to remove: index files of the still-active
// segment are never trusted (recovery scans the active segment, and Close
// rewrites them). On error the log is unchanged.
func (l *Log) roll() error {
	old := l.active()
	old.appendTimeEntry()
	if err := l.writeIndexFiles(old); err != nil {
		return err
	}
	s, err := l.createSegment(l.nextOffset)
	if err != nil {
		old.closeIndexFiles()
		return err
	}
	// The next segment will likely index as many batches as this one did:
	// size its indexes now so that appends do not grow them.
	s.offsetIndex = make([]offsetEntry, 0, len(old.offsetIndex))
	s.timeIndex = make([]timeEntry, 0, len(old.timeIndex))
	l.segments = append(l.segments, s)
	l.directoryDirty = true
	l.checkpointPending = true
	return nil
}

// createSegment creates an empty segment file.
func (l *Log) createSegment(baseOffset int64) (*segment, error) {
	file, err := l.fs.Create(l.segmentPath(baseOffset, logSuffix))
	if err != nil {
		return nil, fmt.Errorf("storage: create segment %d: %w", baseOffset, err)
	}
	return newSegment(baseOffset, file), nil
}

// writeIndexFiles writes s's indexes to their files, whole, into the page
// cache, and keeps the handles open for the next sync job. s must have no
// index handles open already.
func (l *Log) writeIndexFiles(s *segment) error {
	l.encodeBuffer = encodeOffsetIndex(l.encodeBuffer[:0], s.offsetIndex)
	indexFile, err := l.writeFile(l.segmentPath(s.baseOffset, indexSuffix), l.encodeBuffer)
	if err != nil {
		return err
	}
	l.encodeBuffer = encodeTimeIndex(l.encodeBuffer[:0], s.timeIndex)
	timeIndexFile, err := l.writeFile(l.segmentPath(s.baseOffset, timeIndexSuffix), l.encodeBuffer)
	if err != nil {
		indexFile.Close()
		return err
	}
	s.indexFile, s.timeIndexFile = indexFile, timeIndexFile
	l.directoryDirty = true
	l.markDirty(s)
	return nil
}

// writeFile creates name holding b and returns it open, unsynced.
func (l *Log) writeFile(name string, b []byte) (diskfault.File, error) {
	file, err := l.fs.Create(name)
	if err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", name, err)
	}
	if n, err := file.WriteAt(b, 0); err != nil || n != len(b) {
		file.Close()
		if err == nil {
			err = io.ErrShortWrite
		}
		return nil, fmt.Errorf("storage: write %s: %w", name, err)
	}
	return file, nil
}

// closeIndexFiles closes s's index handles, if open.
func (s *segment) closeIndexFiles() error {
	var indexErr, timeIndexErr error
	if s.indexFile != nil {
		indexErr = s.indexFile.Close()
	}
	if s.timeIndexFile != nil {
		timeIndexErr = s.timeIndexFile.Close()
	}
	s.indexFile, s.timeIndexFile = nil, nil
	return errors.Join(indexErr, timeIndexErr)
}
