package storage

import (
	"strconv"
	"testing"

	"cairn/core/batch"
	"cairn/diskfault"
)

// Benchmarks run on the real filesystem: 1 KiB records in 64 KiB batches.
const (
	benchmarkRecords     = 63
	benchmarkRecordBytes = 1024
	benchmarkReadBytes   = 1 << 20
)

func benchmarkBatch() []byte {
	return simpleBatch(0, benchmarkRecords, benchmarkRecordBytes, testEpoch.UnixMilli())
}

func openBenchmarkLog(b *testing.B) *Log {
	b.Helper()
	l, err := Open(diskfault.OS{}, b.TempDir(), DefaultConfig(), testEpoch)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// BenchmarkAppend appends to the page cache, no syncs: the log's own cost
// plus pwrite.
func BenchmarkAppend(b *testing.B) {
	l := openBenchmarkLog(b)
	buffer := benchmarkBatch()
	b.SetBytes(int64(len(buffer)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.SetBaseOffset(buffer, l.NextOffset())
		if err := l.Append(buffer, testEpoch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendGroupCommit syncs after every 16 batches (1 MiB), as a
// broker's group commit might under load.
func BenchmarkAppendGroupCommit(b *testing.B) {
	l := openBenchmarkLog(b)
	buffer := benchmarkBatch()
	b.SetBytes(int64(len(buffer)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.SetBaseOffset(buffer, l.NextOffset())
		if err := l.Append(buffer, testEpoch); err != nil {
			b.Fatal(err)
		}
		if i%16 == 15 {
			syncNow(b, l)
		}
	}
}

// fillBenchmarkLog appends 64 MiB of batches of the given number of 1 KiB
// records.
func fillBenchmarkLog(b *testing.B, records int) *Log {
	l := openBenchmarkLog(b)
	buffer := simpleBatch(0, records, benchmarkRecordBytes, testEpoch.UnixMilli())
	for l.SizeBytes() < 64<<20 {
		batch.SetBaseOffset(buffer, l.NextOffset())
		if err := l.Append(buffer, testEpoch); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// BenchmarkRead reads the log front to back in 1 MiB fetches, as a
// consumer or follower does: Read, then ReadInto (copy and CRC check).
func BenchmarkRead(b *testing.B) {
	l := fillBenchmarkLog(b, benchmarkRecords)
	destination := make([]byte, 0, 2*benchmarkReadBytes)
	b.SetBytes(benchmarkReadBytes)
	b.ReportAllocs()
	b.ResetTimer()
	offset := int64(0)
	for i := 0; i < b.N; i++ {
		r, err := l.Read(offset, benchmarkReadBytes, l.NextOffset())
		if err != nil {
			b.Fatal(err)
		}
		if destination, err = ReadInto(destination[:0], r); err != nil {
			b.Fatal(err)
		}
		if offset = r.NextOffset; offset == l.NextOffset() {
			offset = 0
		}
	}
}

// BenchmarkReadLocate measures Read alone (no bytes copied) at random
// offsets, so every call does the index lookup and the header walk: with
// 64 KiB batches every batch is indexed; with 1 KiB batches the walk covers
// up to IndexIntervalBytes (4 KiB) of headers, read in one window.
func BenchmarkReadLocate(b *testing.B) {
	for _, records := range []int{benchmarkRecords, 1} {
		b.Run(strconv.Itoa(records)+"-records", func(b *testing.B) {
			l := fillBenchmarkLog(b, records)
			rng := newRand(1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Read(rng.Int64N(l.NextOffset()), benchmarkReadBytes, l.NextOffset()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
