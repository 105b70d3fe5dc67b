package diskfault

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"
)

func crashWith(t *testing.T, m *Mem, options CrashOptions) {
	t.Helper()
	if err := m.CrashWith(options); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, m, true)
}

// newMemWithFile returns a Mem holding /f (directory entry synced) with
// durable content data, and an open read-write handle on it.
func newMemWithFile(t *testing.T, data []byte) (*Mem, File) {
	t.Helper()
	m := NewMem()
	writeFile(t, m, "/f", data)
	syncDirectory(t, m, "/")
	file, err := m.OpenReadWrite("/f")
	if err != nil {
		t.Fatal(err)
	}
	return m, file
}

func mustWriteAt(t *testing.T, file File, data []byte, offset int64) {
	t.Helper()
	if _, err := file.WriteAt(data, offset); err != nil {
		t.Fatal(err)
	}
}

func TestCrashKeepsSyncedData(t *testing.T) {
	synced := fill('s', 3*pageBytes+100)
	for seed := uint64(0); seed < 50; seed++ {
		m, file := newMemWithFile(t, synced)
		// Unsynced writes elsewhere must not disturb the synced bytes.
		mustWriteAt(t, file, fill('u', 2*pageBytes), int64(len(synced)))
		m.Crash(newRand(seed))
		checkInvariants(t, m, true)
		got := readFile(t, m, "/f")
		if len(got) < len(synced) || !bytes.Equal(got[:len(synced)], synced) {
			t.Fatalf("seed %d: synced prefix changed", seed)
		}
	}
}

func TestCrashKeepNeverRestoresDurableState(t *testing.T) {
	synced := fill('s', 4*pageBytes)
	m, file := newMemWithFile(t, synced)
	mustWriteAt(t, file, fill('u', 100), pageBytes+10) // overwrite
	mustWriteAt(t, file, fill('u', pageBytes), int64(len(synced)))
	if err := file.Truncate(2 * pageBytes); err != nil { // and shrink
		t.Fatal(err)
	}
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if got := readFile(t, m, "/f"); !bytes.Equal(got, synced) {
		t.Fatalf("KeepNever: got %d bytes, want the %d synced bytes", len(got), len(synced))
	}
}

func TestCrashKeepAlwaysKeepsEverything(t *testing.T) {
	m, file := newMemWithFile(t, fill('s', 4*pageBytes))
	mustWriteAt(t, file, fill('u', 100), pageBytes+10)
	if err := file.Truncate(3*pageBytes + 7); err != nil {
		t.Fatal(err)
	}
	mustWriteAt(t, file, fill('v', 10), 5*pageBytes)
	want := readFile(t, m, "/f")
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepAlways})
	if got := readFile(t, m, "/f"); !bytes.Equal(got, want) {
		t.Fatal("KeepAlways lost an unsynced change")
	}
}

// TestCrashTearsOnlyUnsyncedPagesAtSectorBoundaries overwrites pages 2..5
// of an 8-page file and checks, over many seeds, that pages 0, 1, 6, 7 are
// untouched and that every sector of 2..5 is wholly old or wholly new —
// and that all three fates (kept, dropped, torn) do happen.
func TestCrashTearsOnlyUnsyncedPagesAtSectorBoundaries(t *testing.T) {
	old, new := byte('o'), byte('n')
	fates := make(map[pageFate]int)
	for seed := uint64(0); seed < 200; seed++ {
		m, file := newMemWithFile(t, fill(old, 8*pageBytes))
		mustWriteAt(t, file, fill(new, 4*pageBytes), 2*pageBytes)
		m.Crash(newRand(seed))
		checkInvariants(t, m, true)
		got := readFile(t, m, "/f")
		if len(got) != 8*pageBytes {
			t.Fatalf("seed %d: size %d changed without a size change", seed, len(got))
		}
		for page := range 8 {
			newSectors := 0
			for sector := range sectorsPerPage {
				start := page*pageBytes + sector*sectorBytes
				data := got[start : start+sectorBytes]
				switch {
				case bytes.Equal(data, fill(new, sectorBytes)):
					newSectors++
				case !bytes.Equal(data, fill(old, sectorBytes)):
					t.Fatalf("seed %d: page %d sector %d is neither old nor new", seed, page, sector)
				}
			}
			synced := page < 2 || page >= 6
			switch {
			case synced && newSectors > 0:
				t.Fatalf("seed %d: untouched page %d changed", seed, page)
			case synced:
			case newSectors == sectorsPerPage:
				fates[pageKept]++
			case newSectors == 0:
				fates[pageDropped]++
			default:
				fates[pageTorn]++
			}
		}
	}
	if fates[pageKept] == 0 || fates[pageDropped] == 0 || fates[pageTorn] == 0 {
		t.Fatalf("fates over 200 seeds: %v; want each of kept, dropped, torn", fates)
	}
}

