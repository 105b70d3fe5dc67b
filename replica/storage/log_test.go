package storage

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"cairn/core/batch"
	"cairn/diskfault"
)

// smallConfig rolls often and indexes densely enough that every test
// crosses segments and index entries.
var smallConfig = Config{SegmentBytesMax: 4000, IndexIntervalBytes: 300, SegmentAgeMax: time.Hour}

func TestAppendReadReopen(t *testing.T) {
	mem := diskfault.NewMem()
	l := mustOpen(t, mem, smallConfig)
	want := appendBatches(t, l, 60, 3, 40)
	if l.SegmentCount() < 3 {
		t.Fatalf("expected rolls, have %d segments", l.SegmentCount())
	}
	if got := readAll(t, l, 1<<20); !sameBatches(got, want) {
		t.Fatalf("read back %d batches, want %d", len(got), len(want))
	}
	if got := readAll(t, l, 1); !sameBatches(got, want) {
		t.Fatal("batch-at-a-time read differs")
	}
	if l.DurableOffset() != 0 {
		t.Fatalf("durable %d before any sync", l.DurableOffset())
	}
	syncNow(t, l)
	if l.DurableOffset() != l.NextOffset() {
		t.Fatalf("durable %d after sync, next %d", l.DurableOffset(), l.NextOffset())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		l = mustOpen(t, mem, smallConfig)
		if got := readAll(t, l, 1000); !sameBatches(got, want) {
			t.Fatalf("round %d: reopened log differs: %d batches, want %d", round, len(got), len(want))
		}
		if l.DurableOffset() != l.NextOffset() || l.SizeBytes() != totalBytes(want) {
			t.Fatalf("round %d: durable %d next %d size %d", round, l.DurableOffset(), l.NextOffset(), l.SizeBytes())
		}
		want = append(want, appendBatches(t, l, 10, 2, 100)...)
		if round == 0 {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
		// Round 1 ends without Close: the next open is unclean.
	}
	l = mustOpen(t, mem, smallConfig)
	if got := readAll(t, l, 1000); !sameBatches(got, want) {
		t.Fatalf("after unclean reopen: %d batches, want %d", len(got), len(want))
	}
}

func totalBytes(batches [][]byte) int64 {
	var n int64
	for _, b := range batches {
		n += int64(len(b))
	}
	return n
}

// TestReadSemantics compares every (offset, bytesMax, limitOffset) of a
// small log with the model.
func TestReadSemantics(t *testing.T) {
	l := mustOpen(t, diskfault.NewMem(), Config{SegmentBytesMax: 1500, IndexIntervalBytes: 200})
	h := &history{}
	for i := 0; i < 30; i++ {
		b := simpleBatch(l.NextOffset(), 1+i%4, 20+(i*37)%150, int64(i))
		mustAppend(t, l, b)
		h.batches = append(h.batches, b)
	}
	next := l.NextOffset()
	limits := []int64{0, 1, 5, 17, next / 2, next - 1, next, next + 10}
	budgets := []int64{0, 1, 60, 200, 450, 1000, 5000}
	for offset := int64(0); offset <= next; offset++ {
		for _, limit := range limits {
			for _, budget := range budgets {
				r, err := l.Read(offset, budget, limit)
				if err != nil {
					t.Fatalf("Read(%d, %d, %d): %v", offset, budget, limit, err)
				}
				got, err := ReadInto(nil, r)
				if err != nil {
					t.Fatalf("ReadInto: %v", err)
				}
				want := h.expectedRead(offset, budget, min(limit, next))
				if !bytes.Equal(got, want) {
					t.Fatalf("Read(%d, %d, %d): %d bytes, want %d", offset, budget, limit, len(got), len(want))
				}
				if int64(len(got)) != r.Bytes || (len(got) == 0 && (r.FirstOffset != offset || r.NextOffset != offset)) {
					t.Fatalf("Read(%d, %d, %d): result %+v for %d bytes", offset, budget, limit, r, len(got))
				}
			}
		}
	}
	for _, offset := range []int64{-1, next + 1} {
		if _, err := l.Read(offset, 100, next); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read(%d): %v, want ErrOffsetOutOfRange", offset, err)
		}
	}
}

