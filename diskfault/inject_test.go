package diskfault

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/bits"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// recorder is an Injector that injects nothing and remembers every Op.
type recorder struct {
	mu  sync.Mutex
	ops []Op
}

func (r *recorder) Inject(op Op) Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	return Fault{}
}

func TestWrapReportsEveryOperation(t *testing.T) {
	record := new(recorder)
	fsys := Wrap(NewMem(), record)
	if err := fsys.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	file, err := fsys.Create("/d/f")
	if err != nil {
		t.Fatal(err)
	}
	file.Write([]byte("hello"))
	file.Write([]byte("!!"))
	file.WriteAt([]byte("x"), 100)
	file.Read(make([]byte, 3)) // at offset 7, after the two Writes
	file.ReadAt(make([]byte, 4), 1)
	file.Truncate(50)
	file.Sync()
	file.Stat()
	file.Close()
	dir, _ := fsys.OpenDir("/d")
	dir.Sync()
	dir.Close()
	fsys.Rename("/d/f", "/d/g")
	fsys.List("/d")
	fsys.Stat("/d/g")
	readOnly, _ := fsys.Open("/d/g")
	readOnly.Close()
	readWrite, _ := fsys.OpenReadWrite("/d/g")
	readWrite.Close()
	fsys.Remove("/d/g")
	fsys.RemoveAll("/d")
	want := []Op{
		{Kind: OpMkdirAll, Path: "/d"},
		{Kind: OpCreate, Path: "/d/f"},
		{Kind: OpWrite, Path: "/d/f", Offset: 0, Length: 5},
		{Kind: OpWrite, Path: "/d/f", Offset: 5, Length: 2},
		{Kind: OpWrite, Path: "/d/f", Offset: 100, Length: 1},
		{Kind: OpRead, Path: "/d/f", Offset: 7, Length: 3},
		{Kind: OpRead, Path: "/d/f", Offset: 1, Length: 4},
		{Kind: OpTruncate, Path: "/d/f", Offset: 50},
		{Kind: OpSync, Path: "/d/f"},
		{Kind: OpStat, Path: "/d/f"},
		{Kind: OpClose, Path: "/d/f"},
		{Kind: OpOpenDir, Path: "/d"},
		{Kind: OpSyncDir, Path: "/d"},
		{Kind: OpClose, Path: "/d"},
		{Kind: OpRename, Path: "/d/f", NewPath: "/d/g"},
		{Kind: OpList, Path: "/d"},
		{Kind: OpStat, Path: "/d/g"},
		{Kind: OpOpen, Path: "/d/g"},
		{Kind: OpClose, Path: "/d/g"},
		{Kind: OpOpenReadWrite, Path: "/d/g"},
		{Kind: OpClose, Path: "/d/g"},
		{Kind: OpRemove, Path: "/d/g"},
		{Kind: OpRemoveAll, Path: "/d"},
	}
	if !slices.Equal(record.ops, want) {
		t.Fatalf("ops seen:\n%v\nwant:\n%v", record.ops, want)
	}
}

