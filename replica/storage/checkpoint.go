package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"cairn/diskfault"
)

// Names of the log's own files, beside its segments.
const (
	checkpointName  = "recovery-point"
	markerName      = "clean-shutdown"
	temporarySuffix = ".tmp"
)

// Both small files are a version, fixed fields and a CRC-32C of what
// precedes it, so that a torn or damaged one reads as absent, which is
// always safe: absent means "trust nothing, scan".
const (
	formatVersion   = 1
	checkpointBytes = 4 + 8 + 4
	markerBytes     = 4 + 8 + 8 + 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cleanMarker is what Close knew about the active segment.
type cleanMarker struct {
	nextOffset       int64
	activeBaseOffset int64
	activeBytes      int64
}

func encodeCheckpoint(offset int64) []byte {
	b := make([]byte, 0, checkpointBytes)
	b = binary.BigEndian.AppendUint32(b, formatVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func encodeMarker(m cleanMarker) []byte {
	b := make([]byte, 0, markerBytes)
	b = binary.BigEndian.AppendUint32(b, formatVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(m.nextOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(m.activeBaseOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(m.activeBytes))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeSmallFile checks version, size and CRC, and returns the fields.
func decodeSmallFile(b []byte, size int) ([]byte, bool) {
	if len(b) != size {
		return nil, false
	}
	body := b[:size-4]
	if binary.BigEndian.Uint32(b[size-4:]) != crc32.Checksum(body, castagnoli) ||
		binary.BigEndian.Uint32(body) != formatVersion {
		return nil, false
	}
	return body[4:], true
}

// readCheckpoint returns the recovery point, if a good one is on disk.
func readCheckpoint(fs diskfault.FS, name string) (int64, bool) {
	b, ok := decodeSmallFile(readSmallFile(fs, name, checkpointBytes), checkpointBytes)
	if !ok {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b)), true
}

// readMarker returns the clean-shutdown marker, if a good one is on disk.
func readMarker(fs diskfault.FS, name string) (cleanMarker, bool) {
	b, ok := decodeSmallFile(readSmallFile(fs, name, markerBytes), markerBytes)
	if !ok {
		return cleanMarker{}, false
	}
	return cleanMarker{
		nextOffset:       int64(binary.BigEndian.Uint64(b)),
		activeBaseOffset: int64(binary.BigEndian.Uint64(b[8:])),
		activeBytes:      int64(binary.BigEndian.Uint64(b[16:])),
	}, true
}

// readSmallFile reads up to size+1 bytes of name (one more, to see a file
// that is too long). Any error reads as an empty file.
func readSmallFile(fs diskfault.FS, name string, size int) []byte {
	f, err := fs.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	b := make([]byte, size+1)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	return b[:n]
}

// Temporary names for the checkpoint: one for the owner (Open, Truncate,
// Close), one for sync jobs, so that a job still running when the owner
// closes the log cannot clobber the owner's file half-written. Whichever
// rename lands last wins; both checkpoints are true, and a lower one only
// makes recovery scan more.
const (
	ownerTemporarySuffix = ".owner" + temporarySuffix
	jobTemporarySuffix   = ".job" + temporarySuffix
)

// writeCheckpoint replaces the recovery-point file atomically: write a
// temporary file, sync it, rename it over the old one, sync the directory.
// A crash at any point leaves the old checkpoint or the new one.
func writeCheckpoint(fs diskfault.FS, name, temporaryName string, offset int64, directory diskfault.File) error {
	if err := writeDurably(fs, temporaryName, encodeCheckpoint(offset)); err != nil {
		return err
	}
	if err := fs.Rename(temporaryName, name); err != nil {
		return fmt.Errorf("storage: checkpoint: %w", err)
	}
	if err := directory.Sync(); err != nil {
		return fmt.Errorf("storage: checkpoint: sync directory: %w", err)
	}
	return nil
}

// writeMarker writes the clean-shutdown marker and makes it durable. It
// needs no rename: a torn marker fails its CRC and reads as absent.
func writeMarker(fs diskfault.FS, name string, m cleanMarker, directory diskfault.File) error {
	if err := writeDurably(fs, name, encodeMarker(m)); err != nil {
		return err
	}
	if err := directory.Sync(); err != nil {
		return fmt.Errorf("storage: marker: sync directory: %w", err)
	}
	return nil
}

// writeDurably creates name holding b and syncs it.
func writeDurably(fs diskfault.FS, name string, b []byte) error {
	f, err := fs.Create(name)
	if err != nil {
		return fmt.Errorf("storage: create %s: %w", name, err)
	}
	n, err := f.WriteAt(b, 0)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("storage: write %s: %w", name, err)
	}
	return nil
}
