package storage

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"cairn/diskfault"
	"pgregory.net/rapid"
)

// crashModel drives a log and its model through the actions of the crash
// property test.
type crashModel struct {
	t       *rapid.T
	mem     *diskfault.Mem
	fsys    diskfault.FS // mem, or mem behind fault injectors
	faults  *diskfault.Toggle
	config  Config
	log     *Log
	model   history
	durable int // leading batches of model known durable
	job     *SyncJob
	now     time.Time
	tag     uint64
	// truncatedUnsynced: since the last sync, a truncation may be undone by
	// a crash, so recovered batches past the durable prefix may be older
	// ones; each must still be a batch once appended at its offset.
	truncatedUnsynced bool
	ever              map[string]bool
}

// TestCrashRecoveryProperty: random appends, sync rounds, reads, timestamp
// lookups, truncations, rolls (tiny segments, a clock that moves) and clean
// restarts, then a crash that keeps, drops or tears unsynced pages and
// directory changes by a drawn seed, and a reopen — repeated. The recovered
// log must hold every durable batch, be byte-identical to what was
// appended at each offset, and serve only batches that pass ReadInto.
func TestCrashRecoveryProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		newCrashModel(t, false).run()
	})
}

// TestFaultRecoveryProperty adds injected EIO and ENOSPC on writes,
// truncations, creations, removals and renames, and Linux-style writeback
// errors on fsync. A failed write that is undone must leave the log as it
// was; anything that fails the log is followed, as in the broker, by a
// reopen, which must recover the same guarantees as after a crash.
func TestFaultRecoveryProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		newCrashModel(t, true).run()
	})
}

func newCrashModel(t *rapid.T, faulty bool) *crashModel {
	c := &crashModel{
		t:   t,
		mem: diskfault.NewMem(),
		config: Config{
			SegmentBytesMax:    rapid.Int64Range(200, 6000).Draw(t, "segmentBytesMax"),
			IndexIntervalBytes: rapid.Int64Range(1, 800).Draw(t, "indexIntervalBytes"),
			SegmentAgeMax:      time.Duration(rapid.Int64Range(1, 100).Draw(t, "segmentAgeSeconds")) * time.Second,
		},
		now:    testEpoch,
		ever:   make(map[string]bool),
		faults: &diskfault.Toggle{},
	}
	c.fsys = c.mem
	if faulty {
		c.fsys = diskfault.Wrap(c.mem, faultInjector(t, c.faults))
	}
	c.log = mustOpen(t, c.fsys, c.config)
	c.faults.Enable()
	return c
}

// faultInjector fails about one in a drawn number of mutating operations.
func faultInjector(t *rapid.T, toggle *diskfault.Toggle) diskfault.Injector {
	rng := newRand(rapid.Uint64().Draw(t, "faultSeed"))
	denominator := rapid.Uint64Range(3, 60).Draw(t, "faultOneIn")
	randomly, err := diskfault.Randomly(1, denominator, rng)
	if err != nil {
		t.Fatalf("%v", err)
	}
	writes := diskfault.Kinds(diskfault.OpWrite, diskfault.OpTruncate, diskfault.OpCreate)
	others := diskfault.Kinds(diskfault.OpSyncDir, diskfault.OpRemove, diskfault.OpRename)
	return diskfault.Chain(
		diskfault.WritebackError(diskfault.All(toggle, randomly)),
		diskfault.ENOSPC(diskfault.All(toggle, writes, randomly)),
		diskfault.EIO(diskfault.All(toggle, diskfault.Any(writes, others), randomly)),
	)
}

func (c *crashModel) run() {
	cycles := rapid.IntRange(1, 4).Draw(c.t, "cycles")
	for cycle := 0; cycle < cycles; cycle++ {
		steps := rapid.IntRange(0, 50).Draw(c.t, "steps")
		for step := 0; step < steps; step++ {
			c.step()
		}
		c.crashAndRecover()
	}
}

