package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"cairn/core/batch"
	"cairn/core/mutant"
	"cairn/diskfault"
)

// scanBufferBytes is how much recovery reads at a time.
const scanBufferBytes = 1 << 20

// recovery is Open's working state.
type recovery struct {
	bases          []int64    // segment base offsets found on disk, ascending
	stale          []string   // temporary files and orphaned indexes to remove
	scanned        []*segment // validated by scanning: to sync, and to index on disk
	recoveryPoint  int64
	haveCheckpoint bool
	marker         cleanMarker
	clean          bool
	markerPresent  bool
	buffer         []byte
}

// Open opens the log in dir, creating the directory if needed, and
// recovers it. After a clean shutdown it trusts the index files (checking
// that the active segment ends with a whole batch where Close left it).
// Otherwise it validates every batch of every segment past the recovery
// point — length, magic, CRC-32C, contiguous offsets, record count —,
// rebuilds their indexes, truncates at the first torn or corrupt batch and
// removes the segments after it. What it kept is synced before Open
// returns, so DurableOffset starts at NextOffset. now dates the active
// segment for the age roll when its batches carry no timestamp.
func Open(fsys diskfault.FS, dir string, config Config, now time.Time) (*Log, error) {
	config, err := config.normalized()
	if err != nil {
		return nil, err
	}
	l := &Log{
		fs:             fsys,
		dir:            dir,
		config:         config,
		checkpointPath: path.Join(dir, checkpointName),
		markerPath:     path.Join(dir, markerName),
	}
	l.window.buffer = make([]byte, 0, max(config.IndexIntervalBytes+batch.HeaderBytes, windowBytesMin))
	if err := l.openDirectory(); err != nil {
		return nil, err
	}
	if err := l.recover(now); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

// openDirectory creates the log's directory if needed, making each new
// directory's entry durable in its parent, and opens it for syncing.
func (l *Log) openDirectory() error {
	var missing []string
	for d := l.dir; d != "." && d != "/" && d != ""; d = path.Dir(d) {
		if _, err := l.fs.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	if err := l.fs.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("storage: create %s: %w", l.dir, err)
	}
	for _, d := range slices.Backward(missing) {
		if err := syncDirectory(l.fs, path.Dir(d)); err != nil {
			return err
		}
	}
	directory, err := l.fs.OpenDir(l.dir)
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", l.dir, err)
	}
	l.directory = directory
	return nil
}

func syncDirectory(fsys diskfault.FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("storage: open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("storage: sync directory %s: %w", dir, err)
	}
	return nil
}

func (l *Log) recover(now time.Time) error {
	r, err := l.inventory()
	if err != nil {
		return err
	}
	if err := l.loadSegments(r); err != nil {
		return err
	}
	if len(l.segments) == 0 {
		s, err := l.createSegment(0)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, s)
	}
	for _, s := range l.segments {
		l.sizeBytes += s.sizeBytes
	}
	l.nextOffset = l.active().nextOffset
	if err := l.persistRecovery(r); err != nil {
		return err
	}
	l.durableOffset = l.nextOffset
	return l.dateActiveSegment(now)
}

// inventory lists the directory: segments, and files to clean up.
func (l *Log) inventory() (*recovery, error) {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return nil, fmt.Errorf("storage: list %s: %w", l.dir, err)
	}
	r := &recovery{}
	logs := make(map[int64]bool)
	for _, name := range names {
		if base, ok := parseSegmentName(name, logSuffix); ok {
			r.bases = append(r.bases, base)
			logs[base] = true
		}
	}
	for _, name := range names {
		base, isIndex := parseSegmentName(name, indexSuffix)
		if !isIndex {
			base, isIndex = parseSegmentName(name, timeIndexSuffix)
		}
		if strings.HasSuffix(name, temporarySuffix) || (isIndex && !logs[base]) {
			r.stale = append(r.stale, name)
		}
		r.markerPresent = r.markerPresent || name == markerName
	}
	slices.Sort(r.bases)
	r.recoveryPoint, r.haveCheckpoint = readCheckpoint(l.fs, l.checkpointPath)
	r.marker, r.clean = readMarker(l.fs, l.markerPath)
	if r.clean && (len(r.bases) == 0 || r.marker.activeBaseOffset != r.bases[len(r.bases)-1]) {
		r.clean = false // written by another incarnation of the directory: ignore it
	}
	return r, nil
}