// TestCrashAppendedTail checks an unsynced append: the size ends anywhere
// from the synced size to the written size, and each sector of the tail is
// the written data or zeros (a hole), never anything else.
func TestCrashAppendedTail(t *testing.T) {
	syncedBytes, appendedBytes := 1000, 3*pageBytes+300
	sizes := make(map[int]bool)
	for seed := uint64(0); seed < 100; seed++ {
		m, file := newMemWithFile(t, fill('s', syncedBytes))
		mustWriteAt(t, file, fill('a', appendedBytes), int64(syncedBytes))
		m.Crash(newRand(seed))
		got := readFile(t, m, "/f")
		if len(got) < syncedBytes || len(got) > syncedBytes+appendedBytes {
			t.Fatalf("seed %d: size %d outside [%d, %d]", seed, len(got), syncedBytes, syncedBytes+appendedBytes)
		}
		sizes[len(got)] = true
		written := append(fill('s', syncedBytes), fill('a', appendedBytes)...)
		// Past the synced size the disk holds zeros: a dropped sector there
		// is a hole.
		durable := append(fill('s', syncedBytes), make([]byte, appendedBytes)...)
		for start := 0; start < len(got); start += sectorBytes {
			end := min(start+sectorBytes, len(got))
			sector := got[start:end]
			if !bytes.Equal(sector, written[start:end]) && !bytes.Equal(sector, durable[start:end]) {
				t.Fatalf("seed %d: sector at %d is neither written nor dropped", seed, start)
			}
		}
	}
	if !sizes[syncedBytes] || !sizes[syncedBytes+appendedBytes] || len(sizes) < 3 {
		t.Fatalf("sizes seen %v: want the synced, the written and some between", sizes)
	}
}

func TestCrashUnsyncedTruncateMayBeUndone(t *testing.T) {
	m, file := newMemWithFile(t, fill('s', 2*pageBytes))
	if err := file.Truncate(10); err != nil {
		t.Fatal(err)
	}
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if got := readFile(t, m, "/f"); !bytes.Equal(got, fill('s', 2*pageBytes)) {
		t.Fatalf("unsynced truncate survived KeepNever: %d bytes", len(got))
	}
	file, err := m.OpenReadWrite("/f")
	if err != nil {
		t.Fatal(err)
	}
	if err := file.Truncate(10); err != nil {
		t.Fatal(err)
	}
	if err := file.Sync(); err != nil {
		t.Fatal(err)
	}
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if got := readFile(t, m, "/f"); !bytes.Equal(got, fill('s', 10)) {
		t.Fatalf("synced truncate lost: %d bytes", len(got))
	}
}

func TestCrashCreatedFileNeedsDirectorySync(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	syncDirectory(t, m, "/")
	writeFile(t, m, "/d/f", []byte("data")) // file synced, directory not
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if _, err := m.Stat("/d/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file in an unsynced directory survived: %v", err)
	}

	writeFile(t, m, "/d/f", []byte("data"))
	syncDirectory(t, m, "/d")
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if got := readFile(t, m, "/d/f"); string(got) != "data" {
		t.Fatalf("synced file in a synced directory: %q", got)
	}
}

