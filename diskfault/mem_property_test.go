package diskfault

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// fileModel is the test's idea of one file: its content as last synced and
// as last written, kept as plain full copies.
type fileModel struct {
	durable []byte
	current []byte
}

// sectorOf returns bytes [start, end) of image, reading zeros past its end.
func sectorOf(image []byte, start, end int) []byte {
	sector := make([]byte, end-start)
	if start < len(image) {
		copy(sector, image[start:min(end, len(image))])
	}
	return sector
}

// checkSurvivor checks one file after a crash against its model: the size
// lies between the synced and the written size, and each 512 B sector is
// wholly the synced or wholly the written content (zeros past either's end).
func checkSurvivor(t *rapid.T, name string, got []byte, model *fileModel, keep Keep) {
	switch keep {
	case KeepNever:
		if !bytes.Equal(got, model.durable) {
			t.Fatalf("%s: KeepNever: got %d bytes, not the %d synced ones", name, len(got), len(model.durable))
		}
	case KeepAlways:
		if !bytes.Equal(got, model.current) {
			t.Fatalf("%s: KeepAlways: got %d bytes, not the %d written ones", name, len(got), len(model.current))
		}
	}
	low := min(len(model.durable), len(model.current))
	high := max(len(model.durable), len(model.current))
	if len(got) < low || len(got) > high {
		t.Fatalf("%s: size %d outside [%d, %d]", name, len(got), low, high)
	}
	for start := 0; start < len(got); start += sectorBytes {
		end := min(start+sectorBytes, len(got))
		sector := got[start:end]
		if !bytes.Equal(sector, sectorOf(model.durable, start, end)) &&
			!bytes.Equal(sector, sectorOf(model.current, start, end)) {
			t.Fatalf("%s: sector at %d is neither synced nor written content", name, start)
		}
	}
}

var keepPolicies = []Keep{KeepNever, KeepAlways, KeepRandom}

// TestPropertyCrashKeepsSyncedOrWrittenSectors runs random writes,
// truncations, syncs and crashes against two files and a simple model.
func TestPropertyCrashKeepsSyncedOrWrittenSectors(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := NewMem()
		rng := newRand(rapid.Uint64().Draw(t, "seed"))
		names := []string{"/f0", "/f1"}
		models := make([]*fileModel, len(names))
		handles := make([]File, len(names))
		reopen := func() {
			for i, name := range names {
				file, err := m.OpenReadWrite(name)
				if err != nil {
					t.Fatal(err)
				}
				handles[i] = file
			}
		}
		for i, name := range names {
			writeFile(t, m, name, nil)
			models[i] = &fileModel{}
		}
		syncDirectory(t, m, "/")
		reopen()

		t.Repeat(map[string]func(*rapid.T){
			"write": func(t *rapid.T) {
				i := rapid.IntRange(0, len(names)-1).Draw(t, "file")
				offset := rapid.IntRange(0, 6*pageBytes).Draw(t, "offset")
				length := rapid.IntRange(1, 3*pageBytes).Draw(t, "length")
				value := rapid.Byte().Draw(t, "value")
				data := make([]byte, length)
				for k := range data {
					data[k] = value ^ byte(k) // Position-dependent: a misplaced copy shows.
				}
				if _, err := handles[i].WriteAt(data, int64(offset)); err != nil {
					t.Fatal(err)
				}
				model := models[i]
				if end := offset + length; end > len(model.current) {
					model.current = append(model.current, make([]byte, end-len(model.current))...)
				}
				copy(model.current[offset:], data)
			},
			"truncate": func(t *rapid.T) {
				i := rapid.IntRange(0, len(names)-1).Draw(t, "file")
				size := rapid.IntRange(0, 7*pageBytes).Draw(t, "size")
				if err := handles[i].Truncate(int64(size)); err != nil {
					t.Fatal(err)
				}
				model := models[i]
				if size <= len(model.current) {
					model.current = model.current[:size]
				} else {
					model.current = append(model.current, make([]byte, size-len(model.current))...)
				}
			},
			"sync": func(t *rapid.T) {
				i := rapid.IntRange(0, len(names)-1).Draw(t, "file")
				if err := handles[i].Sync(); err != nil {
					t.Fatal(err)
				}
				models[i].durable = bytes.Clone(models[i].current)
			},
			"crash": func(t *rapid.T) {
				keep := rapid.SampledFrom(keepPolicies).Draw(t, "keep")
				if err := m.CrashWith(CrashOptions{KeepUnsynced: keep, Rand: rng}); err != nil {
					t.Fatal(err)
				}
				for i, name := range names {
					got := readFile(t, m, name)
					checkSurvivor(t, name, got, models[i], keep)
					models[i] = &fileModel{durable: got, current: bytes.Clone(got)}
				}
				reopen()
			},
			"": func(t *rapid.T) {
				checkInvariants(t, m, true)
				for i, name := range names {
					if got := readFile(t, m, name); !bytes.Equal(got, models[i].current) {
						t.Fatalf("%s reads back %d bytes unlike the %d written", name, len(got), len(models[i].current))
					}
				}
			},
		})
	})
}