// loadSegments opens the segments in order, loading trusted ones from their
// index files and scanning the rest, and stops at the first that does not
// continue its predecessor or that had to be truncated: the segments after
// it are removed.
func (l *Log) loadSegments(r *recovery) error {
	for i, base := range r.bases {
		if i > 0 && base != l.active().nextOffset {
			return l.removeSegmentFiles(r.bases[i:])
		}
		s, fileBytes, err := l.openSegment(base)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, s)
		if end, marker := r.endOffset(i); l.trusted(r, i) && l.loadIndexes(s, end, marker) == nil {
			continue
		}
		if err := l.scanSegment(s, fileBytes, r); err != nil {
			return err
		}
		r.scanned = append(r.scanned, s)
		if s.sizeBytes < fileBytes {
			if err := s.file.Truncate(s.sizeBytes); err != nil {
				return fmt.Errorf("storage: truncate segment %d at %d: %w", base, s.sizeBytes, err)
			}
			return l.removeSegmentFiles(r.bases[i+1:])
		}
	}
	return nil
}

// endOffset is where a trusted segment i must end: at the next segment's
// base offset, or for the last, where the clean-shutdown marker says, with
// the marker to check the active segment against.
func (r *recovery) endOffset(i int) (int64, *cleanMarker) {
	if i < len(r.bases)-1 {
		return r.bases[i+1], nil
	}
	return r.marker.nextOffset, &r.marker
}

// trusted reports whether segment i may be loaded from its index files: all
// of them after a clean shutdown, and otherwise those that end at or below
// the recovery point. The active segment is always scanned after an
// unclean shutdown.
func (l *Log) trusted(r *recovery, i int) bool {
	if r.clean {
		return true
	}
	return i < len(r.bases)-1 && r.haveCheckpoint && r.bases[i+1] <= r.recoveryPoint
}

func (l *Log) openSegment(base int64) (*segment, int64, error) {
	name := l.segmentPath(base, logSuffix)
	file, err := l.fs.OpenReadWrite(name)
	if err != nil {
		return nil, 0, fmt.Errorf("storage: open %s: %w", name, err)
	}
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, 0, fmt.Errorf("storage: stat %s: %w", name, err)
	}
	return newSegment(base, file), info.Size(), nil
}