// failed handles an error from the log: without faults it is a bug; with
// them, a log that failed is reopened as the broker would, and one that
// did not must be unchanged.
func (c *crashModel) failed(what string, err error) {
	if c.fsys == diskfault.FS(c.mem) {
		c.t.Fatalf("%s: %v", what, err)
	}
	if !errors.Is(err, diskfault.ErrInjected) && !errors.Is(err, ErrFailed) {
		c.t.Fatalf("%s: an error nobody injected: %v", what, err)
	}
	if c.log.Err() == nil {
		if c.log.NextOffset() != c.model.nextOffset(c.log.StartOffset()) {
			c.t.Fatalf("%s failed (%v) but moved the log end to %d", what, err, c.log.NextOffset())
		}
		return
	}
	c.log.Close()
	c.reopen()
}

// reopen opens the log again, as many times as injected faults take.
func (c *crashModel) reopen() {
	c.job = nil
	for attempt := 0; ; attempt++ {
		if attempt == 3 {
			c.faults.Disable()
		}
		l, err := Open(c.fsys, testDir, c.config, c.now)
		if err == nil {
			c.log = l
			break
		}
		if !errors.Is(err, diskfault.ErrInjected) {
			c.t.Fatalf("open: %v", err)
		}
	}
	c.faults.Disable()
	got := readAll(c.t, c.log, rapid.Int64Range(1, 5000).Draw(c.t, "recoveryReadBytes"))
	c.faults.Enable()
	c.checkRecovered(got)
	c.model.batches = got
	c.durable, c.truncatedUnsynced = len(got), false
}

func (c *crashModel) step() {
	t := c.t
	switch rapid.IntRange(0, 12).Draw(t, "action") {
	case 0, 1, 2, 3, 4:
		c.append()
	case 5:
		if c.job == nil {
			c.job = c.log.PrepareSync()
		}
	case 6:
		c.completeSync()
	case 7, 8:
		c.checkRead()
	case 9:
		c.checkTimestampLookup()
	case 10:
		c.truncate()
	case 11:
		c.now = c.now.Add(time.Duration(rapid.IntRange(0, 30).Draw(t, "advanceSeconds")) * time.Second)
	case 12:
		c.closeAndReopen()
	}
}

func (c *crashModel) append() {
	t := c.t
	c.tag++
	b := buildBatch(c.log.NextOffset(), batchSpec{
		records:        rapid.IntRange(1, 6).Draw(t, "records"),
		valueBytes:     rapid.IntRange(0, 400).Draw(t, "valueBytes"),
		firstTimestamp: rapid.Int64Range(0, 10_000).Draw(t, "firstTimestamp"),
		timestampStep:  rapid.Int64Range(-3, 20).Draw(t, "timestampStep"),
		tag:            c.tag,
	})
	if err := c.log.Append(b, c.now); err != nil {
		c.failed("append", err)
		return
	}
	c.model.batches = append(c.model.batches, b)
	c.ever[string(b)] = true
}

func (c *crashModel) completeSync() {
	if c.job == nil {
		return
	}
	err := c.job.Run()
	c.log.CompleteSync(c.job, err)
	if err != nil {
		if c.log.Err() == nil {
			c.t.Fatalf("a failed sync did not fail the log")
		}
		c.failed("sync", err)
		return
	}
	c.durable = c.model.countBelow(c.job.Offset())
	if c.log.DurableOffset() != c.job.Offset() {
		c.t.Fatalf("durable %d after a job to %d", c.log.DurableOffset(), c.job.Offset())
	}
	c.job = nil
	if c.log.DurableOffset() == c.log.NextOffset() {
		c.truncatedUnsynced = false
	}
}

func (c *crashModel) checkRead() {
	t := c.t
	next := c.log.NextOffset()
	offset := rapid.Int64Range(c.log.StartOffset(), next).Draw(t, "readOffset")
	bytesMax := rapid.Int64Range(0, 3000).Draw(t, "bytesMax")
	limit := rapid.Int64Range(offset, next).Draw(t, "limitOffset")
	r, err := c.log.Read(offset, bytesMax, limit)
	if err != nil {
		t.Fatalf("Read(%d, %d, %d): %v", offset, bytesMax, limit, err)
	}
	got, err := ReadInto(nil, r)
	if err != nil {
		t.Fatalf("ReadInto: %v", err)
	}
	if want := c.model.expectedRead(offset, bytesMax, limit); !bytes.Equal(got, want) {
		t.Fatalf("Read(%d, %d, %d): %d bytes, want %d", offset, bytesMax, limit, len(got), len(want))
	}
}