// directoryState maps each name in a directory to the identity of its file.
type directoryState map[string]int

// TestPropertyCrashKeepsPrefixOfDirectoryChanges runs random creates,
// removes, renames, directory syncs and crashes in one directory: after a
// crash its entries must be the synced ones with a prefix of the later
// changes applied (all of them for KeepAlways, none for KeepNever).
func TestPropertyCrashKeepsPrefixOfDirectoryChanges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := NewMem()
		rng := newRand(rapid.Uint64().Draw(t, "seed"))
		if err := m.MkdirAll("/d", 0o755); err != nil {
			t.Fatal(err)
		}
		syncDirectory(t, m, "/")
		nameGenerator := rapid.SampledFrom([]string{"a", "b", "c", "d"})
		durable, current := directoryState{}, directoryState{}
		var history []directoryState // current after each unsynced change
		contents := map[int]string{} // file identity → its synced content
		nextIdentity, version := 0, 0

		changed := func() { history = append(history, maps.Clone(current)) }
		t.Repeat(map[string]func(*rapid.T){
			"create": func(t *rapid.T) {
				name := nameGenerator.Draw(t, "name")
				identity, exists := current[name]
				if !exists {
					identity = nextIdentity
					nextIdentity++
				}
				version++
				content := fmt.Sprintf("file %d version %d", identity, version)
				writeFile(t, m, "/d/"+name, []byte(content)) // Data synced.
				contents[identity] = content
				if !exists { // Truncating an existing file is no directory change.
					current[name] = identity
					changed()
				}
			},
			"remove": func(t *rapid.T) {
				name := nameGenerator.Draw(t, "name")
				if _, exists := current[name]; !exists {
					t.Skip("nothing to remove")
				}
				if err := m.Remove("/d/" + name); err != nil {
					t.Fatal(err)
				}
				delete(current, name)
				changed()
			},
			"rename": func(t *rapid.T) {
				from, to := nameGenerator.Draw(t, "from"), nameGenerator.Draw(t, "to")
				if _, exists := current[from]; !exists || from == to {
					t.Skip("nothing to rename")
				}
				if err := m.Rename("/d/"+from, "/d/"+to); err != nil {
					t.Fatal(err)
				}
				current[to] = current[from]
				delete(current, from)
				changed()
			},
			"syncdir": func(t *rapid.T) {
				syncDirectory(t, m, "/d")
				durable, history = maps.Clone(current), nil
			},
			"crash": func(t *rapid.T) {
				keep := rapid.SampledFrom(keepPolicies).Draw(t, "keep")
				if err := m.CrashWith(CrashOptions{KeepUnsynced: keep, Rand: rng}); err != nil {
					t.Fatal(err)
				}
				candidates := append([]directoryState{durable}, history...)
				switch keep {
				case KeepNever:
					candidates = candidates[:1]
				case KeepAlways:
					candidates = candidates[len(candidates)-1:]
				}
				observed := observeDirectory(t, m, "/d")
				for _, candidate := range candidates {
					if directoryMatches(observed, candidate, contents) {
						durable, current, history = maps.Clone(candidate), maps.Clone(candidate), nil
						return
					}
				}
				t.Fatalf("%v: entries %v match no allowed state %v", keep, observed, candidates)
			},
			"": func(t *rapid.T) {
				checkInvariants(t, m, true)
			},
		})
	})
}

// observeDirectory maps each name in dir to its content.
func observeDirectory(t *rapid.T, m *Mem, dir string) map[string]string {
	names, err := m.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	observed := make(map[string]string, len(names))
	for _, name := range names {
		observed[name] = string(readFile(t, m, dir+"/"+name))
	}
	return observed
}

func directoryMatches(observed map[string]string, state directoryState, contents map[int]string) bool {
	if !slices.Equal(slices.Sorted(maps.Keys(observed)), slices.Sorted(maps.Keys(state))) {
		return false
	}
	for name, identity := range state {
		if observed[name] != contents[identity] {
			return false
		}
	}
	return true
}