// removeSegmentFiles removes the files of segments that recovery dropped.
func (l *Log) removeSegmentFiles(bases []int64) error {
	for _, base := range bases {
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := l.removeFile(l.segmentPath(base, suffix)); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeFile removes name; a file already gone is not an error.
func (l *Log) removeFile(name string) error {
	if err := l.fs.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: remove %s: %w", name, err)
	}
	l.directoryDirty = true
	return nil
}

// loadIndexes loads a trusted segment's indexes from its files and checks
// them against the segment: structurally, and by walking the batch headers
// from the last index entry to the end of the file, which must end a whole
// batch at endOffset, where the next segment (or the marker) says it does.
// The active segment after a clean shutdown must also have the size the
// marker recorded, and its last batch a good CRC.
func (l *Log) loadIndexes(s *segment, endOffset int64, marker *cleanMarker) error {
	info, err := s.file.Stat()
	if err != nil {
		return err
	}
	s.sizeBytes, s.nextOffset = info.Size(), endOffset
	if marker != nil && s.sizeBytes != marker.activeBytes {
		return l.forgetIndexes(s, errors.New("active segment size differs from the marker"))
	}
	offsetIndex, err := decodeOffsetIndex(l.readIndexFile(s.baseOffset, indexSuffix), s.baseOffset, s.nextOffset, s.sizeBytes)
	if err != nil {
		return l.forgetIndexes(s, err)
	}
	timeIndex, err := decodeTimeIndex(l.readIndexFile(s.baseOffset, timeIndexSuffix), s.baseOffset, s.nextOffset)
	if err != nil {
		return l.forgetIndexes(s, err)
	}
	s.offsetIndex, s.timeIndex = offsetIndex, timeIndex
	if n := len(offsetIndex); n > 0 {
		s.lastIndexedPosition = int64(offsetIndex[n-1].position)
	}
	if n := len(timeIndex); n > 0 {
		s.maxTimestamp = timeIndex[n-1].timestamp
		s.offsetOfMaxTimestamp = s.baseOffset + int64(timeIndex[n-1].relativeOffset)
	}
	if err := l.checkTail(s, marker != nil); err != nil {
		return l.forgetIndexes(s, err)
	}
	return nil
}

// forgetIndexes returns s to the empty state that scanning starts from.
func (l *Log) forgetIndexes(s *segment, cause error) error {
	s.offsetIndex, s.timeIndex = s.offsetIndex[:0], s.timeIndex[:0]
	s.lastIndexedPosition, s.sizeBytes, s.nextOffset = 0, 0, s.baseOffset
	s.maxTimestamp, s.offsetOfMaxTimestamp = noTimestamp, s.baseOffset
	l.window.segment = nil
	return cause
}

// readIndexFile returns the named index file's bytes. A missing or
// unreadable file reads as one stray byte, which fails the checks, so the
// segment is scanned and its indexes rebuilt.
func (l *Log) readIndexFile(base int64, suffix string) []byte {
	f, err := l.fs.Open(l.segmentPath(base, suffix))
	if err != nil {
		return []byte{0}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.Size() > int64(segmentBytesLimit) {
		return []byte{0}
	}
	b := make([]byte, info.Size())
	if n, _ := f.ReadAt(b, 0); n != len(b) {
		return []byte{0}
	}
	return b
}

// checkTail walks the batch headers after the last index entry. None may
// start IndexIntervalBytes or more past it (the index would have an entry
// for it; after IndexIntervalBytes shrinks, that rebuilds indexes at the
// new spacing), and the last must end at the end of the file and at
// nextOffset. For the active segment the last batch's CRC-32C is checked.
func (l *Log) checkTail(s *segment, checkLastBatch bool) error {
	position, next := int64(0), s.baseOffset
	if n := len(s.offsetIndex); n > 0 {
		position, next = int64(s.offsetIndex[n-1].position), s.baseOffset+int64(s.offsetIndex[n-1].relativeOffset)
	}
	indexed, lastPosition, lastBase := position, int64(-1), next
	for position < s.sizeBytes {
		if position-indexed >= l.config.IndexIntervalBytes {
			return fmt.Errorf("index lacks an entry for position %d", position)
		}
		h, err := l.headerAt(s, position, next)
		if err != nil {
			return err
		}
		lastPosition, lastBase = position, next
		position, next = position+h.TotalBytes(), h.NextOffset()
	}
	if position != s.sizeBytes || next != s.nextOffset {
		return fmt.Errorf("segment ends at offset %d, expected %d", next, s.nextOffset)
	}
	if !checkLastBatch || lastPosition < 0 {
		return nil
	}
	b := make([]byte, s.sizeBytes-lastPosition)
	if n, err := s.file.ReadAt(b, lastPosition); n != len(b) {
		return fmt.Errorf("read last batch: %w", errors.Join(err, io.ErrUnexpectedEOF))
	}
	_, _, err := checkBatchAt(b, lastBase)
	return err
}

// scanSegment validates s batch by batch from its start, rebuilding its
// indexes, and stops at the first batch that is torn, corrupt or out of
// sequence: s.sizeBytes is then the length of the good prefix. Only an I/O
// error is returned; bad bytes are not errors here but the end of the log.
func (l *Log) scanSegment(s *segment, fileBytes int64, r *recovery) error {
	l.forgetIndexes(s, nil)
	reader := scanReader{file: s.file, fileBytes: fileBytes, buffer: r.buffer[:0]} // capacity only: the bytes are another file's
	defer func() { r.buffer = reader.buffer }()
	for position := int64(0); position < fileBytes; {
		b, err := reader.batchAt(position)
		if err != nil {
			return err
		}
		if b == nil {
			// No whole batch frames here — unless the length field
			// itself was misread. The end of the log is decided on what
			// the disk stably holds, as for a bad batch below.
			if b, err = reader.stableBatchAt(position); err != nil || b == nil {
				return err
			}
		}
		h, _, err := checkBatchAt(b, s.nextOffset)
		if err != nil {
			if mutant.Active(mutant.KeepTornTail) {
				if kept, ok := keepTornBatch(b, s.nextOffset); ok {
					s.noteBatch(&kept, position, l.config.IndexIntervalBytes)
					position += kept.TotalBytes()
					continue
				}
			}
			// A bad read looks like a bad batch, and truncation cannot be
			// taken back. A torn or corrupt batch reads the same every
			// time; a transient fault (a flipped bit on the way from the
			// disk) does not. So read until two reads agree, and judge
			// the batch by what the disk stably holds.
			stable, err := reader.stableRead(position, int64(len(b)))
			if err != nil {
				return err
			}
			if h, _, err = checkBatchAt(stable, s.nextOffset); err != nil {
				return nil
			}
		}
		if position > math.MaxUint32 || !s.fitsRelative(h.NextOffset()) {
			return nil // past what an index entry can address: not written by this log
		}
		s.noteBatch(&h, position, l.config.IndexIntervalBytes)
		position += h.TotalBytes()
	}
	return nil
}

// scanReader reads a segment front to back in large blocks for recovery.
type scanReader struct {
	file      diskfault.File
	fileBytes int64
	buffer    []byte // the file's bytes from start on
	start     int64
}

// batchAt returns the bytes of the batch framed at position, or nil when no
// whole batch can be there: too few bytes left, or a length that is too
// small or runs past the end of the file.
func (r *scanReader) batchAt(position int64) ([]byte, error) {
	if r.fileBytes-position < batch.LengthPrefixBytes {
		return nil, nil
	}
	if err := r.fill(position, batch.LengthPrefixBytes); err != nil {
		return nil, err
	}
	total, _, err := batch.Frame(r.buffer[position-r.start:])
	if err != nil || position+total > r.fileBytes {
		return nil, nil
	}
	if err := r.fill(position, total); err != nil {
		return nil, err
	}
	return r.buffer[position-r.start : position-r.start+total], nil
}

// fill makes sure the buffer holds the n bytes at position.
func (r *scanReader) fill(position, n int64) error {
	if position >= r.start && position+n <= r.start+int64(len(r.buffer)) {
		return nil
	}
	return r.read(position, n)
}

// read refills the buffer from position with at least n bytes.
// stableReadsMax bounds the reads stableRead spends before it declares the
// disk unreadable.
const stableReadsMax = 6

// stableRead reads the n bytes at position until two consecutive reads
// agree and returns them. If no two agree within stableReadsMax reads, the
// disk is failing in a way recovery must not guess about: an I/O error, so
// that the broker retries recovery rather than truncating on a coin toss.
func (r *scanReader) stableRead(position, n int64) ([]byte, error) {
	var previous []byte
	for i := 0; i < stableReadsMax; i++ {
		if err := r.read(position, n); err != nil {
			return nil, err
		}
		current := r.buffer[:n]
		if previous != nil && bytes.Equal(previous, current) {
			return current, nil
		}
		previous = append(previous[:0], current...)
	}
	return nil, fmt.Errorf("storage: recovery read at %d: %d reads of %d bytes never agreed", position, stableReadsMax, n)
}

// stableBatchAt is batchAt on stable reads: the length prefix, then the
// whole batch it frames, each read until two reads agree.
func (r *scanReader) stableBatchAt(position int64) ([]byte, error) {
	if r.fileBytes-position < batch.LengthPrefixBytes {
		return nil, nil
	}
	prefix, err := r.stableRead(position, batch.LengthPrefixBytes)
	if err != nil {
		return nil, err
	}
	total, _, err := batch.Frame(prefix)
	if err != nil || position+total > r.fileBytes {
		return nil, nil
	}
	return r.stableRead(position, total)
}

// keepTornBatch is the keep-torn-tail mutant: it accepts a batch whose
// header frames it but whose bytes fail their checks.
func keepTornBatch(b []byte, expectedBaseOffset int64) (batch.Header, bool) {
	h, err := batch.ParseHeader(b)
	if err != nil || h.BaseOffset != expectedBaseOffset || h.LastOffsetDelta < 0 || h.TotalBytes() != int64(len(b)) {
		return h, false
	}
	return h, true
}

func (r *scanReader) read(position, n int64) error {
	size := min(max(n, scanBufferBytes), r.fileBytes-position)
	if int64(cap(r.buffer)) < size {
		r.buffer = make([]byte, size)
	}
	r.buffer = r.buffer[:size]
	got, err := r.file.ReadAt(r.buffer, position)
	if int64(got) < size {
		r.buffer = r.buffer[:0]
		return fmt.Errorf("storage: recovery read at %d: %w", position, errors.Join(err, io.ErrUnexpectedEOF))
	}
	r.start = position
	return nil
}

// persistRecovery makes what recovery decided durable before the log takes
// writes: scanned segments synced (after a process crash their bytes may
// be only in the page cache), their index files written, stale files and
// the clean-shutdown marker removed, the directory synced, and the
// recovery point moved to the active segment. Otherwise a crash soon after
// could bring back a marker that no longer tells the truth.
func (l *Log) persistRecovery(r *recovery) error {
	for _, name := range r.stale {
		if err := l.removeFile(path.Join(l.dir, name)); err != nil {
			return err
		}
	}
	if r.markerPresent {
		if err := l.removeFile(l.markerPath); err != nil {
			return err
		}
	}
	active := l.active()
	for _, s := range r.scanned {
		if err := l.persistScanned(s, s == active); err != nil {
			return err
		}
	}
	if err := l.directory.Sync(); err != nil {
		return fmt.Errorf("storage: sync %s: %w", l.dir, err)
	}
	if !r.haveCheckpoint || r.recoveryPoint != active.baseOffset {
		if err := writeCheckpoint(l.fs, l.checkpointPath, l.checkpointPath+ownerTemporarySuffix, active.baseOffset, l.directory); err != nil {
			return err
		}
	}
	l.checkpointOffset = active.baseOffset
	for _, s := range l.dirty {
		s.dirty = false
	}
	l.dirty, l.directoryDirty = l.dirty[:0], false
	return nil
}

// persistScanned syncs a scanned segment and, unless it is the active one,
// writes and syncs its index files as a roll would have.
func (l *Log) persistScanned(s *segment, active bool) error {
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("storage: sync segment %d: %w", s.baseOffset, err)
	}
	if active {
		return nil
	}
	s.appendTimeEntry()
	if err := l.writeIndexFiles(s); err != nil {
		return err
	}
	err := s.sync()
	if closeErr := s.closeIndexFiles(); err == nil {
		err = closeErr
	}
	return err
}

// dateActiveSegment sets when the active segment's age began: its first
// batch's timestamp, unless that is missing or in the future.
func (l *Log) dateActiveSegment(now time.Time) error {
	s := l.active()
	if s.sizeBytes == 0 {
		return nil
	}
	h, err := l.headerAt(s, 0, s.baseOffset)
	if err != nil {
		return err
	}
	s.rollStart = now
	if first := time.UnixMilli(h.MaxTimestamp); h.MaxTimestamp > noTimestamp && first.Before(now) {
		s.rollStart = first
	}
	return nil
}

// repairIndexes rebuilds s's indexes from its batch headers after a walk
// found a header other than the index promised. Index files carry no
// checksum, so one trusted at Open may be wrong (rot, or a bit flipped
// while loading it); without this, every read of that range would fail
// until a restart. It runs at most once per segment — a segment whose
// headers themselves are bad keeps failing its reads, which is right — and
// reports whether the indexes changed.
func (l *Log) repairIndexes(s *segment) bool {
	if s.indexRepaired || l.closed {
		return false
	}
	s.indexRepaired = true
	rebuilt := newSegment(s.baseOffset, s.file)
	reader := scanReader{file: s.file, fileBytes: s.sizeBytes}
	for position := int64(0); position < s.sizeBytes; {
		b, err := reader.batchAt(position)
		if err != nil || b == nil {
			return false
		}
		h, err := batch.ParseHeader(b)
		if err != nil || checkHeader(&h, rebuilt.nextOffset) != nil {
			return false
		}
		rebuilt.noteBatch(&h, position, l.config.IndexIntervalBytes)
		position += h.TotalBytes()
	}
	if rebuilt.nextOffset != s.nextOffset || rebuilt.sizeBytes != s.sizeBytes {
		return false
	}
	if s != l.active() {
		rebuilt.appendTimeEntry() // as at roll: the last entry holds the max
	}
	s.offsetIndex, s.timeIndex, s.lastIndexedPosition = rebuilt.offsetIndex, rebuilt.timeIndex, rebuilt.lastIndexedPosition
	s.maxTimestamp, s.offsetOfMaxTimestamp = rebuilt.maxTimestamp, rebuilt.offsetOfMaxTimestamp
	l.forgetPositions()
	return true
}