func (c *crashModel) checkTimestampLookup() {
	t := c.t
	target := rapid.Int64Range(-10, 12_000).Draw(t, "timestamp")
	offset, recordTimestamp, found, err := c.log.OffsetForTimestamp(target)
	wantOffset, wantTimestamp, wantFound := c.model.expectedTimestampLookup(target)
	if err != nil || found != wantFound || (found && (offset != wantOffset || recordTimestamp != wantTimestamp)) {
		t.Fatalf("OffsetForTimestamp(%d) = %d %d %v %v, want %d %d %v",
			target, offset, recordTimestamp, found, err, wantOffset, wantTimestamp, wantFound)
	}
}

func (c *crashModel) truncate() {
	if c.job != nil {
		return
	}
	offset := rapid.Int64Range(c.log.StartOffset(), c.log.NextOffset()).Draw(c.t, "truncateOffset")
	kept := c.model.countBelow(offset)
	if err := c.log.Truncate(offset); err != nil {
		if c.log.Err() != nil { // cut partway: old batches may come back
			c.truncatedUnsynced = true
			c.model.batches = c.model.batches[:kept]
			c.durable = min(c.durable, kept)
		}
		c.failed("truncate", err)
		return
	}
	// A truncation that returned is durable: no crash brings back what it
	// removed.
	c.model.batches = c.model.batches[:kept]
	c.durable = min(c.durable, kept)
	if c.log.NextOffset() != c.model.nextOffset(0) {
		c.t.Fatalf("truncate to %d: next %d, model %d", offset, c.log.NextOffset(), c.model.nextOffset(0))
	}
}

func (c *crashModel) closeAndReopen() {
	if c.job != nil {
		return
	}
	if err := c.log.Close(); err != nil {
		if !errors.Is(err, diskfault.ErrInjected) {
			c.t.Fatalf("close: %v", err)
		}
		c.reopen()
		return
	}
	c.durable, c.truncatedUnsynced = len(c.model.batches), false
	c.reopen()
}

func (c *crashModel) crashAndRecover() {
	t := c.t
	c.mem.Crash(newRand(rapid.Uint64().Draw(t, "crashSeed")))
	c.reopen()
}

// checkRecovered checks a reopened log: it keeps every durable batch, is
// otherwise a prefix of what was appended (or, after an unsynced
// truncation, made of batches once appended at their offsets), and is
// entirely durable.
func (c *crashModel) checkRecovered(got [][]byte) {
	t := c.t
	if len(got) < c.durable || !sameBatches(got[:c.durable], c.model.batches[:c.durable]) {
		t.Fatalf("recovered %d batches; lost some of the %d durable ones", len(got), c.durable)
	}
	for i, b := range got {
		if c.truncatedUnsynced {
			if !c.ever[string(b)] {
				t.Fatalf("recovered batch %d was never appended", i)
			}
		} else if i >= len(c.model.batches) || !bytes.Equal(b, c.model.batches[i]) {
			t.Fatalf("recovered batch %d is not the one appended there", i)
		}
	}
	if c.log.DurableOffset() != c.log.NextOffset() || (len(got) > 0 && c.log.NextOffset() != nextOffsetOf(got[len(got)-1])) {
		t.Fatalf("reopened: durable %d next %d", c.log.DurableOffset(), c.log.NextOffset())
	}
	offsetsSeen := c.log.StartOffset()
	for _, b := range got {
		if got := nextOffsetOf(b); got <= offsetsSeen {
			t.Fatalf("offsets do not rise")
		}
		offsetsSeen = nextOffsetOf(b)
	}
}
