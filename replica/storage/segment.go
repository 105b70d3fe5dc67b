package storage

import (
	"encoding/binary"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"cairn/core/batch"
	"cairn/diskfault"
)

// File name suffixes and the width of a segment's base offset in its name.
const (
	logSuffix        = ".log"
	indexSuffix      = ".index"
	timeIndexSuffix  = ".timeindex"
	baseOffsetDigits = 20

	offsetEntryBytes = 8
	timeEntryBytes   = 12

	// noTimestamp is Kafka's "no timestamp" value. A time-index entry is
	// written only for a timestamp above it.
	noTimestamp = -1
)

// offsetEntry maps a batch's base offset (relative to the segment's) to its
// byte position. Entries are sparse: about one per IndexIntervalBytes.
type offsetEntry struct {
	relativeOffset uint32
	position       uint32
}

// timeEntry says that every batch up to and including the one at
// relativeOffset has a max timestamp at most timestamp, and that batch has
// exactly it. Entries rise strictly in timestamp.
type timeEntry struct {
	timestamp      int64
	relativeOffset uint32
}

// segment is one .log file and its in-memory indexes. Only the owner
// goroutine touches it; a SyncJob copies the file handles it needs.
type segment struct {
	baseOffset int64
	nextOffset int64
	sizeBytes  int64
	file       diskfault.File

	offsetIndex          []offsetEntry
	timeIndex            []timeEntry
	lastIndexedPosition  int64
	maxTimestamp         int64
	offsetOfMaxTimestamp int64
	// rollStart is when the segment's first batch was appended; the age
	// roll measures from it. Zero while the segment is empty.
	rollStart time.Time

	// indexFile and timeIndexFile are written at roll and kept open until a
	// sync has made them durable; nil otherwise.
	indexFile     diskfault.File
	timeIndexFile diskfault.File

	dirty         bool // on Log.dirty: written since the last PrepareSync
	removed       bool // removed by Truncate; dropped from Log.dirty
	indexRepaired bool // repairIndexes ran; it runs at most once
}

func newSegment(baseOffset int64, file diskfault.File) *segment {
	return &segment{
		baseOffset:           baseOffset,
		nextOffset:           baseOffset,
		file:                 file,
		maxTimestamp:         noTimestamp,
		offsetOfMaxTimestamp: baseOffset,
	}
}

// segmentName is the file name of a segment: its base offset, zero-padded
// so that names sort as offsets do.
func segmentName(baseOffset int64, suffix string) string {
	digits := strconv.FormatInt(baseOffset, 10)
	return strings.Repeat("0", baseOffsetDigits-len(digits)) + digits + suffix
}

// parseSegmentName returns the base offset named by a file name with the
// given suffix.
func parseSegmentName(name, suffix string) (int64, bool) {
	digits, found := strings.CutSuffix(name, suffix)
	if !found || len(digits) != baseOffsetDigits {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || base < 0 {
		return 0, false
	}
	return base, true
}

func (l *Log) segmentPath(baseOffset int64, suffix string) string {
	return path.Join(l.dir, segmentName(baseOffset, suffix))
}

// noteBatch records a batch just written (or found by recovery) at position:
// it advances the segment's end, and adds sparse index entries. It never
// allocates except when an index slice grows.
func (s *segment) noteBatch(h *batch.Header, position, intervalBytes int64) {
	if h.MaxTimestamp > s.maxTimestamp {
		s.maxTimestamp = h.MaxTimestamp
		s.offsetOfMaxTimestamp = h.BaseOffset
	}
	if len(s.offsetIndex) == 0 || position-s.lastIndexedPosition >= intervalBytes {
		s.offsetIndex = append(s.offsetIndex, offsetEntry{
			relativeOffset: uint32(h.BaseOffset - s.baseOffset),
			position:       uint32(position),
		})
		s.lastIndexedPosition = position
		s.appendTimeEntry()
	}
	s.nextOffset = h.NextOffset()
	s.sizeBytes = position + h.TotalBytes()
}

// appendTimeEntry records the running max timestamp if it rose since the
// last entry. Called at each offset-index entry and once more when the
// segment stops being active, so the last entry holds the segment's max.
func (s *segment) appendTimeEntry() {
	n := len(s.timeIndex)
	if s.maxTimestamp <= noTimestamp || (n > 0 && s.maxTimestamp <= s.timeIndex[n-1].timestamp) {
		return
	}
	s.timeIndex = append(s.timeIndex, timeEntry{
		timestamp:      s.maxTimestamp,
		relativeOffset: uint32(s.offsetOfMaxTimestamp - s.baseOffset),
	})
}

// floorEntry returns the last offset-index entry at or below offset. The
// segment holds offset, so its first entry (at position 0) qualifies.
func (s *segment) floorEntry(offset int64) (position, baseOffset int64) {
	relative := offset - s.baseOffset
	i := sort.Search(len(s.offsetIndex), func(i int) bool {
		return int64(s.offsetIndex[i].relativeOffset) > relative
	}) - 1
	if i < 0 {
		return 0, s.baseOffset
	}
	e := s.offsetIndex[i]
	return int64(e.position), s.baseOffset + int64(e.relativeOffset)
}

// lastBoundary returns the furthest batch boundary the offset index knows
// at or below both positionMax and offsetMax: a position such that every
// batch before it ends by positionMax and by offsetMax. found is false when
// no entry qualifies.
func (s *segment) lastBoundary(positionMax, offsetMax int64) (position, offset int64, found bool) {
	i := sort.Search(len(s.offsetIndex), func(i int) bool {
		e := s.offsetIndex[i]
		return int64(e.position) > positionMax || s.baseOffset+int64(e.relativeOffset) > offsetMax
	}) - 1
	if i < 0 {
		return 0, 0, false
	}
	e := s.offsetIndex[i]
	return int64(e.position), s.baseOffset + int64(e.relativeOffset), true
}

// timeFloor returns the offset of the last time-index entry whose timestamp
// is below timestamp: no batch up to and including that one qualifies, so a
// search may start there. Without one it returns the base offset.
func (s *segment) timeFloor(timestamp int64) int64 {
	i := sort.Search(len(s.timeIndex), func(i int) bool {
		return s.timeIndex[i].timestamp >= timestamp
	}) - 1
	if i < 0 {
		return s.baseOffset
	}
	return s.baseOffset + int64(s.timeIndex[i].relativeOffset)
}

// fitsRelative reports whether a batch ending before nextOffset can be
// addressed by a uint32 relative offset in this segment.
func (s *segment) fitsRelative(nextOffset int64) bool {
	return nextOffset-1-s.baseOffset <= math.MaxUint32
}

// encodeOffsetIndex appends the offset index in its file format.
func encodeOffsetIndex(dst []byte, entries []offsetEntry) []byte {
	for _, e := range entries {
		dst = binary.BigEndian.AppendUint32(dst, e.relativeOffset)
		dst = binary.BigEndian.AppendUint32(dst, e.position)
	}
	return dst
}

// encodeTimeIndex appends the time index in its file format.
func encodeTimeIndex(dst []byte, entries []timeEntry) []byte {
	for _, e := range entries {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.timestamp))
		dst = binary.BigEndian.AppendUint32(dst, e.relativeOffset)
	}
	return dst
}

