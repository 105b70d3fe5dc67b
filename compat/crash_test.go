package compat

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	crashPartitions = 3
	crashCycles     = 4    // SIGKILL + restart, each in the middle of load
	crashAcksPerRun = 3000 // acknowledgments to wait for before each kill, and after the last restart
)

// crashRecord is record seq of the crash test's producer. The value is
// padded so that batches span more bytes and a torn tail has room to tear.
func crashRecord(seq int) record {
	return record{
		Key:     fmt.Sprintf("k%02d", seq%16),
		Value:   fmt.Sprintf("crash-%08d-%s", seq, strings.Repeat("x", 80)),
		Headers: []header{{Key: "seq", Value: fmt.Sprint(seq)}},
	}
}

// TestCrashKeepsAcknowledgedRecords runs a franz-go producer (default
// config: acks=all) at full speed against a broker of its own, SIGKILLs the
// broker in the middle of the load, restarts it on the same data directory
// and port, lets the producer carry on, and repeats. Then it reads every
// partition back and checks: each partition's offsets are dense from 0; every
// record served is one the producer sent, intact; every acknowledged record
// is at exactly the partition and offset it was acknowledged with; and
// acknowledged records of a partition are stored in the order they were
// sent. Records that were in flight at a kill may be missing or present
// (even twice, since the producer retries them), but only whole.
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	t.Parallel()
	if shared.err != nil {
		t.Fatalf("no broker to test: %v", shared.err)
	}
	dir := t.TempDir()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dataDir, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "broker.log")
	proc, err := startBroker(shared.bin, dataDir, addr, logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if proc.alive() {
			proc.stop()
		}
		if t.Failed() {
			t.Logf("crash test broker log (last lines):\n%s", tailFile(logPath, 40))
		}
	})
	topic := uniqueTopic("crash")
	createTopic(t, addr, topic, crashPartitions)

	producer := newKgo(t, addr, kgo.DefaultProduceTopic(topic))
	var (
		mu       sync.Mutex
		acked    = map[int]ack{}
		ackCount atomic.Int64
		sent     atomic.Int64
		failures []string
	)
	produceCtx, stopProducing := context.WithCancel(context.Background())
	defer stopProducing()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for seq := 0; produceCtx.Err() == nil; seq++ {
			// Produce blocks while the client's buffer is full (as it is
			// while the broker is down); cancelling produceCtx unblocks it.
			rec := toKgo(crashRecord(seq))
			sent.Store(int64(seq + 1))
			producer.Produce(produceCtx, rec, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if produceCtx.Err() == nil {
						failures = append(failures, fmt.Sprintf("record %d: %v", seq, err))
					}
					return
				}
				acked[seq] = ack{Partition: r.Partition, Offset: r.Offset}
				ackCount.Add(1)
			})
		}
	}()

	waitAcks := func(n int64, what string) {
		t.Helper()
		if !waitFor(60*time.Second, func() bool { return ackCount.Load() >= n }) {
			stopProducing()
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("%s: only %d of %d records acknowledged after 60s (%d sent); failures: %v", what, ackCount.Load(), n, sent.Load(), failures[:min(len(failures), 10)])
		}
	}
	for cycle := 1; cycle <= crashCycles; cycle++ {
		waitAcks(ackCount.Load()+crashAcksPerRun, fmt.Sprintf("before kill %d", cycle))
		// Vary the moment of the kill relative to batching and syncing.
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		proc.kill()
		t.Logf("kill %d: %d records sent, %d acknowledged", cycle, sent.Load(), ackCount.Load())
		if proc, err = startBroker(shared.bin, dataDir, addr, logPath); err != nil {
			stopProducing()
			<-loopDone
			t.Fatalf("restart %d on the same data directory: %v", cycle, err)
		}
	}
	waitAcks(ackCount.Load()+crashAcksPerRun, "after the last restart")
	stopProducing()
	<-loopDone
	// Let what is buffered or in flight be acknowledged (or fail with the
	// cancelled context), so late acknowledgments are checked too. A flush
	// that times out only leaves records unacknowledged, which the check
	// allows.
	flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = producer.Flush(flushCtx)
	mu.Lock()
	if len(failures) > 0 {
		t.Errorf("%d records failed while the producer was still running (it retries without limit, so it should only fail when stopped): %v", len(failures), failures[:min(len(failures), 10)])
	}
	ackedCopy := make(map[int]ack, len(acked))
	for k, v := range acked {
		ackedCopy[k] = v
	}
	mu.Unlock()
	t.Logf("%d records sent, %d acknowledged", sent.Load(), len(ackedCopy))

	got := readAll(t, addr, topic, crashPartitions)
	for _, e := range checkCrash(int(sent.Load()), ackedCopy, got) {
		t.Error(e)
	}
}