// TestInjectorHitsExactlyItsTarget fails the third write under /data/ and
// checks that nothing else fails and that the failed write wrote nothing.
func TestInjectorHitsExactlyItsTarget(t *testing.T) {
	m := NewMem()
	counter := NewCounter(EIO(All(Kinds(OpWrite), PathPrefix("/data/"), OnIndex(2))))
	fsys := Wrap(m, counter)
	for _, dir := range []string{"/data", "/other"} {
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dataFile, err := fsys.Create("/data/log")
	if err != nil {
		t.Fatal(err)
	}
	otherFile, err := fsys.Create("/other/log")
	if err != nil {
		t.Fatal(err)
	}
	var failures []int
	for i := range 6 {
		if _, err := otherFile.Write([]byte{byte(i)}); err != nil {
			t.Fatalf("write %d outside the prefix failed: %v", i, err)
		}
		if _, err := dataFile.ReadAt(make([]byte, 1), 0); err != nil && err != io.EOF {
			t.Fatalf("read %d failed: %v", i, err)
		}
		if _, err := dataFile.Write([]byte{byte(i)}); err != nil {
			if !errors.Is(err, syscall.EIO) || !errors.Is(err, ErrInjected) {
				t.Fatalf("injected error %v does not match EIO and ErrInjected", err)
			}
			failures = append(failures, i)
		}
	}
	if !slices.Equal(failures, []int{2}) || counter.Count() != 1 {
		t.Fatalf("failed writes %v, count %d; want exactly write 2", failures, counter.Count())
	}
	if got := readFile(t, m, "/data/log"); !bytes.Equal(got, []byte{0, 1, 3, 4, 5}) {
		t.Fatalf("content %v: the failed write must not have reached the disk", got)
	}
}

func TestEIOOnSyncLeavesDataUnsynced(t *testing.T) {
	m, file := newMemWithFile(t, nil)
	file.Close()
	fsys := Wrap(m, EIO(All(Kinds(OpSync), OnIndex(0))))
	wrapped, err := fsys.OpenReadWrite("/f")
	if err != nil {
		t.Fatal(err)
	}
	wrapped.Write([]byte("doubt"))
	if err := wrapped.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync = %v, want EIO", err)
	}
	// The data is still readable and still unsynced.
	if got := readFile(t, m, "/f"); string(got) != "doubt" {
		t.Fatalf("after failed Sync: %q", got)
	}
	if err := wrapped.Sync(); err != nil { // OnIndex(0) fired already.
		t.Fatal(err)
	}
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if got := readFile(t, m, "/f"); string(got) != "doubt" {
		t.Fatalf("a successful retry of Sync must persist what EIO left unsynced: %q", got)
	}
}

func TestWritebackErrorLosesData(t *testing.T) {
	m, file := newMemWithFile(t, []byte("old"))
	file.Close()
	// Two layers, to check that the loss reaches Mem through both.
	fsys := Wrap(Wrap(m, nil), WritebackError(OnIndex(0)))
	wrapped, err := fsys.OpenReadWrite("/f")
	if err != nil {
		t.Fatal(err)
	}
	wrapped.Write([]byte("NEWDATA"))
	if err := wrapped.Sync(); !errors.Is(err, syscall.EIO) || !errors.Is(err, ErrInjected) {
		t.Fatalf("Sync = %v, want injected EIO", err)
	}
	want := []byte("old\x00\x00\x00\x00")
	if got := readFile(t, m, "/f"); !bytes.Equal(got, want) {
		t.Fatalf("after a writeback error: %q, want %q", got, want)
	}
	if err := wrapped.Sync(); err != nil {
		t.Fatal(err)
	}
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepAlways})
	if got := readFile(t, m, "/f"); !bytes.Equal(got, want) {
		t.Fatalf("after crash: %q, want %q", got, want)
	}
}

func TestENOSPCWritesNothing(t *testing.T) {
	m := NewMem()
	fsys := Wrap(m, ENOSPC(All(Kinds(OpWrite), OnIndex(1))))
	file, err := fsys.Create("/f")
	if err != nil {
		t.Fatal(err)
	}
	file.Write([]byte("ab"))
	n, err := file.Write([]byte("cd"))
	if n != 0 || !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrInjected) {
		t.Fatalf("Write = %d %v, want 0 and injected ENOSPC", n, err)
	}
	file.Write([]byte("ef")) // The offset did not advance past the failure.
	if got := readFile(t, m, "/f"); string(got) != "abef" {
		t.Fatalf("content %q", got)
	}
}

