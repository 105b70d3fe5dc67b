package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path"

	"cairn/diskfault"
)

// localMetadataLog is the metadata log of a standalone broker, which is its
// own one-member controller quorum: an append-only file of framed entries
// (length, CRC-32C, entry), each synced before it counts as committed. A
// clustered broker uses the Raft log instead (package metalog); the node
// applies entries the same way from either.
type localMetadataLog struct {
	fs      diskfault.FS
	dir     string
	file    diskfault.File
	size    int64
	entries uint64
	// failed is set by a failed fsync: what the file holds past size is
	// unknown, so no further entry may be appended until a restart
	// re-reads the file.
	failed error
}

const (
	localLogName        = "metadata.log"
	localLogHeaderBytes = 8
	localLogEntryMax    = 64 << 20
)

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// openLocalMetadataLog opens (creating if needed) the log and returns its
// committed entries. A torn final entry — a crash during an append, which
// was therefore never acknowledged — is cut off.
func openLocalMetadataLog(fs diskfault.FS, dir string) (*localMetadataLog, [][]byte, error) {
	name := path.Join(dir, localLogName)
	l := &localMetadataLog{fs: fs, dir: dir}
	var data []byte
	if _, err := fs.Stat(name); err != nil {
		f, err := fs.Create(name)
		if err != nil {
			return nil, nil, err
		}
		if err := syncDirectory(fs, dir); err != nil {
			f.Close()
			return nil, nil, err
		}
		l.file = f
		return l, nil, nil
	}
	f, err := fs.OpenReadWrite(name)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	data, err = stableRead(f, info.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read %s: %w", localLogName, err)
	}
	var entries [][]byte
	good := int64(0)
	for rest := data; len(rest) >= localLogHeaderBytes; {
		length := int64(binary.BigEndian.Uint32(rest))
		sum := binary.BigEndian.Uint32(rest[4:])
		if length > localLogEntryMax || int64(len(rest)-localLogHeaderBytes) < length {
			break // a torn final append: the frame runs past the end
		}
		entry := rest[localLogHeaderBytes : localLogHeaderBytes+length]
		if crc32.Checksum(entry, castagnoliTable) != sum {
			if int64(len(rest)) > localLogHeaderBytes+length {
				// Bad bytes with good frames after them are not a torn
				// append but damage to committed metadata: refuse to
				// start rather than silently forget it.
				f.Close()
				return nil, nil, fmt.Errorf("%s: entry %d at byte %d is corrupt and is not the last", localLogName, len(entries)+1, good)
			}
			break
		}
		entries = append(entries, entry)
		good += localLogHeaderBytes + length
		rest = rest[localLogHeaderBytes+length:]
	}
	if good < int64(len(data)) {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	l.file, l.size, l.entries = f, good, uint64(len(entries))
	return l, entries, nil
}

// append writes one entry and syncs it; only then is it committed. It
// returns the entry's index (1-based, as Raft numbers them).
func (l *localMetadataLog) append(entry []byte) (uint64, error) {
	if l.failed != nil {
		return 0, fmt.Errorf("metadata log failed earlier: %w", l.failed)
	}
	if len(entry) > localLogEntryMax {
		return 0, fmt.Errorf("metadata entry of %d bytes is too large", len(entry))
	}
	frame := make([]byte, localLogHeaderBytes, localLogHeaderBytes+len(entry))
	binary.BigEndian.PutUint32(frame, uint32(len(entry)))
	binary.BigEndian.PutUint32(frame[4:], crc32.Checksum(entry, castagnoliTable))
	frame = append(frame, entry...)
	if _, err := l.file.WriteAt(frame, l.size); err != nil {
		// Cut whatever part of the frame landed, so the next append
		// starts on a clean boundary.
		_ = l.file.Truncate(l.size)
		return 0, err
	}
	if err := l.file.Sync(); err != nil {
		l.failed = err
		return 0, err
	}
	l.size += int64(len(frame))
	l.entries++
	return l.entries, nil
}

func (l *localMetadataLog) close() error { return l.file.Close() }

// stableReadsMax bounds the reads stableRead spends.
const stableReadsMax = 6

// stableRead reads a file's first size bytes until two reads agree: a
// transient fault on the way from the disk must not look like a torn
// append, which would be cut off.
func stableRead(f diskfault.File, size int64) ([]byte, error) {
	var previous []byte
	for i := 0; i < stableReadsMax; i++ {
		data := make([]byte, size)
		if n, err := f.ReadAt(data, 0); int64(n) != size {
			return nil, errors.Join(err, errors.New("short read"))
		}
		if previous != nil && bytes.Equal(previous, data) {
			return data, nil
		}
		previous = data
	}
	return nil, fmt.Errorf("%d reads of %d bytes never agreed", stableReadsMax, size)
}

// syncDirectory makes dir's entries durable.
func syncDirectory(fs diskfault.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}