func TestCrashNewDirectoryNeedsParentSync(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("/a/b", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m, "/a/b/f", []byte("x"))
	syncDirectory(t, m, "/a/b")
	syncDirectory(t, m, "/a") // but not "/"
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if _, err := m.Stat("/a"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("directory whose parent was never synced survived: %v", err)
	}
}

func TestCrashRenameDurability(t *testing.T) {
	m := NewMem()
	writeFile(t, m, "/current", []byte("old"))
	writeFile(t, m, "/tmp", []byte("new"))
	syncDirectory(t, m, "/")
	if err := m.Rename("/tmp", "/current"); err != nil {
		t.Fatal(err)
	}
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if got := readFile(t, m, "/current"); string(got) != "old" {
		t.Fatalf("unsynced rename survived: current = %q", got)
	}
	if got := readFile(t, m, "/tmp"); string(got) != "new" {
		t.Fatalf("unsynced rename: tmp = %q", got)
	}

	if err := m.Rename("/tmp", "/current"); err != nil {
		t.Fatal(err)
	}
	syncDirectory(t, m, "/")
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if got := readFile(t, m, "/current"); string(got) != "new" {
		t.Fatalf("synced rename lost: current = %q", got)
	}
	if _, err := m.Stat("/tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("synced rename left its source: %v", err)
	}
}