func TestReadFirstBatchLargerThanMax(t *testing.T) {
	l := mustOpen(t, diskfault.NewMem(), smallConfig)
	big := simpleBatch(0, 5, 500, 0)
	mustAppend(t, l, big)
	mustAppend(t, l, simpleBatch(5, 1, 10, 0))
	r, err := l.Read(2, 10, l.NextOffset())
	if err != nil || r.Bytes != int64(len(big)) || r.FirstOffset != 0 || r.NextOffset != 5 {
		t.Fatalf("got %+v, %v", r, err)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	l := mustOpen(t, diskfault.NewMem(), Config{SegmentBytesMax: 2000, IndexIntervalBytes: 150})
	h := &history{}
	// Timestamps that mostly rise, with some going backwards, as producers'
	// clocks do.
	for i := 0; i < 40; i++ {
		first := int64(1000 + 100*i - 250*(i%3))
		b := buildBatch(l.NextOffset(), batchSpec{records: 1 + i%5, valueBytes: 30, firstTimestamp: first,
			timestampStep: int64(7 - i%4), tag: uint64(i)})
		mustAppend(t, l, b)
		h.batches = append(h.batches, b)
	}
	check := func(when string) {
		for ts := int64(0); ts < 5500; ts += 13 {
			offset, recordTimestamp, found, err := l.OffsetForTimestamp(ts)
			wantOffset, wantTimestamp, wantFound := h.expectedTimestampLookup(ts)
			if err != nil || found != wantFound || (found && (offset != wantOffset || recordTimestamp != wantTimestamp)) {
				t.Fatalf("%s: OffsetForTimestamp(%d) = %d %d %v %v, want %d %d %v",
					when, ts, offset, recordTimestamp, found, err, wantOffset, wantTimestamp, wantFound)
			}
		}
	}
	check("live")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mem := diskfault.NewMem()
	l = mustOpen(t, mem, Config{SegmentBytesMax: 2000, IndexIntervalBytes: 150})
	for _, b := range h.batches {
		mustAppend(t, l, b)
	}
	syncNow(t, l)
	l = mustOpen(t, mem, Config{SegmentBytesMax: 2000, IndexIntervalBytes: 150}) // unclean
	check("after recovery")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, mem, Config{SegmentBytesMax: 2000, IndexIntervalBytes: 150})
	check("after clean reopen")
}

func TestOffsetForTimestampCompressedAndLogAppendTime(t *testing.T) {
	l := mustOpen(t, diskfault.NewMem(), smallConfig)
	mustAppend(t, l, buildBatch(0, batchSpec{records: 4, valueBytes: 8, firstTimestamp: 100, timestampStep: 10, attributes: 1}))
	mustAppend(t, l, buildBatch(4, batchSpec{records: 4, valueBytes: 8, firstTimestamp: 200, timestampStep: 10, attributes: logAppendTimeBit}))
	cases := []struct{ timestamp, offset, recordTimestamp int64 }{
		{50, 0, 100},  // compressed, first record qualifies: exact
		{115, 0, 130}, // compressed: base offset with the max timestamp
		{131, 4, 230}, // LogAppendTime: every record has the max
	}
	for _, c := range cases {
		offset, ts, found, err := l.OffsetForTimestamp(c.timestamp)
		if err != nil || !found || offset != c.offset || ts != c.recordTimestamp {
			t.Fatalf("OffsetForTimestamp(%d) = %d %d %v %v, want %d %d", c.timestamp, offset, ts, found, err, c.offset, c.recordTimestamp)
		}
	}
	if _, _, found, err := l.OffsetForTimestamp(231); found || err != nil {
		t.Fatalf("found a record after the last timestamp: %v", err)
	}
}

func TestTruncate(t *testing.T) {
	for _, clean := range []bool{true, false} {
		mem := diskfault.NewMem()
		l := mustOpen(t, mem, smallConfig)
		want := appendBatches(t, l, 50, 3, 60)
		syncNow(t, l)
		if err := l.Close(); err != nil { // moves the recovery point to the end
			t.Fatal(err)
		}
		l = mustOpen(t, mem, smallConfig)
		segmentsBefore := l.SegmentCount()
		// Offset 31 is inside the batch [30, 33): the whole batch goes.
		if err := l.Truncate(31); err != nil {
			t.Fatal(err)
		}
		want = want[:10]
		if l.NextOffset() != 30 || l.DurableOffset() != 30 || l.SegmentCount() >= segmentsBefore {
			t.Fatalf("after truncate: next %d durable %d segments %d (was %d)", l.NextOffset(), l.DurableOffset(), l.SegmentCount(), segmentsBefore)
		}
		if got := readAll(t, l, 700); !sameBatches(got, want) {
			t.Fatal("log after truncate differs")
		}
		if offset, _, found, _ := l.OffsetForTimestamp(1000 * 30); found {
			t.Fatalf("timestamp lookup found truncated offset %d", offset)
		}
		for i := 0; i < 30; i++ {
			b := simpleBatch(l.NextOffset(), 2, 70, 7)
			mustAppend(t, l, b)
			want = append(want, b)
		}
		syncNow(t, l)
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
		l = mustOpen(t, mem, smallConfig)
		if got := readAll(t, l, 700); !sameBatches(got, want) {
			t.Fatalf("clean=%v: reopened log differs", clean)
		}
		if err := l.Truncate(0); err != nil || l.NextOffset() != 0 || l.SegmentCount() != 1 || l.SizeBytes() != 0 {
			t.Fatalf("truncate to 0: %v, next %d, %d segments", err, l.NextOffset(), l.SegmentCount())
		}
	}
}