func TestBitFlipCorruptsOneBitOfTheReadOnly(t *testing.T) {
	m := NewMem()
	stored := fill(0x5a, 3*pageBytes)
	writeFile(t, m, "/f", stored)
	flipOne := func(seed uint64) []byte {
		injector, err := BitFlip(All(), newRand(seed))
		if err != nil {
			t.Fatal(err)
		}
		file, err := Wrap(m, injector).Open("/f")
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		got := make([]byte, len(stored))
		if n, err := file.ReadAt(got, 0); n != len(got) || err != nil {
			t.Fatalf("ReadAt = %d %v", n, err)
		}
		return got
	}
	positions := make(map[int]bool)
	for seed := uint64(0); seed < 20; seed++ {
		got := flipOne(seed)
		differentBits, position := 0, -1
		for i := range got {
			if d := bits.OnesCount8(got[i] ^ stored[i]); d > 0 {
				differentBits += d
				position = i
			}
		}
		if differentBits != 1 {
			t.Fatalf("seed %d: %d bits differ, want 1", seed, differentBits)
		}
		positions[position] = true
		if again := flipOne(seed); !bytes.Equal(again, got) {
			t.Fatalf("seed %d: same seed flipped a different bit", seed)
		}
	}
	if len(positions) < 10 {
		t.Fatalf("20 seeds flipped only %d distinct bytes", len(positions))
	}
	if got := readFile(t, m, "/f"); !bytes.Equal(got, stored) {
		t.Fatal("a bit flip on read changed the stored data")
	}
	// Writes are not reads: BitFlip ignores them.
	injector, _ := BitFlip(All(), newRand(1))
	if fault := injector.Inject(Op{Kind: OpWrite}); fault.Injected() {
		t.Fatal("BitFlip injected into a write")
	}
}

func TestRandomlyUsesIntegerRatio(t *testing.T) {
	hits := func(numerator, denominator uint64) int {
		p, err := Randomly(numerator, denominator, newRand(42))
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for range 4000 {
			if p.Match(Op{}) {
				count++
			}
		}
		return count
	}
	if got := hits(0, 5); got != 0 {
		t.Fatalf("0/5 matched %d times", got)
	}
	if got := hits(5, 5); got != 4000 {
		t.Fatalf("5/5 matched %d of 4000", got)
	}
	if got := hits(1, 4); got < 850 || got > 1150 {
		t.Fatalf("1/4 matched %d of 4000", got)
	}
	if hits(1, 4) != hits(1, 4) {
		t.Fatal("same seed, different outcome")
	}
	for _, bad := range [][2]uint64{{1, 0}, {3, 2}} {
		if _, err := Randomly(bad[0], bad[1], newRand(1)); err == nil {
			t.Fatalf("Randomly(%d, %d) accepted", bad[0], bad[1])
		}
	}
	if _, err := Randomly(1, 2, nil); err == nil {
		t.Fatal("Randomly with nil rng accepted")
	}
	if _, err := BitFlip(All(), nil); err == nil {
		t.Fatal("BitFlip with nil rng accepted")
	}
}

func TestToggleSwitchesFaults(t *testing.T) {
	m := NewMem()
	toggle := new(Toggle)
	fsys := Wrap(m, EIO(All(toggle, Kinds(OpCreate))))
	create := func() error {
		file, err := fsys.Create("/f")
		if err == nil {
			file.Close()
		}
		return err
	}
	if err := create(); err != nil {
		t.Fatalf("disabled toggle injected: %v", err)
	}
	toggle.Enable()
	if err := create(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("enabled toggle: %v", err)
	}
	toggle.Disable()
	if err := create(); err != nil || toggle.Enabled() {
		t.Fatalf("disabled again: %v", err)
	}
}