// TestCrashRenameIsAtomic checks that no seed splits a rename between two
// synced directories: the file is under exactly one of the names.
func TestCrashRenameIsAtomic(t *testing.T) {
	places := make(map[string]int)
	for seed := uint64(0); seed < 50; seed++ {
		m := NewMem()
		for _, dir := range []string{"/a", "/b"} {
			if err := m.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		writeFile(t, m, "/a/f", []byte("x"))
		syncDirectory(t, m, "/")
		syncDirectory(t, m, "/a")
		syncDirectory(t, m, "/b")
		if err := m.Rename("/a/f", "/b/f"); err != nil {
			t.Fatal(err)
		}
		m.Crash(newRand(seed))
		_, errA := m.Stat("/a/f")
		_, errB := m.Stat("/b/f")
		switch {
		case errA == nil && errB != nil:
			places["a"]++
		case errA != nil && errB == nil:
			places["b"]++
		default:
			t.Fatalf("seed %d: rename split: /a/f %v, /b/f %v", seed, errA, errB)
		}
	}
	if places["a"] == 0 || places["b"] == 0 {
		t.Fatalf("places over 50 seeds: %v; want both outcomes", places)
	}
}

func TestCrashRemoveMayBeUndone(t *testing.T) {
	m := NewMem()
	writeFile(t, m, "/f", []byte("back"))
	syncDirectory(t, m, "/")
	if err := m.Remove("/f"); err != nil {
		t.Fatal(err)
	}
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if got := readFile(t, m, "/f"); string(got) != "back" {
		t.Fatalf("unsynced remove: %q", got)
	}
	if err := m.Remove("/f"); err != nil {
		t.Fatal(err)
	}
	syncDirectory(t, m, "/")
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if _, err := m.Stat("/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("synced remove undone: %v", err)
	}
}

// TestCrashKeepsPrefixOfDirectoryChanges checks that KeepRandom keeps the
// unsynced directory changes in order: if create k survived, so did every
// earlier one.
func TestCrashKeepsPrefixOfDirectoryChanges(t *testing.T) {
	names := []string{"/c0", "/c1", "/c2", "/c3", "/c4"}
	prefixes := make(map[int]bool)
	for seed := uint64(0); seed < 100; seed++ {
		m := NewMem()
		for _, name := range names {
			writeFile(t, m, name, []byte(name))
		}
		m.Crash(newRand(seed))
		listed, err := m.List("/")
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range listed {
			if "/"+name != names[i] {
				t.Fatalf("seed %d: survivors %v are not a prefix of %v", seed, listed, names)
			}
		}
		prefixes[len(listed)] = true
	}
	if len(prefixes) != len(names)+1 {
		t.Fatalf("prefix lengths seen %v, want all of 0..%d", prefixes, len(names))
	}
}

func TestCrashInvalidatesHandles(t *testing.T) {
	m, file := newMemWithFile(t, []byte("data"))
	dir, err := m.OpenDir("/")
	if err != nil {
		t.Fatal(err)
	}
	m.Crash(newRand(1))
	buffer := make([]byte, 4)
	calls := map[string]error{}
	_, calls["Read"] = file.Read(buffer)
	_, calls["ReadAt"] = file.ReadAt(buffer, 0)
	_, calls["Write"] = file.Write(buffer)
	_, calls["WriteAt"] = file.WriteAt(buffer, 0)
	calls["Sync"] = file.Sync()
	calls["Truncate"] = file.Truncate(0)
	_, calls["Stat"] = file.Stat()
	calls["Close"] = file.Close()
	calls["dir Sync"] = dir.Sync()
	calls["dir Close"] = dir.Close()
	for call, err := range calls {
		if !errors.Is(err, ErrCrashed) {
			t.Errorf("%s on a handle from before the crash: %v, want ErrCrashed", call, err)
		}
	}
	if got := readFile(t, m, "/f"); string(got) != "data" {
		t.Fatalf("new handles after a crash: %q", got)
	}
}

// crashScript runs a fixed mix of operations over several directories, with
// a crash in the middle and at the end, all drawn from seed, and returns a
// dump of the result. Several directories have unsynced changes at each
// crash, so that the order of Mem's internal maps would show if it reached
// the outcome.
func crashScript(t *testing.T, seed uint64) string {
	m := NewMem()
	rng := newRand(seed)
	partitions := []string{"/log/p0", "/log/p1", "/log/p2"}
	for _, dir := range partitions[:2] {
		if err := m.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	syncDirectory(t, m, "/")
	syncDirectory(t, m, "/log")
	for round := range 2 {
		if err := m.MkdirAll(partitions[2], 0o755); err != nil { // /log not synced
			t.Fatal(err)
		}
		for i := range 12 {
			dir := partitions[i%len(partitions)]
			file, err := m.Create(dir + "/" + string(rune('a'+i/len(partitions))))
			if err != nil {
				t.Fatal(err)
			}
			for write := range 4 {
				data := fill(byte(rng.IntN(256)), 1+rng.IntN(3*pageBytes))
				mustWriteAt(t, file, data, int64(rng.IntN(6*pageBytes)))
				if write == 1 && i%2 == 0 {
					if err := file.Sync(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if i == 4 {
				syncDirectory(t, m, dir)
			}
		}
		if round == 0 {
			if err := m.Rename("/log/p0/a", "/log/p1/z"); err != nil {
				t.Fatal(err)
			}
		}
		m.Crash(rng)
		checkInvariants(t, m, true)
	}
	return dump(t, m, "/")
}

func TestCrashIsDeterministic(t *testing.T) {
	distinct := make(map[string]bool)
	for seed := uint64(0); seed < 5; seed++ {
		first, second := crashScript(t, seed), crashScript(t, seed)
		if first != second {
			t.Fatalf("seed %d: two runs differ:\n%s\n---\n%s", seed, first, second)
		}
		distinct[first] = true
	}
	if len(distinct) < 2 {
		t.Fatal("five seeds gave one outcome: the crash does not depend on the seed")
	}
}

func TestCrashTwiceChangesNothing(t *testing.T) {
	m, file := newMemWithFile(t, fill('s', 3*pageBytes))
	mustWriteAt(t, file, fill('u', 5*pageBytes), 1000)
	writeFile(t, m, "/g", []byte("g"))
	m.Crash(newRand(7))
	before := dump(t, m, "/")
	m.Crash(newRand(8))
	if after := dump(t, m, "/"); after != before {
		t.Fatalf("second crash changed synced state:\n%s\n---\n%s", before, after)
	}
}

func TestCrashRejectsInvalidOptions(t *testing.T) {
	m := NewMem()
	if err := m.CrashWith(CrashOptions{KeepUnsynced: KeepRandom}); err == nil {
		t.Fatal("KeepRandom without Rand accepted")
	}
	if err := m.CrashWith(CrashOptions{KeepUnsynced: Keep(99)}); err == nil {
		t.Fatal("unknown Keep accepted")
	}
	writeFile(t, m, "/f", []byte("x"))
	m.Crash(nil) // KeepNever
	if _, err := m.Stat("/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Crash(nil) kept an unsynced entry: %v", err)
	}
}

func TestCrashAfterFailedWritebackLosesData(t *testing.T) {
	m, file := newMemWithFile(t, fill('s', pageBytes))
	mustWriteAt(t, file, fill('u', 100), 0)
	mustWriteAt(t, file, fill('a', 100), pageBytes)
	if err := file.(*memFile).dropUnsynced(); err != nil {
		t.Fatal(err)
	}
	want := append(fill('s', pageBytes), make([]byte, 100)...)
	if got := readFile(t, m, "/f"); !bytes.Equal(got, want) {
		t.Fatal("after a failed writeback, reads must return the durable image, zeros past it")
	}
	if err := file.Sync(); err != nil { // The retry "succeeds"...
		t.Fatal(err)
	}
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepAlways})
	if got := readFile(t, m, "/f"); !bytes.Equal(got, want) {
		t.Fatal("...and persists the loss")
	}
}

func TestCapacity(t *testing.T) {
	m := NewMem()
	m.SetCapacity(10_000)
	file, err := m.Create("/f")
	if err != nil {
		t.Fatal(err)
	}
	n, err := file.Write(fill('x', 12_000))
	if n != 10_000 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write past capacity = %d %v, want 10000 ENOSPC", n, err)
	}
	if n, err := file.WriteAt(fill('y', 10), 0); n != 10 || err != nil {
		t.Fatalf("overwrite on a full disk = %d %v, want success", n, err)
	}
	if err := file.Truncate(10_001); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Truncate past capacity: %v", err)
	}
	if used := m.UsedBytes(); used != 10_000 {
		t.Fatalf("UsedBytes = %d", used)
	}
	// An open orphan keeps its space until closed.
	if err := m.Remove("/f"); err != nil {
		t.Fatal(err)
	}
	if used := m.UsedBytes(); used != 10_000 {
		t.Fatalf("UsedBytes with an open orphan = %d", used)
	}
	file.Close()
	if used := m.UsedBytes(); used != 0 {
		t.Fatalf("UsedBytes after the orphan closed = %d", used)
	}
	m.SetCapacity(CapacityUnlimited)
	writeFile(t, m, "/big", fill('b', 20_000))
	if used := m.UsedBytes(); used != 20_000 {
		t.Fatalf("UsedBytes = %d", used)
	}
	checkInvariants(t, m, true)
}

