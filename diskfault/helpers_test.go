package diskfault

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
)

// fataler is what the helpers need of a test: both *testing.T and
// *rapid.T provide it.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// newRand returns a seeded source for tests; every test names its seed so
// that a failure replays.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// writeFile creates name with data and syncs the file (not its directory).
func writeFile(t fataler, fsys FS, name string, data []byte) {
	t.Helper()
	file, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := file.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
}

// syncDirectory syncs dir's entries.
func syncDirectory(t fataler, fsys FS, dir string) {
	t.Helper()
	handle, err := fsys.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := handle.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := handle.Close(); err != nil {
		t.Fatal(err)
	}
}

// readFile returns the whole content of name.
func readFile(t fataler, fsys FS, name string) []byte {
	t.Helper()
	file, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func fill(value byte, sizeBytes int) []byte {
	return bytes.Repeat([]byte{value}, sizeBytes)
}

// dump describes every directory and file under dir, in sorted order, with
// a digest of each file's content: two equal dumps are equal trees.
func dump(t fataler, fsys FS, dir string) string {
	t.Helper()
	var out strings.Builder
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fsys.List(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			full := path.Join(dir, name)
			info, err := fsys.Stat(full)
			if err != nil {
				t.Fatal(err)
			}
			if info.IsDir() {
				fmt.Fprintf(&out, "%s/\n", full)
				walk(full)
				continue
			}
			fmt.Fprintf(&out, "%s %d %x\n", full, info.Size(), sha256.Sum256(readFile(t, fsys, full)))
		}
	}
	walk(dir)
	return out.String()
}

// checkInvariants verifies Mem's internal bookkeeping. With noOrphans, it
// also checks usedBytes, which then must be the size of the reachable files.
func checkInvariants(t fataler, m *Mem, noOrphans bool) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var usedBytes int64
	visited := make(map[*node]bool)
	var walk func(directory *node, where string)
	walk = func(directory *node, where string) {
		replayed := maps.Clone(directory.durableEntries)
		for _, change := range directory.changes {
			if change.target == nil {
				delete(replayed, change.name)
			} else {
				replayed[change.name] = change.target
			}
		}
		if !maps.Equal(replayed, directory.entries) {
			t.Fatalf("%s: durable entries plus changes %v != entries %v",
				where, slices.Sorted(maps.Keys(replayed)), slices.Sorted(maps.Keys(directory.entries)))
		}
		if _, ok := m.changedDirectories[directory]; len(directory.changes) > 0 && !ok {
			t.Fatalf("%s: changes but not in changedDirectories", where)
		}
		for _, name := range slices.Sorted(maps.Keys(directory.entries)) {
			child := directory.entries[name]
			if visited[child] {
				continue
			}
			visited[child] = true
			if child.directory {
				walk(child, where+"/"+name)
				continue
			}
			usedBytes += child.data.size()
			checkFileData(t, where+"/"+name, &child.data)
		}
	}
	walk(m.root, "")
	if noOrphans && usedBytes != m.usedBytes {
		t.Fatalf("usedBytes = %d, reachable files hold %d", m.usedBytes, usedBytes)
	}
}

// checkFileData checks the invariants of both images, and that they differ
// below stableBytes only in dirty pages.
func checkFileData(t fataler, where string, d *fileData) {
	t.Helper()
	checkImage(t, where+" current", &d.current)
	checkImage(t, where+" durable", &d.durable)
	if d.stableBytes > d.current.sizeBytes || d.stableBytes > d.durable.sizeBytes {
		t.Fatalf("%s: stableBytes %d beyond current %d or durable %d",
			where, d.stableBytes, d.current.sizeBytes, d.durable.sizeBytes)
	}
	current, durable := d.current.bytes(), d.durable.bytes()
	for start := int64(0); start < d.stableBytes; start += pageBytes {
		if _, dirty := d.dirtyPages[start/pageBytes]; dirty {
			continue
		}
		end := min(start+pageBytes, d.stableBytes)
		if !bytes.Equal(current[start:end], durable[start:end]) {
			t.Fatalf("%s: clean page %d differs between current and durable", where, start/pageBytes)
		}
	}
}

func checkImage(t fataler, where string, im *image) {
	t.Helper()
	if int64(len(im.pages)) != pagesFor(im.sizeBytes) {
		t.Fatalf("%s: %d pages for %d bytes", where, len(im.pages), im.sizeBytes)
	}
	if within := im.sizeBytes % pageBytes; within != 0 {
		if last := im.pages[len(im.pages)-1]; last != nil && !bytes.Equal(last[within:], make([]byte, pageBytes-within)) {
			t.Fatalf("%s: bytes past the size are not zero", where)
		}
	}
}

// bytes returns the whole image.
func (im *image) bytes() []byte {
	data := make([]byte, im.sizeBytes)
	im.readAt(data, 0)
	return data
}
