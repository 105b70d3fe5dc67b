package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path"
	"strings"
	"testing"

	"cairn/diskfault"
)

// segmentLogs lists the .log files of the test log, in order.
func segmentLogs(t *testing.T, fsys diskfault.FS) []string {
	t.Helper()
	names, err := fsys.List(testDir)
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	for _, name := range names {
		if strings.HasSuffix(name, logSuffix) {
			logs = append(logs, name)
		}
	}
	return logs
}

func readFileBytes(t *testing.T, fsys diskfault.FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(path.Join(testDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Stat()
	b := make([]byte, info.Size())
	if n, err := f.ReadAt(b, 0); n != len(b) {
		t.Fatal(err)
	}
	return b
}

// rewrite replaces a file of the test log with edit's result, durably.
func rewrite(t *testing.T, fsys diskfault.FS, name string, edit func([]byte) []byte) {
	t.Helper()
	b := edit(readFileBytes(t, fsys, name))
	f, err := fsys.Create(path.Join(testDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// prepared is a log of three segments, all synced, left without Close
// (unless closed is set), and the batches it holds.
func prepared(t *testing.T, closed bool) (*diskfault.Mem, [][]byte) {
	t.Helper()
	mem := diskfault.NewMem()
	l := mustOpen(t, mem, smallConfig)
	want := appendBatches(t, l, 60, 3, 60)
	syncNow(t, l)
	if closed {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(segmentLogs(t, mem)) < 3 {
		t.Fatal("want at least three segments")
	}
	return mem, want
}

func TestRecoveryTailDamage(t *testing.T) {
	cases := map[string]func(b []byte, lastBatch int) []byte{
		"torn tail":        func(b []byte, last int) []byte { return b[:len(b)-last/2] },
		"torn length":      func(b []byte, last int) []byte { return b[:len(b)-last+5] },
		"garbage appended": func(b []byte, _ int) []byte { return append(b, bytes.Repeat([]byte{0xA5, 0x17, 0x00}, 700)...) },
		"zero-filled tail": func(b []byte, _ int) []byte { return append(b, make([]byte, 8192)...) },
		"last batch flipped": func(b []byte, last int) []byte {
			b[len(b)-last/3] ^= 0x40
			return b
		},
	}
	for name, damage := range cases {
		for _, closed := range []bool{false, true} {
			mem, want := prepared(t, closed)
			logs := segmentLogs(t, mem)
			active := logs[len(logs)-1]
			lastBatch := len(want[len(want)-1])
			rewrite(t, mem, active, func(b []byte) []byte { return damage(b, lastBatch) })
			l := mustOpen(t, mem, smallConfig)
			got := readAll(t, l, 1<<20)
			keep := len(want)
			if name != "garbage appended" && name != "zero-filled tail" {
				keep--
			}
			if !sameBatches(got, want[:keep]) {
				t.Fatalf("%s (closed %v): recovered %d batches, want %d", name, closed, len(got), keep)
			}
			if size := int64(len(readFileBytes(t, mem, active))); l.active().sizeBytes != size {
				t.Fatalf("%s: file is %d bytes, log believes %d", name, size, l.active().sizeBytes)
			}
			// The log goes on from where recovery cut it.
			b := simpleBatch(l.NextOffset(), 1, 5, 0)
			mustAppend(t, l, b)
			if got := readAll(t, l, 1<<20); !sameBatches(got, append(want[:keep:keep], b)) {
				t.Fatalf("%s: append after recovery", name)
			}
		}
	}
}

// TestRecoveryCorruptMiddle corrupts a batch in a segment that is not yet
// covered by the recovery point: recovery keeps the batches before it and
// removes every later segment.
func TestRecoveryCorruptMiddle(t *testing.T) {
	mem := diskfault.NewMem()
	l := mustOpen(t, mem, smallConfig)
	want := appendBatches(t, l, 60, 3, 60)
	// Nothing synced yet, so no segment is trusted; make the files durable
	// behind the log's back so that only the corruption matters.
	for _, s := range l.segments {
		s.file.Sync()
	}
	logs := segmentLogs(t, mem)
	second := logs[1]
	base, _ := parseSegmentName(second, logSuffix)
	// Corrupt the third batch of the second segment.
	position, index := 0, 0
	for i, b := range want {
		if int64(binary.BigEndian.Uint64(b)) < base {
			continue
		}
		if index == 2 {
			rewrite(t, mem, second, func(d []byte) []byte { d[position+len(b)-1] ^= 1; return d })
			l = mustOpen(t, mem, smallConfig)
			if got := readAll(t, l, 1<<20); !sameBatches(got, want[:i]) {
				t.Fatalf("recovered %d batches, want %d", len(got), i)
			}
			if n := len(segmentLogs(t, mem)); n != 2 || l.SegmentCount() != 2 {
				t.Fatalf("%d segment files, %d segments; later segments should be gone", n, l.SegmentCount())
			}
			return
		}
		position += len(b)
		index++
	}
	t.Fatal("second segment too short")
}

func TestRecoveryRebuildsIndexes(t *testing.T) {
	damages := map[string]func(t *testing.T, mem *diskfault.Mem, segment string){
		"missing index": func(t *testing.T, mem *diskfault.Mem, segment string) {
			mem.Remove(path.Join(testDir, strings.TrimSuffix(segment, logSuffix)+indexSuffix))
		},
		"missing time index": func(t *testing.T, mem *diskfault.Mem, segment string) {
			mem.Remove(path.Join(testDir, strings.TrimSuffix(segment, logSuffix)+timeIndexSuffix))
		},
		"index past EOF": func(t *testing.T, mem *diskfault.Mem, segment string) {
			rewrite(t, mem, strings.TrimSuffix(segment, logSuffix)+indexSuffix, func(b []byte) []byte {
				return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(b, 4000), 1<<20)
			})
		},
		"index off a batch boundary": func(t *testing.T, mem *diskfault.Mem, segment string) {
			rewrite(t, mem, strings.TrimSuffix(segment, logSuffix)+indexSuffix, func(b []byte) []byte {
				binary.BigEndian.PutUint32(b[len(b)-4:], binary.BigEndian.Uint32(b[len(b)-4:])+3)
				return b
			})
		},
		"index truncated": func(t *testing.T, mem *diskfault.Mem, segment string) {
			rewrite(t, mem, strings.TrimSuffix(segment, logSuffix)+indexSuffix, func(b []byte) []byte {
				return b[:offsetEntryBytes]
			})
		},
		"index torn": func(t *testing.T, mem *diskfault.Mem, segment string) {
			rewrite(t, mem, strings.TrimSuffix(segment, logSuffix)+indexSuffix, func(b []byte) []byte {
				return b[:len(b)-3]
			})
		},
	}
	for name, damage := range damages {
		for _, closed := range []bool{false, true} {
			mem, want := prepared(t, true)
			l := mustOpen(t, mem, smallConfig) // the recovery point now covers all but the active segment
			want = append(want, appendBatches(t, l, 5, 1, 10)...)
			syncNow(t, l)
			if closed {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			logs := segmentLogs(t, mem)
			for _, segment := range logs[:len(logs)-1] {
				damage(t, mem, segment)
			}
			if closed {
				damage(t, mem, logs[len(logs)-1])
			}
			l = mustOpen(t, mem, smallConfig)
			if got := readAll(t, l, 1<<20); !sameBatches(got, want) {
				t.Fatalf("%s (closed %v): recovered %d batches, want %d", name, closed, len(got), len(want))
			}
			if got := readAll(t, l, 1); !sameBatches(got, want) {
				t.Fatalf("%s: batch-at-a-time reads differ", name)
			}
			for _, segment := range logs[:len(logs)-1] {
				if _, err := mem.Stat(path.Join(testDir, strings.TrimSuffix(segment, logSuffix)+indexSuffix)); err != nil {
					t.Fatalf("%s: index of %s not rewritten: %v", name, segment, err)
				}
			}
		}
	}
}

// TestCleanOpenDoesNotScan counts the bytes read from segment files when
// opening after a clean shutdown: the tails only, not the segments.
func TestCleanOpenDoesNotScan(t *testing.T) {
	mem, want := prepared(t, true)
	var readBytes int64
	counting := diskfault.Wrap(mem, diskfault.InjectorFunc(func(op diskfault.Op) diskfault.Fault {
		if op.Kind == diskfault.OpRead && strings.HasSuffix(op.Path, logSuffix) {
			readBytes += op.Length
		}
		return diskfault.Fault{}
	}))
	l := mustOpen(t, counting, smallConfig)
	if total := totalBytes(want); readBytes*2 > total {
		t.Fatalf("clean open read %d of %d bytes", readBytes, total)
	}
	if got := readAll(t, l, 1<<20); !sameBatches(got, want) {
		t.Fatal("clean reopen differs")
	}
	// And the marker is gone, durably: a crash now must not make the next
	// open trust a marker.
	if _, err := mem.Stat(path.Join(testDir, markerName)); err == nil {
		t.Fatal("marker survives open")
	}
}

func TestRecoveryRemovesStrays(t *testing.T) {
	mem, want := prepared(t, false)
	logs := segmentLogs(t, mem)
	// A segment after a gap in the offsets, an orphaned index, a temporary
	// checkpoint and a junk file that is not the log's.
	stray := segmentName(1<<40, logSuffix)
	for _, name := range []string{stray, segmentName(1<<41, indexSuffix), checkpointName + jobTemporarySuffix, "README"} {
		f, err := mem.Create(path.Join(testDir, name))
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(simpleBatch(1<<40, 1, 10, 0), 0)
		f.Close()
	}
	l := mustOpen(t, mem, smallConfig)
	if got := readAll(t, l, 1<<20); !sameBatches(got, want) {
		t.Fatal("recovered log differs")
	}
	names, _ := mem.List(testDir)
	for _, name := range names {
		if name == stray || strings.HasSuffix(name, temporarySuffix) || name == segmentName(1<<41, indexSuffix) {
			t.Fatalf("%s survives recovery", name)
		}
	}
	if !contains(names, "README") || len(segmentLogs(t, mem)) != len(logs) {
		t.Fatalf("recovery removed too much: %v", names)
	}
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// TestCorruptTrustedSegmentNeverServed corrupts a batch in a segment that
// recovery trusts and does not scan: reads must report it, not serve it.
func TestCorruptTrustedSegmentNeverServed(t *testing.T) {
	mem, want := prepared(t, true)
	logs := segmentLogs(t, mem)
	rewrite(t, mem, logs[0], func(b []byte) []byte { b[len(want[0])+len(want[1])+70] ^= 0x10; return b })
	l := mustOpen(t, mem, smallConfig)
	r, err := l.Read(0, 1<<20, l.NextOffset())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadInto(nil, r)
	if !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("ReadInto: %v, want ErrCorruptBatch", err)
	}
	if !bytes.Equal(got, append(append([]byte(nil), want[0]...), want[1]...)) {
		t.Fatalf("ReadInto returned %d bytes, want the two good batches", len(got))
	}
}

// TestRecoveryScansSeveralSegments scans segments of shrinking sizes in one
// open: each must be read from its own file, never from bytes left in the
// scan buffer by the one before (a bug the fault property found).
func TestRecoveryScansSeveralSegments(t *testing.T) {
	mem := diskfault.NewMem()
	l := mustOpen(t, mem, smallConfig)
	var want [][]byte
	for _, valueBytes := range []int{1200, 900, 300, 40, 5} {
		for i := 0; i < 3; i++ {
			b := simpleBatch(l.NextOffset(), 3, valueBytes, 0)
			mustAppend(t, l, b)
			want = append(want, b)
		}
	}
	// Durable data, but no sync job ever moved the recovery point: every
	// segment is scanned.
	for _, s := range l.segments {
		s.file.Sync()
	}
	l.directory.Sync()
	l = mustOpen(t, mem, smallConfig)
	if got := readAll(t, l, 1<<20); !sameBatches(got, want) {
		t.Fatalf("recovered %d batches, want %d", len(got), len(want))
	}
}

// TestReadRepairsWrongIndexEntry damages a middle entry of a trusted index
// so that it still passes the load checks (entries rise, within the file):
// the first read through it finds a header that disagrees, rebuilds the
// segment's index from the headers, and succeeds.
func TestReadRepairsWrongIndexEntry(t *testing.T) {
	mem, want := prepared(t, true)
	logs := segmentLogs(t, mem)
	index := strings.TrimSuffix(logs[0], logSuffix) + indexSuffix
	rewrite(t, mem, index, func(b []byte) []byte {
		if len(b) < 3*offsetEntryBytes {
			t.Fatal("index too short for the test")
		}
		middle := b[offsetEntryBytes : 2*offsetEntryBytes]
		binary.BigEndian.PutUint32(middle[4:], binary.BigEndian.Uint32(middle[4:])+1)
		return b
	})
	l := mustOpen(t, mem, smallConfig)
	h := &history{batches: want}
	// Backwards, so that no read starts where the last one ended and every
	// read goes through the index.
	for offset := l.NextOffset() - 1; offset >= 0; offset-- {
		r, err := l.Read(offset, 1, l.NextOffset())
		if err != nil {
			t.Fatalf("read at %d: %v", offset, err)
		}
		got, err := ReadInto(nil, r)
		if err != nil || !bytes.Equal(got, h.expectedRead(offset, 1, l.NextOffset())) {
			t.Fatalf("read at %d differs (%v)", offset, err)
		}
	}
	if !l.segments[0].indexRepaired {
		t.Fatal("the damaged entry was never used")
	}
}