func TestMemRejectsBadInput(t *testing.T) {
	m := NewMem()
	file, err := m.Create("/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteAt([]byte("x"), fileBytesMax); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("write past fileBytesMax: %v", err)
	}
	if _, err := file.WriteAt([]byte("x"), 1<<63-1); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("write at the largest offset: %v", err)
	}
	if err := file.Truncate(fileBytesMax + 1); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("truncate past fileBytesMax: %v", err)
	}
	if _, err := m.Open("../escape"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("path above the root: %v", err)
	}
	if _, err := m.Open(""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty path: %v", err)
	}
	for name, err := range map[string]error{
		"Remove":    m.Remove("/"),
		"RemoveAll": m.RemoveAll("/"),
		"Rename":    m.Rename("/", "/x"),
	} {
		if err == nil {
			t.Errorf("%s of the root succeeded", name)
		}
	}
	if _, err := m.Stat("/"); err != nil {
		t.Fatalf("Stat of the root: %v", err)
	}
	if err := m.Rename("/f", "/missing/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("rename into a missing directory: %v", err)
	}
	if _, err := m.Create("/f/g"); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("create under a file: %v", err)
	}
	if info, err := file.Stat(); err != nil || info.Mode()&os.ModeType != 0 {
		t.Fatalf("Stat: %v %v", info, err)
	}
}

