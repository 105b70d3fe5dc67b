package storage

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Truncate removes every batch at or above offset; a batch that holds
// offset goes whole, so NextOffset becomes that batch's base offset.
// Segments after it are removed. It is durable when Truncate returns: the
// cut segment and the directory are synced, so that no crash can bring the
// removed batches back under the batches appended next — a leader epoch
// checkpoint written meanwhile describes those, not the old ones. It is
// refused while a sync job is outstanding. If a file operation fails midway
// the log is failed (reopening recovers a consistent prefix).
func (l *Log) Truncate(offset int64) error {
	if err := l.writable(); err != nil {
		return err
	}
	if l.jobOutstanding {
		return ErrSyncOutstanding
	}
	if offset >= l.nextOffset {
		return nil
	}
	if offset < l.StartOffset() {
		return fmt.Errorf("%w: truncate to %d below start %d", ErrOffsetOutOfRange, offset, l.StartOffset())
	}
	i := l.segmentFor(offset)
	s := l.segments[i]
	position, baseOffset, err := l.locate(s, offset)
	if err != nil {
		return err
	}
	// The segment being cut will take new, unsynced batches. If the recovery
	// point on disk vouches for it, lower the point first, durably, or a
	// crash after a later roll would trust those batches without a scan.
	if l.checkpointOffset > s.baseOffset {
		if err := writeCheckpoint(l.fs, l.checkpointPath, l.checkpointPath+ownerTemporarySuffix, s.baseOffset, l.directory); err != nil {
			return err
		}
		l.checkpointOffset = s.baseOffset
	}
	l.forgetPositions()
	removed := len(l.segments) - 1 - i
	removeErr := l.removeSegmentsAfter(i)
	truncateErr := l.truncateSegment(s, position, baseOffset)
	if removeErr == nil && truncateErr == nil {
		truncateErr = s.file.Sync()
		if truncateErr == nil && removed > 0 {
			truncateErr = l.directory.Sync()
		}
	}
	l.nextOffset = baseOffset
	l.durableOffset = min(l.durableOffset, baseOffset)
	l.sizeBytes = 0
	for _, s := range l.segments {
		l.sizeBytes += s.sizeBytes
	}
	if err := errors.Join(removeErr, truncateErr); err != nil {
		return l.fail(fmt.Errorf("truncate to %d: %w", offset, err))
	}
	return nil
}

// removeSegmentsAfter closes and removes the segments after index i, last
// first, so that at every step the files left are a prefix of the log.
func (l *Log) removeSegmentsAfter(i int) error {
	var errs []error
	for _, s := range slices.Backward(l.segments[i+1:]) {
		s.removed = true
		errs = append(errs, s.closeIndexFiles(), s.file.Close())
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			errs = append(errs, l.removeFile(l.segmentPath(s.baseOffset, suffix)))
		}
	}
	clear(l.segments[i+1:])
	l.segments = l.segments[:i+1]
	l.dirty = slices.DeleteFunc(l.dirty, func(s *segment) bool { return s.removed })
	return errors.Join(errs...)
}

// truncateSegment cuts s at position, where the batch with baseOffset
// starts, and trims its indexes to match. s becomes the active segment; its
// index files on disk are stale until the next roll or Close rewrites them,
// and recovery scans the active segment rather than trust them.
func (l *Log) truncateSegment(s *segment, position, baseOffset int64) error {
	l.markDirty(s)
	closeErr := s.closeIndexFiles()
	if err := s.file.Truncate(position); err != nil {
		return errors.Join(closeErr, fmt.Errorf("segment %d at %d: %w", s.baseOffset, position, err))
	}
	s.offsetIndex = s.offsetIndex[:sort.Search(len(s.offsetIndex), func(i int) bool {
		return int64(s.offsetIndex[i].position) >= position
	})]
	relative := baseOffset - s.baseOffset
	s.timeIndex = s.timeIndex[:sort.Search(len(s.timeIndex), func(i int) bool {
		return int64(s.timeIndex[i].relativeOffset) >= relative
	})]
	s.sizeBytes, s.nextOffset = position, baseOffset
	s.lastIndexedPosition = 0
	if n := len(s.offsetIndex); n > 0 {
		s.lastIndexedPosition = int64(s.offsetIndex[n-1].position)
	}
	if position == 0 {
		s.rollStart = time.Time{}
	}
	return errors.Join(closeErr, l.recomputeMaxTimestamp(s))
}

// recomputeMaxTimestamp finds a truncated segment's max timestamp. The last
// time-index entry left is the max of every batch up to the last
// offset-index entry left (an entry is added at each index point where the
// max rose), so only the batches after that index point need reading.
func (l *Log) recomputeMaxTimestamp(s *segment) error {
	s.maxTimestamp, s.offsetOfMaxTimestamp = noTimestamp, s.baseOffset
	if n := len(s.timeIndex); n > 0 {
		s.maxTimestamp = s.timeIndex[n-1].timestamp
		s.offsetOfMaxTimestamp = s.baseOffset + int64(s.timeIndex[n-1].relativeOffset)
	}
	if len(s.offsetIndex) == 0 {
		return nil
	}
	position, next := s.floorEntry(s.baseOffset + int64(s.offsetIndex[len(s.offsetIndex)-1].relativeOffset))
	for position < s.sizeBytes {
		h, err := l.headerAt(s, position, next)
		if err != nil {
			return err
		}
		if h.MaxTimestamp > s.maxTimestamp {
			s.maxTimestamp, s.offsetOfMaxTimestamp = h.MaxTimestamp, h.BaseOffset
		}
		position, next = position+h.TotalBytes(), h.NextOffset()
	}
	return nil
}