// checkCrash checks what a broker serves after crashes (got, in delivery
// order) against what the producer sent (seqs below sent) and what it was
// told was stored (acked, by seq). See TestCrashKeepsAcknowledgedRecords.
func checkCrash(sent int, acked map[int]ack, got []record) []string {
	var errs []string
	fail := func(format string, args ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	type pos struct {
		p int32
		o int64
	}
	at := map[pos]int{} // seq stored at each position
	next := map[int32]int64{}
	for _, r := range got {
		if r.Offset != next[r.Partition] {
			fail("p%d: offset %d served where %d was expected (offsets must be dense from 0)", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition] = r.Offset + 1
		var seq int
		if _, err := fmt.Sscanf(r.Value, "crash-%d-", &seq); err != nil || seq < 0 || seq >= sent {
			fail("p%d@%d: value %q is not a record the producer sent", r.Partition, r.Offset, lastBytes([]byte(r.Value), 60))
			continue
		}
		if want := crashRecord(seq); r.Value != want.Value || r.Key != want.Key || !equalHeaders(r.Headers, want.Headers) {
			fail("p%d@%d: record %d damaged: key %q headers %v value %q", r.Partition, r.Offset, seq, r.Key, r.Headers, lastBytes([]byte(r.Value), 60))
			continue
		}
		at[pos{r.Partition, r.Offset}] = seq
	}
	// Acknowledged records, by partition in offset order, to check both
	// presence and send order.
	byPartition := map[int32][]int{}
	for seq, a := range acked {
		stored, ok := at[pos{a.Partition, a.Offset}]
		switch {
		case !ok:
			fail("record %d acknowledged at p%d@%d, but nothing valid is there (partition ends at %d)", seq, a.Partition, a.Offset, next[a.Partition])
		case stored != seq:
			fail("record %d acknowledged at p%d@%d, but record %d is there", seq, a.Partition, a.Offset, stored)
		}
		byPartition[a.Partition] = append(byPartition[a.Partition], seq)
	}
	for p, seqs := range byPartition {
		sort.Slice(seqs, func(i, j int) bool { return acked[seqs[i]].Offset < acked[seqs[j]].Offset })
		for i := 1; i < len(seqs); i++ {
			if seqs[i] < seqs[i-1] {
				fail("p%d: record %d (offset %d) stored after record %d (offset %d), though sent before it",
					p, seqs[i], acked[seqs[i]].Offset, seqs[i-1], acked[seqs[i-1]].Offset)
				break
			}
		}
	}
	return errs
}

// TestCheckCrash makes sure the crash checker notices each kind of damage.
func TestCheckCrash(t *testing.T) {
	t.Parallel()
	at := func(seq int, p int32, o int64) record {
		r := crashRecord(seq)
		r.Partition, r.Offset = p, o
		return r
	}
	acked := map[int]ack{0: {0, 0}, 1: {1, 0}, 2: {0, 1}, 4: {0, 3}}
	good := func() []record {
		// Record 3 was in flight at a crash, stored but never acknowledged.
		return []record{at(0, 0, 0), at(1, 1, 0), at(2, 0, 1), at(3, 0, 2), at(4, 0, 3)}
	}
	if errs := checkCrash(5, acked, good()); len(errs) > 0 {
		t.Fatalf("intact log reported as damaged: %v", errs)
	}
	damages := map[string]func([]record) []record{
		"acknowledged record lost": func(rs []record) []record { return rs[:4] },
		"offset gap":               func(rs []record) []record { rs[3].Offset = 5; rs[4].Offset = 6; return rs },
		"value damaged":            func(rs []record) []record { rs[3].Value = rs[3].Value[:20]; return rs },
		"header damaged":           func(rs []record) []record { rs[3].Headers = nil; return rs },
		"never sent":               func(rs []record) []record { rs[3] = at(9, 0, 2); return rs },
		"other record at acked offset": func(rs []record) []record {
			rs[2], rs[3] = at(3, 0, 1), at(2, 0, 2)
			return rs
		},
	}
	for name, damage := range damages {
		if errs := checkCrash(5, acked, damage(good())); len(errs) == 0 {
			t.Errorf("%s: not detected", name)
		}
	}
	reordered := map[int]ack{0: {0, 1}, 2: {0, 0}}
	if errs := checkCrash(5, reordered, []record{at(2, 0, 0), at(0, 0, 1)}); len(errs) == 0 {
		t.Errorf("acknowledged records stored out of send order: not detected")
	}
}