// TestCrashDirectoryInTwoPlaces builds, through renames synced on one side
// only, a durable state in which two directories contain each other, and
// checks that the crash keeps each directory in one place.
func TestCrashDirectoryInTwoPlaces(t *testing.T) {
	m := NewMem()
	for _, dir := range []string{"/a", "/b"} {
		if err := m.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	syncDirectory(t, m, "/")
	steps := []struct{ from, to, sync string }{
		{"/b", "/a/b", "/a"}, // durable: a contains b
		{"/a/b", "/b", ""},   // moved back, a not synced
		{"/a", "/b/a", "/b"}, // durable: b contains a
	}
	for _, step := range steps {
		if err := m.Rename(step.from, step.to); err != nil {
			t.Fatal(err)
		}
		if step.sync != "" {
			syncDirectory(t, m, step.sync)
		}
	}
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	got := dump(t, m, "/") // Terminates: no cycle.
	// The walk is depth first in sorted order: it reaches b first inside
	// a, so b's second place (the root) and a's (inside b) are dropped.
	if want := "/a/\n/a/b/\n"; got != want {
		t.Fatalf("tree after crash:\n%s\nwant:\n%s", got, want)
	}
}

// TestMemConcurrentUse drives one Mem, through Wrap, from several goroutines
// at once; run with -race it checks that the mutex covers every path.
func TestMemConcurrentUse(t *testing.T) {
	m := NewMem()
	injector, err := BitFlip(Kinds(OpRead), newRand(3))
	if err != nil {
		t.Fatal(err)
	}
	fsys := Wrap(m, Chain(EIO(All(Kinds(OpSync), OnIndex(5))), injector))
	if err := fsys.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 4, 50
	errs := make(chan error, workers)
	for worker := range workers {
		go func() {
			name := "/d/" + string(rune('a'+worker))
			file, err := fsys.Create(name)
			if err != nil {
				errs <- err
				return
			}
			buffer := make([]byte, 100)
			for round := range rounds {
				file.Write(fill(byte(round), 1000))
				file.ReadAt(buffer, int64(round*10))
				file.Sync() // One of them fails by injection.
				fsys.List("/d")
				m.UsedBytes()
			}
			errs <- file.Close()
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	checkInvariants(t, m, true)
	if used := m.UsedBytes(); used != workers*rounds*1000 {
		t.Fatalf("UsedBytes = %d", used)
	}
}

// TestTruncateMakesSparseFiles checks that extending a file costs no pages,
// so preallocating a large index file is cheap.
func TestTruncateMakesSparseFiles(t *testing.T) {
	m, file := newMemWithFile(t, nil)
	if err := file.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	mustWriteAt(t, file, []byte("end"), 1<<30-3)
	if err := file.Sync(); err != nil {
		t.Fatal(err)
	}
	data := &file.(*memFile).node.data
	allocated := 0
	for _, p := range data.current.pages {
		if p != nil {
			allocated++
		}
	}
	if allocated != 1 {
		t.Fatalf("%d pages allocated for one write", allocated)
	}
	got := make([]byte, 6)
	if n, err := file.ReadAt(got, 1<<30-6); n != 6 || err != nil || string(got) != "\x00\x00\x00end" {
		t.Fatalf("ReadAt = %d %v %q", n, err, got)
	}
	if used := m.UsedBytes(); used != 1<<30 {
		t.Fatalf("UsedBytes = %d: capacity counts sizes, sparse or not", used)
	}
}