// TestTruncateBelowRecoveryPointThenCrash checks the case the recovery
// point must be lowered for: a trusted segment is cut, takes new unsynced
// batches, rolls, and the machine crashes before a sync.
func TestTruncateBelowRecoveryPointThenCrash(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		mem := diskfault.NewMem()
		l := mustOpen(t, mem, smallConfig)
		want := appendBatches(t, l, 60, 3, 60)
		syncNow(t, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = mustOpen(t, mem, smallConfig)
		if err := l.Truncate(9); err != nil {
			t.Fatal(err)
		}
		want = want[:3]
		appendBatches(t, l, 40, 2, 90) // rolls, never synced
		mem.Crash(newRand(seed))
		l = mustOpen(t, mem, smallConfig)
		got := readAll(t, l, 1<<20)
		if len(got) < len(want) || !sameBatches(got[:len(want)], want) {
			t.Fatalf("seed %d: durable prefix lost", seed)
		}
	}
}

func TestRollByAge(t *testing.T) {
	l := mustOpen(t, diskfault.NewMem(), Config{SegmentAgeMax: time.Minute})
	now := testEpoch
	for i := 0; i < 10; i++ {
		if err := l.Append(simpleBatch(l.NextOffset(), 1, 10, now.UnixMilli()), now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(25 * time.Second)
	}
	// Each segment takes three batches: 0s, 25s, 50s; the fourth at 75s rolls.
	if l.SegmentCount() != 4 {
		t.Fatalf("%d segments, want 4", l.SegmentCount())
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{SegmentBytesMax: -1},
		{SegmentBytesMax: 1 << 40},
		{IndexIntervalBytes: -5},
		{SegmentAgeMax: -time.Second},
	} {
		if _, err := Open(diskfault.NewMem(), testDir, c, testEpoch); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	l := mustOpen(t, diskfault.NewMem(), Config{})
	if l.config != DefaultConfig() {
		t.Fatalf("zero config became %+v", l.config)
	}
}

func TestAppendRefusesBadBatches(t *testing.T) {
	l := mustOpen(t, diskfault.NewMem(), smallConfig)
	mustAppend(t, l, simpleBatch(0, 2, 10, 0))
	corrupt := simpleBatch(2, 2, 10, 0)
	corrupt[len(corrupt)-1] ^= 1
	for name, b := range map[string][]byte{
		"wrong base offset": simpleBatch(5, 2, 10, 0),
		"bad CRC":           corrupt,
		"trailing bytes":    append(simpleBatch(2, 2, 10, 0), 0),
		"truncated":         simpleBatch(2, 2, 10, 0)[:70],
		"empty":             nil,
	} {
		if err := l.Append(b, testEpoch); !errors.Is(err, ErrInvalidBatch) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if l.NextOffset() != 2 || l.Err() != nil {
		t.Fatalf("refusals changed the log: next %d, %v", l.NextOffset(), l.Err())
	}
}

// TestSyncRunsConcurrently runs each job on another goroutine while the
// owner appends and reads, as the broker does; run it with -race.
func TestSyncRunsConcurrently(t *testing.T) {
	l := mustOpen(t, diskfault.NewMem(), Config{SegmentBytesMax: 3000, IndexIntervalBytes: 200})
	var want [][]byte
	type completion struct {
		job *SyncJob
		err error
	}
	done := make(chan completion, 1)
	running := false
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		b := simpleBatch(l.NextOffset(), 2, 50, int64(i))
		mustAppend(t, l, b)
		want = append(want, b)
		if i%7 == 0 {
			if _, err := l.Read(l.StartOffset(), 500, l.NextOffset()); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case c := <-done:
			l.CompleteSync(c.job, c.err)
			running = false
		default:
		}
		if !running {
			if j := l.PrepareSync(); j != nil {
				running = true
				wg.Add(1)
				go func() { defer wg.Done(); done <- completion{j, j.Run()} }()
			}
		}
	}
	wg.Wait()
	if running {
		c := <-done
		l.CompleteSync(c.job, c.err)
	}
	syncNow(t, l)
	if l.Err() != nil || l.DurableOffset() != l.NextOffset() {
		t.Fatalf("durable %d next %d err %v", l.DurableOffset(), l.NextOffset(), l.Err())
	}
	if got := readAll(t, l, 4000); !sameBatches(got, want) {
		t.Fatal("log differs")
	}
}

func TestOutstandingJob(t *testing.T) {
	mem := diskfault.NewMem()
	l := mustOpen(t, mem, smallConfig)
	want := appendBatches(t, l, 30, 2, 60)
	j := l.PrepareSync()
	if j == nil || l.PrepareSync() != nil {
		t.Fatal("want exactly one job outstanding")
	}
	if err := l.Truncate(1); !errors.Is(err, ErrSyncOutstanding) {
		t.Fatalf("truncate: %v", err)
	}
	// Close before the job ran (a broker shutting down): Close must sync
	// what the job would have, since the job took it off the dirty list.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.CompleteSync(j, j.Run()) // fails on closed handles; ignored
	mem.Crash(nil)             // keep only what was synced
	l = mustOpen(t, mem, smallConfig)
	if got := readAll(t, l, 1<<20); !sameBatches(got, want) {
		t.Fatalf("after close with a job outstanding and a crash: %d batches, want %d", len(got), len(want))
	}
	if err := l.Append(simpleBatch(l.NextOffset(), 1, 1, 0), testEpoch); err != nil {
		t.Fatal(err)
	}
	j = l.PrepareSync()
	if err := l.Delete(); err != nil {
		t.Fatalf("delete with a job outstanding: %v", err)
	}
	l.CompleteSync(j, j.Run())
	if _, err := mem.Stat(testDir); err == nil {
		t.Fatal("directory survives Delete")
	}
	if err := l.Append(simpleBatch(0, 1, 1, 0), testEpoch); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after delete: %v", err)
	}
}

func TestDelete(t *testing.T) {
	mem := diskfault.NewMem()
	l := mustOpen(t, mem, smallConfig)
	appendBatches(t, l, 20, 2, 100)
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Stat(testDir); err == nil {
		t.Fatal("directory survives Delete")
	}
	l = mustOpen(t, mem, smallConfig)
	if l.NextOffset() != 0 {
		t.Fatalf("recreated log starts at %d", l.NextOffset())
	}
}

// TestAppendDoesNotAllocate checks the steady state on the real
// filesystem: once the index slices have grown, an append allocates
// nothing.
func TestAppendDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 6 MiB")
	}
	l, err := Open(diskfault.OS{}, t.TempDir(), Config{IndexIntervalBytes: 1}, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	buffer := simpleBatch(0, 4, 500, 0)
	appendOne := func() {
		batch.SetBaseOffset(buffer, l.NextOffset())
		if err := l.Append(buffer, testEpoch); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2000; i++ {
		appendOne()
	}
	if err := l.Truncate(0); err != nil { // keeps the slices' capacity
		t.Fatal(err)
	}
	if allocations := testing.AllocsPerRun(1000, appendOne); allocations != 0 {
		t.Fatalf("%v allocations per append", allocations)
	}
}

// TestCloseWhileSyncRuns closes the log while a job runs on another
// goroutine (a broker shutting down mid-sync); run it with -race.
func TestCloseWhileSyncRuns(t *testing.T) {
	for round := 0; round < 20; round++ {
		mem := diskfault.NewMem()
		l := mustOpen(t, mem, smallConfig)
		want := appendBatches(t, l, 40, 2, 60)
		j := l.PrepareSync()
		done := make(chan error)
		go func() { done <- j.Run() }()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l.CompleteSync(j, <-done)
		mem.Crash(nil)
		l = mustOpen(t, mem, smallConfig)
		if got := readAll(t, l, 1<<20); !sameBatches(got, want) {
			t.Fatalf("round %d: %d batches, want %d", round, len(got), len(want))
		}
	}
}
