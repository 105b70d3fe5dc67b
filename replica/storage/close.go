package storage

import (
	"errors"
	"fmt"
	"path"
)

// Close syncs everything, writes the active segment's index files, moves
// the recovery point and writes the clean-shutdown marker, so the next Open
// need not scan. A failed log is closed without the marker. The log is
// closed even when Close returns an error.
//
// A sync job may still be outstanding: Close syncs the job's files itself
// (the job took them off the dirty list), so the marker never depends on a
// job that may not finish. A Run still going meanwhile fails on the closed
// handles, harmlessly, and its CompleteSync is ignored.
func (l *Log) Close() error {
	if l.closed {
		return ErrClosed
	}
	var err error
	if l.failure == nil {
		err = l.shutdownCleanly()
	}
	l.closed, l.jobOutstanding = true, false
	return errors.Join(err, l.closeFiles())
}

// shutdownCleanly writes and syncs what the next Open trusts, marker last.
func (l *Log) shutdownCleanly() error {
	s := l.active()
	s.appendTimeEntry()
	if err := l.writeIndexFiles(s); err != nil {
		return err
	}
	for _, d := range l.dirty {
		if err := d.sync(); err != nil {
			return err
		}
	}
	if l.jobOutstanding {
		for _, f := range l.job.files {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("storage: sync: %w", err)
			}
		}
	}
	if err := l.directory.Sync(); err != nil {
		return fmt.Errorf("storage: sync %s: %w", l.dir, err)
	}
	if err := writeCheckpoint(l.fs, l.checkpointPath, l.checkpointPath+ownerTemporarySuffix, s.baseOffset, l.directory); err != nil {
		return err
	}
	marker := cleanMarker{nextOffset: l.nextOffset, activeBaseOffset: s.baseOffset, activeBytes: s.sizeBytes}
	return writeMarker(l.fs, l.markerPath, marker, l.directory)
}

// sync syncs the segment's file and its open index files.
func (s *segment) sync() error {
	err := s.file.Sync()
	if err == nil && s.indexFile != nil {
		err = s.indexFile.Sync()
	}
	if err == nil && s.timeIndexFile != nil {
		err = s.timeIndexFile.Sync()
	}
	if err != nil {
		return fmt.Errorf("storage: sync segment %d: %w", s.baseOffset, err)
	}
	return nil
}

// closeFiles closes every handle the log holds.
func (l *Log) closeFiles() error {
	var errs []error
	for _, s := range l.segments {
		errs = append(errs, s.closeIndexFiles())
		if s.file != nil {
			errs = append(errs, s.file.Close())
		}
	}
	if l.directory != nil {
		errs = append(errs, l.directory.Close())
	}
	l.forgetPositions()
	return errors.Join(errs...)
}

// Delete closes the log, without the work of a clean shutdown, and removes
// its directory. A sync job still running meanwhile fails on the closed
// handles, harmlessly, and its CompleteSync is ignored.
func (l *Log) Delete() error {
	if !l.closed {
		l.closed, l.jobOutstanding = true, false
		l.closeFiles()
	}
	if err := l.fs.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("storage: remove %s: %w", l.dir, err)
	}
	return syncDirectory(l.fs, path.Dir(l.dir))
}