// decodeOffsetIndex parses an offset index file and checks it against the
// segment's extent. Index files carry no checksum (Kafka's format), so the
// structural checks here, plus the header checks every walk makes, are what
// stands between a damaged index and a wrong read.
func decodeOffsetIndex(b []byte, baseOffset, nextOffset, sizeBytes int64) ([]offsetEntry, error) {
	if len(b)%offsetEntryBytes != 0 {
		return nil, fmt.Errorf("offset index: %d bytes is not a whole number of entries", len(b))
	}
	entries := make([]offsetEntry, 0, len(b)/offsetEntryBytes)
	for i := 0; i < len(b); i += offsetEntryBytes {
		e := offsetEntry{
			relativeOffset: binary.BigEndian.Uint32(b[i:]),
			position:       binary.BigEndian.Uint32(b[i+4:]),
		}
		n := len(entries)
		switch {
		case n == 0 && (e.relativeOffset != 0 || e.position != 0):
			return nil, fmt.Errorf("offset index: first entry %+v is not the segment start", e)
		case n > 0 && (e.relativeOffset <= entries[n-1].relativeOffset || e.position <= entries[n-1].position):
			return nil, fmt.Errorf("offset index: entry %d does not rise", n)
		case baseOffset+int64(e.relativeOffset) >= nextOffset || int64(e.position) >= sizeBytes:
			return nil, fmt.Errorf("offset index: entry %d points past the segment", n)
		}
		entries = append(entries, e)
	}
	if sizeBytes > 0 && len(entries) == 0 {
		return nil, fmt.Errorf("offset index: empty for a segment of %d bytes", sizeBytes)
	}
	return entries, nil
}

// decodeTimeIndex parses a time index file and checks it against the
// segment's offsets.
func decodeTimeIndex(b []byte, baseOffset, nextOffset int64) ([]timeEntry, error) {
	if len(b)%timeEntryBytes != 0 {
		return nil, fmt.Errorf("time index: %d bytes is not a whole number of entries", len(b))
	}
	entries := make([]timeEntry, 0, len(b)/timeEntryBytes)
	for i := 0; i < len(b); i += timeEntryBytes {
		e := timeEntry{
			timestamp:      int64(binary.BigEndian.Uint64(b[i:])),
			relativeOffset: binary.BigEndian.Uint32(b[i+8:]),
		}
		n := len(entries)
		switch {
		case e.timestamp <= noTimestamp:
			return nil, fmt.Errorf("time index: entry %d has no timestamp", n)
		case n > 0 && (e.timestamp <= entries[n-1].timestamp || e.relativeOffset < entries[n-1].relativeOffset):
			return nil, fmt.Errorf("time index: entry %d does not rise", n)
		case baseOffset+int64(e.relativeOffset) >= nextOffset:
			return nil, fmt.Errorf("time index: entry %d points past the segment", n)
		}
		entries = append(entries, e)
	}
	return entries, nil
}
