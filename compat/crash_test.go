package compat

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
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
// partition back and judges the producer's history with that read
// (judgeHistory): each partition's offsets are dense from 0; every record
// served is one the producer sent, intact (key, value and headers); every
// acknowledged record is at exactly the partition and offset it was
// acknowledged with; the producer is idempotent (franz-go's default), so
// its records are stored once each, in the order they were sent; and the
// log is linearizable. Records that were in flight at a kill may be
// missing or present.
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

	// franz-go's defaults: acks=all and idempotent.
	producer := newKgo(t, addr, kgo.DefaultProduceTopic(topic))
	recorder := newHistoryRecorder()
	recording := &historyProducer{recorder: recorder, topic: topic, partitions: crashPartitions, idempotent: true}
	var (
		mu       sync.Mutex
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
			sent.Store(int64(seq + 1))
			recording.produce(produceCtx, producer, crashRecord(seq), func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					defer mu.Unlock()
					if produceCtx.Err() == nil || errors.Is(err, errMispredicted) {
						failures = append(failures, fmt.Sprintf("record %d: %v", seq, err))
					}
					return
				}
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
	mu.Unlock()
	history := recorder.history()
	t.Logf("%d records sent, %d acknowledged", sent.Load(), ackCount.Load())

	got := readAll(t, addr, topic, crashPartitions)
	judged := judgeHistory(history, finalRead(topic, crashPartitions, got), historyCheckTimeout)
	for _, e := range judged.report(20) {
		t.Error(e)
	}
	t.Logf("judged %d operations and %d records read back: %d violations", judged.operations, len(got), len(judged.violations))
}

// TestCheckCrash makes sure the judging of the crash test's history
// notices each kind of damage.
func TestCheckCrash(t *testing.T) {
	t.Parallel()
	at := func(seq int, p int32, o int64) record {
		r := crashRecord(seq)
		r.Partition, r.Offset = p, o
		return r
	}
	// Record 3 was in flight at a crash, stored but never acknowledged.
	history := func() *syntheticHistory {
		h := &syntheticHistory{topic: "crash"}
		h.acked(0, crashRecord(0), 0, 0, true)
		h.acked(0, crashRecord(1), 1, 0, true)
		h.acked(0, crashRecord(2), 0, 1, true)
		h.unknown(0, crashRecord(3), 0, true)
		h.acked(0, crashRecord(4), 0, 3, true)
		return h
	}
	good := func() []record {
		return []record{at(0, 0, 0), at(1, 1, 0), at(2, 0, 1), at(3, 0, 2), at(4, 0, 3)}
	}
	if errs := history().judge(crashPartitions, good()); len(errs) > 0 {
		t.Fatalf("intact log reported as damaged: %v", errs)
	}
	damages := map[string]func([]record) []record{
		"acknowledged record lost": func(rs []record) []record { return rs[:4] },
		"offset gap":               func(rs []record) []record { rs[3].Offset = 5; rs[4].Offset = 6; return rs },
		"value damaged":            func(rs []record) []record { rs[3].Value = rs[3].Value[:20]; return rs },
		"key damaged":              func(rs []record) []record { rs[3].Key = "k99"; return rs },
		"header damaged":           func(rs []record) []record { rs[3].Headers = nil; return rs },
		"never sent":               func(rs []record) []record { rs[3] = at(9, 0, 2); return rs },
		"other record at acked offset": func(rs []record) []record {
			rs[2], rs[3] = at(3, 0, 1), at(2, 0, 2)
			return rs
		},
		"stored twice": func(rs []record) []record { return append(rs, at(3, 0, 4)) },
	}
	for name, damage := range damages {
		errs := history().judge(crashPartitions, damage(good()))
		if len(errs) == 0 {
			t.Errorf("%s: not detected", name)
		}
		t.Logf("%s: %v", name, errs)
	}
	reordered := &syntheticHistory{topic: "crash"}
	reordered.acked(0, crashRecord(0), 0, 1, true)
	reordered.acked(0, crashRecord(2), 0, 0, true)
	if errs := reordered.judge(crashPartitions, []record{at(2, 0, 0), at(0, 0, 1)}); len(errs) == 0 {
		t.Errorf("acknowledged records stored out of send order: not detected")
	}
}