func TestPredicateCombinators(t *testing.T) {
	write := Op{Kind: OpWrite, Path: "/a/x"}
	read := Op{Kind: OpRead, Path: "/b/x"}
	rename := Op{Kind: OpRename, Path: "/b/x", NewPath: "/a/y"}
	cases := []struct {
		name      string
		predicate Predicate
		op        Op
		want      bool
	}{
		{"All() matches", All(), read, true},
		{"Any() does not", Any(), read, false},
		{"kind", Kinds(OpWrite, OpSync), write, true},
		{"other kind", Kinds(OpWrite, OpSync), read, false},
		{"invalid kind ignored", Kinds(OpKind(200)), Op{Kind: OpKind(200)}, false},
		{"prefix", PathPrefix("/a/"), write, true},
		{"prefix misses", PathPrefix("/a/"), read, false},
		{"prefix on rename destination", PathPrefix("/a/"), rename, true},
		{"all", All(Kinds(OpWrite), PathPrefix("/a")), write, true},
		{"all fails", All(Kinds(OpWrite), PathPrefix("/b")), write, false},
		{"any", Any(Kinds(OpRead), PathPrefix("/a")), write, true},
		{"not", Not(Kinds(OpRead)), write, true},
		{"nil in All", All(nil), write, false},
		{"nil in Any", Any(nil), write, false},
	}
	for _, c := range cases {
		if got := c.predicate.Match(c.op); got != c.want {
			t.Errorf("%s: Match(%v) = %v", c.name, c.op, got)
		}
	}
	if EIO(nil).Inject(write).Injected() {
		t.Error("EIO(nil) injected")
	}
}

func TestChainFirstFaultWins(t *testing.T) {
	first := NewCounter(Errno(syscall.EROFS, Kinds(OpWrite)))
	second := NewCounter(EIO(All()))
	chain := Chain(nil, first, second)
	if fault := chain.Inject(Op{Kind: OpWrite}); !errors.Is(fault.Err, syscall.EROFS) {
		t.Fatalf("write: %v", fault.Err)
	}
	if fault := chain.Inject(Op{Kind: OpRead}); !errors.Is(fault.Err, syscall.EIO) {
		t.Fatalf("read: %v", fault.Err)
	}
	if first.Count() != 1 || second.Count() != 1 {
		t.Fatalf("counts %d %d", first.Count(), second.Count())
	}
}

func TestDirectorySyncIsItsOwnKind(t *testing.T) {
	m := NewMem()
	fsys := Wrap(m, EIO(Kinds(OpSyncDir)))
	writeFile(t, fsys, "/f", []byte("x")) // File Sync is not hit.
	dir, err := fsys.OpenDir("/")
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("directory Sync: %v", err)
	}
	dir.Close()
	crashWith(t, m, CrashOptions{KeepUnsynced: KeepNever})
	if _, err := m.Stat("/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a failed directory Sync made its entries durable")
	}
}

func TestInjectedCloseStillCloses(t *testing.T) {
	m := NewMem()
	fsys := Wrap(m, EIO(Kinds(OpClose)))
	file, err := fsys.Create("/f")
	if err != nil {
		t.Fatal(err)
	}
	file.Write(fill('x', 100))
	if err := m.Remove("/f"); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Close = %v", err)
	}
	if used := m.UsedBytes(); used != 0 {
		t.Fatalf("the orphan still holds %d bytes: Close did not reach Mem", used)
	}
}

func TestWrapNilFSFailsWithoutPanic(t *testing.T) {
	fsys := Wrap(nil, nil)
	if _, err := fsys.Create("/f"); err == nil {
		t.Error("Create")
	}
	if _, err := fsys.OpenDir("/"); err == nil {
		t.Error("OpenDir")
	}
	if err := fsys.Rename("/a", "/b"); err == nil {
		t.Error("Rename")
	}
	if _, err := fsys.List("/"); err == nil {
		t.Error("List")
	}
}

func TestOpStrings(t *testing.T) {
	for kind := OpCreate; kind < opKindEnd; kind++ {
		if name := kind.String(); name == "" || name[0] == 'O' {
			t.Errorf("kind %d has no name", kind)
		}
	}
	if got := OpKind(0).String(); got != "OpKind(0)" {
		t.Errorf("zero kind: %q", got)
	}
	if got := (Op{Kind: OpWrite, Path: "/f", Offset: 3, Length: 4}).String(); got != "write /f offset=3 length=4" {
		t.Errorf("Op.String = %q", got)
	}
}
