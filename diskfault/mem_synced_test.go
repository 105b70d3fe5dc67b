package diskfault

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"path"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// syncedDump is dump of the synced view.
func syncedDump(t fataler, m *Mem, dir string) string {
	var out strings.Builder
	var walk func(dir string)
	walk = func(dir string) {
		names, err := m.SyncedList(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			full := path.Join(dir, name)
			if _, err := m.SyncedList(full); err == nil {
				fmt.Fprintf(&out, "%s/\n", full)
				walk(full)
				continue
			}
			data, err := m.SyncedFile(full)
			if err != nil {
				t.Fatal(err)
			}
			// SyncedReadAt reads the same bytes, a page and a bit at a time.
			for offset := 0; offset <= len(data); offset += pageBytes + 7 {
				chunk := make([]byte, pageBytes/2)
				n, err := m.SyncedReadAt(full, chunk, int64(offset))
				if err != nil || n != min(len(chunk), len(data)-offset) || !bytes.Equal(chunk[:n], data[offset:offset+n]) {
					t.Fatalf("%s: SyncedReadAt at %d read %d bytes (%v), unlike SyncedFile", full, offset, n, err)
				}
			}
			fmt.Fprintf(&out, "%s %d %x\n", full, len(data), sha256.Sum256(data))
		}
	}
	walk(dir)
	return out.String()
}

// TestPropertySyncedViewIsWhatKeepNeverLeaves: after random creates,
// writes, truncations, renames, removes and file and directory syncs in
// two directories, the synced view must be exactly what a KeepNever crash
// leaves, and reading it must change nothing the process sees.
func TestPropertySyncedViewIsWhatKeepNeverLeaves(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := NewMem()
		if err := m.MkdirAll("/d/e", 0o755); err != nil {
			t.Fatal(err)
		}
		if rapid.Bool().Draw(t, "sync tree") {
			syncDirectory(t, m, "/")
			syncDirectory(t, m, "/d")
		}
		dirs := []string{"/d", "/d/e"}
		names := []string{"a", "b", "c"}
		pick := func(t *rapid.T, label string) string {
			return path.Join(rapid.SampledFrom(dirs).Draw(t, label+" dir"), rapid.SampledFrom(names).Draw(t, label))
		}
		t.Repeat(map[string]func(*rapid.T){
			"write": func(t *rapid.T) {
				name := pick(t, "file")
				f, err := m.OpenReadWrite(name)
				if err != nil {
					f, err = m.Create(name)
				}
				if err != nil {
					t.Fatal(err)
				}
				data := fill(rapid.Byte().Draw(t, "value"), rapid.IntRange(1, 2*pageBytes).Draw(t, "length"))
				if _, err := f.WriteAt(data, int64(rapid.IntRange(0, 3*pageBytes).Draw(t, "offset"))); err != nil {
					t.Fatal(err)
				}
				if rapid.IntRange(0, 2).Draw(t, "truncate") == 0 {
					if err := f.Truncate(int64(rapid.IntRange(0, 4*pageBytes).Draw(t, "size"))); err != nil {
						t.Fatal(err)
					}
				}
				if rapid.Bool().Draw(t, "sync") {
					if err := f.Sync(); err != nil {
						t.Fatal(err)
					}
				}
				f.Close()
			},
			"rename": func(t *rapid.T) {
				m.Rename(pick(t, "from"), pick(t, "to")) // a missing source is fine
			},
			"remove": func(t *rapid.T) {
				m.Remove(pick(t, "file"))
			},
			"sync directory": func(t *rapid.T) {
				syncDirectory(t, m, rapid.SampledFrom(append([]string{"/"}, dirs...)).Draw(t, "dir"))
			},
			"": func(t *rapid.T) {
				current := dump(t, m, "/")
				synced := syncedDump(t, m, "/")
				if again := syncedDump(t, m, "/"); again != synced {
					t.Fatalf("the synced view changed on a second read:\n%s\nthen\n%s", synced, again)
				}
				if after := dump(t, m, "/"); after != current {
					t.Fatalf("reading the synced view changed what the process sees:\n%s\nthen\n%s", current, after)
				}
				checkInvariants(t, m, false)
			},
		})
		synced := syncedDump(t, m, "/")
		if err := m.CrashWith(CrashOptions{KeepUnsynced: KeepNever}); err != nil {
			t.Fatal(err)
		}
		if got := dump(t, m, "/"); got != synced {
			t.Fatalf("a KeepNever crash left\n%s\nbut the synced view said\n%s", got, synced)
		}
	})
}
