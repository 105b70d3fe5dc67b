package storage

import "errors"

// Errors returned by the log. They are wrapped with context; match them with
// errors.Is.
var (
	// ErrOffsetOutOfRange is returned by Read when the offset is below
	// StartOffset or above NextOffset, and by Truncate below StartOffset.
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrCorruptBatch means bytes on disk are not the batch the log expects
	// there: bad framing, CRC-32C mismatch, or offsets that do not follow.
	ErrCorruptBatch = errors.New("storage: corrupt batch")
	// ErrFailed means a write could not be undone or a sync failed: the page
	// cache can no longer be trusted, so the log refuses writes and serves
	// only durable data until the broker reopens it (which recovers).
	ErrFailed = errors.New("storage: log failed; reopen to recover")
	// ErrClosed is returned by every call on a closed log.
	ErrClosed = errors.New("storage: log closed")
	// ErrSyncOutstanding is returned by Truncate between PrepareSync and
	// CompleteSync: it changes files the job may be syncing, and the job's
	// offset would promise batches that no longer exist.
	ErrSyncOutstanding = errors.New("storage: a sync job is outstanding")
	// ErrInvalidBatch is returned by Append for a batch that breaks its
	// precondition (framing, CRC, or a base offset other than NextOffset).
	ErrInvalidBatch = errors.New("storage: batch refused")
	// ErrInvalidConfig is returned by Open for a Config out of range.
	ErrInvalidConfig = errors.New("storage: invalid config")
)
