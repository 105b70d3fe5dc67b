package diskfault

import (
	"testing"
)

// BenchmarkMemAppendSync is the log's pattern: 64 KiB appends with a Sync
// every 1 MiB. Sync must cost what was appended, not the file's size.
func BenchmarkMemAppendSync(b *testing.B) {
	const writeBytes, syncEveryBytes = 64 << 10, 1 << 20
	data := fill('x', writeBytes)
	m := NewMem()
	file, err := m.Create("/segment")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(writeBytes)
	written := 0
	for b.Loop() {
		if written+writeBytes > 256<<20 { // Roll the segment, as a log does.
			file.Close()
			if file, err = m.Create("/segment"); err != nil {
				b.Fatal(err)
			}
			written = 0
		}
		if _, err := file.Write(data); err != nil {
			b.Fatal(err)
		}
		written += writeBytes
		if written%syncEveryBytes == 0 {
			if err := file.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMemOverwriteSync rewrites one 4 KiB page of a 64 MiB file and
// syncs: the cost must not grow with the file.
func BenchmarkMemOverwriteSync(b *testing.B) {
	m := NewMem()
	file, err := m.Create("/index")
	if err != nil {
		b.Fatal(err)
	}
	if err := file.Truncate(64 << 20); err != nil {
		b.Fatal(err)
	}
	file.Sync()
	page := fill('p', pageBytes)
	rng := newRand(1)
	b.SetBytes(pageBytes)
	for b.Loop() {
		if _, err := file.WriteAt(page, rng.Int64N(64<<20-pageBytes)); err != nil {
			b.Fatal(err)
		}
		if err := file.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemCrash crashes a filesystem holding 64 MiB synced and 8 MiB
// unsynced in each of four files.
func BenchmarkMemCrash(b *testing.B) {
	m := NewMem()
	files := make([]File, 4)
	for i := range files {
		file, err := m.Create("/f" + string(rune('0'+i)))
		if err != nil {
			b.Fatal(err)
		}
		files[i] = file
	}
	syncDirectory(b, m, "/")
	synced, unsynced := fill('s', 64<<20), fill('u', 8<<20)
	rng := newRand(1)
	for b.Loop() {
		b.StopTimer()
		for i := range files {
			file, err := m.OpenReadWrite("/f" + string(rune('0'+i)))
			if err != nil {
				b.Fatal(err)
			}
			file.WriteAt(synced, 0)
			file.Sync()
			file.WriteAt(unsynced, int64(len(synced)))
		}
		b.StartTimer()
		m.Crash(rng)
	}
}
