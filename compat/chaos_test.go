package compat

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/linearizability"
)

const (
	chaosPartitions = 6
	chaosProducers  = 2
	chaosConsumers  = 2
	// chaosDefaultDuration keeps the version `go test ./compat` runs
	// short; `make chaos` sets CAIRN_CHAOS_DURATION to minutes.
	chaosDefaultDuration = 20 * time.Second
	// chaosRecordsPerPace records per producer every clusterProducePace
	// (1,000 a second each): steady load under every fault, and a bounded
	// amount to read back after a ten-minute run.
	chaosRecordsPerPace = 5
	// chaosHealTimeout bounds the wait for every partition to have a
	// leader and a full ISR again after a fault. It is generous because a
	// busy two-core CI machine runs three brokers, their Raft groups and
	// the clients; a cluster that does not heal within it is a bug.
	chaosHealTimeout = 2 * time.Minute
	// chaosProgressAcks is how many more acknowledgments each producer
	// must get once the cluster has healed: proof it is available again.
	chaosProgressAcks = 500
	// chaosStableFor is how long every partition must keep a leader and a
	// full ISR to count as healed: longer than clusterSessionTimeout.
	chaosStableFor = 5 * time.Second
)

// chaosRecordKey spreads each producer's records over every partition
// (franz-go hashes keys), so each partition sees both producers.
func chaosRecordKey(seq int) string { return fmt.Sprintf("k%02d", seq%64) }

func chaosRecordValue(producer, seq int) string {
	return fmt.Sprintf("chaos-%d-%08d", producer, seq)
}

// chaosRecord is record seq of producer id.
func chaosRecord(producer, seq int) record {
	return record{Key: chaosRecordKey(seq), Value: chaosRecordValue(producer, seq)}
}

// chaosProducer produces its own numbered records at a steady pace into
// the test's history.
type chaosProducer struct {
	id       int
	client   *kgo.Client
	mu       sync.Mutex
	failures []string
	ackCount atomic.Int64
	sent     atomic.Int64
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

func startChaosProducer(t *testing.T, c *testCluster, topic string, id int, recorder *historyRecorder) *chaosProducer {
	t.Helper()
	// Idempotent, as franz-go is by default: up to five requests in
	// flight per broker, retried with their sequence numbers, so a
	// partition's records stay in send order and no record is stored
	// twice — every copy is a duplicate (Guarantee 4).
	client := newClusterProducerClient(t, c, topic, chaosHealTimeout, true)
	ctx, cancel := context.WithCancel(context.Background())
	p := &chaosProducer{id: id, client: client, cancel: cancel, done: make(chan struct{})}
	recording := &historyProducer{recorder: recorder, client: id, topic: topic, partitions: chaosPartitions, idempotent: true}
	go func() {
		defer close(p.done)
		pace := time.NewTicker(clusterProducePace)
		defer pace.Stop()
		for seq := 0; ctx.Err() == nil; seq++ {
			if seq%chaosRecordsPerPace == 0 {
				select {
				case <-pace.C:
				case <-ctx.Done():
					return
				}
			}
			p.sent.Store(int64(seq + 1))
			recording.produce(ctx, client, chaosRecord(id, seq), func(_ *kgo.Record, err error) {
				if err != nil {
					p.mu.Lock()
					defer p.mu.Unlock()
					if ctx.Err() == nil || errors.Is(err, errMispredicted) {
						p.failures = append(p.failures, fmt.Sprintf("producer %d record %d: %v", id, seq, err))
					}
					return
				}
				p.ackCount.Add(1)
			})
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// stop stops producing, lets what is in flight finish or fail, and closes
// the client.
func (p *chaosProducer) stop() {
	p.stopOnce.Do(func() {
		p.cancel()
		<-p.done
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.client.Flush(ctx)
		p.client.Close()
	})
}

func (p *chaosProducer) results() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.failures)
}

// chaosConsumer reads every partition from the start, as a live reader
// during the faults, and records each partition of each poll as a fetch of
// the test's history, in a session of its own.
type chaosConsumer struct {
	client *kgo.Client
	mu     sync.Mutex
	// position is where each partition's last poll ended; next is one past
	// the highest offset read.
	position, next map[int32]int64
	// records counts the records read.
	records    int
	errors     []string
	errorCount int
	cancel     context.CancelFunc
	done       chan struct{}
	stopOnce   sync.Once
}

func startChaosConsumer(t *testing.T, c *testCluster, topic string, id int, recorder *historyRecorder) *chaosConsumer {
	t.Helper()
	assign := map[int32]kgo.Offset{}
	for p := range int32(chaosPartitions) {
		assign[p] = kgo.NewOffset().AtStart()
	}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(c.seeds()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.FetchMaxWait(time.Second),
	)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	consumer := &chaosConsumer{
		client: client, position: map[int32]int64{}, next: map[int32]int64{},
		cancel: cancel, done: make(chan struct{}),
	}
	go func() {
		defer close(consumer.done)
		// franz-go fetches in the background, so a poll may return what
		// it fetched at any time since the previous poll began.
		fetchedSince := recorder.now()
		for ctx.Err() == nil {
			pollCall := recorder.now()
			fetches := client.PollFetches(ctx)
			pollReturn := recorder.now()
			consumer.mu.Lock()
			fetches.EachPartition(func(fetched kgo.FetchTopicPartition) {
				if fetched.Err != nil {
					// Expected while brokers die (franz-go retries them);
					// what the consumer reads is checked.
					if ctx.Err() == nil {
						consumer.errorCount++
						if len(consumer.errors) < 10 {
							consumer.errors = append(consumer.errors, fmt.Sprintf("p%d: %v", fetched.Partition, fetched.Err))
						}
					}
					return
				}
				if len(fetched.Records) == 0 {
					return
				}
				recorder.add(consumer.fetchOp(id, topic, fetched, fetchedSince, pollReturn))
			})
			consumer.mu.Unlock()
			fetchedSince = pollCall
		}
	}()
	t.Cleanup(consumer.stop)
	return consumer
}

// fetchOp is the fetch one partition of a poll makes. Called with mu held.
func (consumer *chaosConsumer) fetchOp(id int, topic string, fetched kgo.FetchTopicPartition, call, returned int64) linearizability.Op {
	first := fetched.Records[0].Offset
	op := linearizability.Op{
		Client: id, Kind: linearizability.OpFetch, Topic: topic, Partition: fetched.Partition,
		Call: call, Return: returned, Outcome: linearizability.OutcomeOK,
		FetchOffset: first, HighWatermark: fetched.HighWatermark, Session: id,
		// franz-go starts over from the log start (ConsumeResetOffset's
		// default) when a fetch is out of range, which it may be while
		// a new leader catches up; it moves forward only by reading.
		// So a poll that goes back is a reset, and one that skips ahead
		// is still the violation it looks like.
		Reset: first < consumer.position[fetched.Partition],
	}
	for _, r := range fetched.Records {
		op.Records = append(op.Records, linearizability.FetchedRecord{Offset: r.Offset, Value: historyValue(fromKgo(r))})
	}
	last := fetched.Records[len(fetched.Records)-1].Offset
	consumer.position[fetched.Partition] = last + 1
	consumer.next[fetched.Partition] = max(consumer.next[fetched.Partition], last+1)
	consumer.records += len(fetched.Records)
	return op
}

func (consumer *chaosConsumer) stop() {
	consumer.stopOnce.Do(func() {
		consumer.cancel()
		<-consumer.done
		consumer.client.Close()
	})
}

// reached reports whether the consumer has read up to end in every
// partition.
func (consumer *chaosConsumer) reached(end map[int32]int64) bool {
	consumer.mu.Lock()
	defer consumer.mu.Unlock()
	for p, offset := range end {
		if consumer.next[p] < offset {
			return false
		}
	}
	return true
}

// chaosNemesis injects one fault at a time into a cluster and heals it.
type chaosNemesis struct {
	cluster *testCluster
	admin   *kgo.Client
	topic   string
	groups  []string
	random  *rand.Rand
	actions map[string]int
}

// act picks a victim (the active controller, some partition's leader or
// the group's coordinator, found through Metadata and FindCoordinator) and
// a fault, inflicts it, and heals it: a SIGKILL followed by a restart on
// the same data directory after a short delay, or a SIGSTOP for 1-6 s
// followed by a SIGCONT. It returns a description.
func (n *chaosNemesis) act(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	states, controller, _, err := clusterMetadata(ctx, n.admin, n.topic)
	if err != nil || len(states) == 0 {
		return fmt.Sprintf("skipped: no metadata (%v)", err)
	}
	role := "controller"
	victimID := controller
	switch n.random.IntN(3) {
	case 1:
		partition := int32(n.random.IntN(chaosPartitions))
		role = fmt.Sprintf("leader of p%d", partition)
		victimID = states[partition].leader
	case 2:
		group := n.groups[n.random.IntN(len(n.groups))]
		coordinator, err := findCoordinator(ctx, n.admin, group)
		if err != nil {
			return fmt.Sprintf("skipped: no coordinator for %s (%v)", group, err)
		}
		role = "coordinator of " + group
		victimID = coordinator
		n.actions["coordinator"]++
	}
	victim := n.cluster.broker(victimID)
	if victim == nil {
		return fmt.Sprintf("skipped: no broker %d to be the %s", victimID, role)
	}
	if n.random.IntN(2) == 0 {
		delay := time.Duration(200+n.random.IntN(2800)) * time.Millisecond
		victim.proc.kill()
		time.Sleep(delay)
		if err := n.cluster.start(victim); err != nil {
			t.Fatalf("restarting broker %d after a SIGKILL: %v", victim.id, err)
		}
		n.actions["kill"]++
		return fmt.Sprintf("SIGKILL broker %d (%s), restarted after %v", victim.id, role, delay)
	}
	pause := time.Duration(1000+n.random.IntN(5000)) * time.Millisecond
	if err := victim.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP broker %d: %v", victim.id, err)
	}
	victim.paused = true
	time.Sleep(pause)
	if err := victim.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT broker %d: %v", victim.id, err)
	}
	victim.paused = false
	n.actions["pause"]++
	return fmt.Sprintf("SIGSTOP broker %d (%s) for %v", victim.id, role, pause)
}

// findCoordinator asks the cluster which broker coordinates a group.
func findCoordinator(ctx context.Context, cl *kgo.Client, group string) (int32, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKeys = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return -1, err
	}
	if len(resp.Coordinators) != 1 {
		return -1, fmt.Errorf("%d coordinators in the answer", len(resp.Coordinators))
	}
	c := resp.Coordinators[0]
	if err := kerr.ErrorForCode(c.ErrorCode); err != nil {
		return -1, err
	}
	return c.NodeID, nil
}

// waitHealed waits until every partition of topic and of __consumer_offsets
// has had a leader and a full ISR for chaosStableFor, and fails the test if
// that takes longer than chaosHealTimeout. (Only one broker is ever down at
// once; a partition must have all its replicas back before the next fault,
// or two faults in a row could take both of a partition's copies.)
func waitHealed(t *testing.T, admin *kgo.Client, topic, after string) {
	t.Helper()
	var last, offsets map[int32]partitionState
	var lastErr error
	start := time.Now()
	var healthySince time.Time
	ok := waitFor(chaosHealTimeout, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		last, _, _, lastErr = clusterMetadata(ctx, admin, topic)
		if lastErr == nil {
			offsets, _, _, lastErr = clusterMetadata(ctx, admin, "__consumer_offsets")
			if errors.Is(lastErr, kerr.UnknownTopicOrPartition) {
				lastErr = nil // no group has asked for a coordinator yet
			}
		}
		if lastErr != nil || len(last) != chaosPartitions || !fullISR(last) || !fullISR(offsets) {
			healthySince = time.Time{}
			return false
		}
		if healthySince.IsZero() {
			healthySince = time.Now()
		}
		// A broker SIGCONTed just before its session lapses is fenced,
		// and drops out of ISRs, only after metadata still showed it in
		// them; healthy means healthy for longer than a session.
		return time.Since(healthySince) >= chaosStableFor
	})
	if !ok {
		t.Fatalf("after %s: partitions without a leader or a full ISR for %v; last metadata %v, __consumer_offsets %v (err %v)", after, chaosHealTimeout, last, offsets, lastErr)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second+chaosStableFor {
		t.Logf("healing after %s took %v", after, elapsed.Round(time.Millisecond))
	}
}

// chaosDuration reads CAIRN_CHAOS_DURATION (a Go duration).
func chaosDuration(t *testing.T) time.Duration {
	value := os.Getenv("CAIRN_CHAOS_DURATION")
	if value == "" {
		return chaosDefaultDuration
	}
	duration, err := time.ParseDuration(value)
	if err != nil || duration <= 0 {
		t.Fatalf("CAIRN_CHAOS_DURATION=%q: want a positive Go duration such as 10m", value)
	}
	return duration
}

// chaosSeed is CAIRN_CHAOS_SEED, to replay a failed run's faults, or a new
// seed.
func chaosSeed(t *testing.T) uint64 {
	if value := os.Getenv("CAIRN_CHAOS_SEED"); value != "" {
		seed, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_CHAOS_SEED=%q: %v", value, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// TestChaos runs three `cairn serve` processes as one cluster under two
// franz-go producers (acks=all), two consumers and two consumer groups of two
// committing members each (one classic, one KIP-848) while a nemesis, one
// fault at a time, SIGKILLs and restarts, or SIGSTOPs and SIGCONTs, the
// active controller, a partition leader or a group's coordinator. After
// every fault it checks that the groups' acknowledged commits are still
// there. Once the nemesis stops and the cluster has healed, it reads every
// partition fully and judges the history of the producers and consumers
// with that final read as the simulator does (judgeHistory): every
// acknowledged record at its acknowledged offset, once, in send order;
// acknowledgments, live reads and the final read agreeing on every
// offset; polls without gaps and below the high watermark; a linearizable
// log. The groups must have committed up to the end, having processed
// everything below their commits (checkChaosGroup). Broker logs must
// have no panic and no data race (startCluster). CAIRN_CHAOS_DURATION sets
// how long the nemesis runs; `make chaos` runs it for minutes. The faults
// follow from the logged seed: CAIRN_CHAOS_SEED=N replays them (the timing
// of the brokers and clients still varies).
func TestChaos(t *testing.T) {
	seed := chaosSeed(t)
	// Logged first so that it heads the output of a failed run.
	t.Logf("seed=%d (CAIRN_CHAOS_SEED=%d replays this run's faults)", seed, seed)
	duration := chaosDuration(t)

	c := startCluster(t)
	t.Cleanup(func() { reportOfflinePartitions(t, c) })
	admin := newKgo(t, c.brokers[0].addr, kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(250*time.Millisecond))
	topic := uniqueTopic("chaos")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	requestTopic(ctx, t, admin, topic, chaosPartitions, clusterRF)
	cancel()
	waitHealed(t, admin, topic, "creating the topic")

	// Producers are clients 0 and 1 of the history, consumers 2 and 3.
	recorder := newHistoryRecorder()
	var producers []*chaosProducer
	for id := range chaosProducers {
		producers = append(producers, startChaosProducer(t, c, topic, id, recorder))
	}
	var consumers []*chaosConsumer
	for i := range chaosConsumers {
		consumers = append(consumers, startChaosConsumer(t, c, topic, chaosProducers+i, recorder))
	}
	groups := []*chaosGroup{startChaosGroup(t, c, topic, false), startChaosGroup(t, c, topic, true)}
	waitProgress(t, producers, "before the first fault")
	for _, group := range groups {
		if !waitFor(chaosHealTimeout, func() bool { return len(group.ackedCommits()) > 0 }) {
			t.Fatalf("group %s: no commit acknowledged within %v", group.id, chaosHealTimeout)
		}
	}
	waitHealed(t, admin, topic, "the groups' first commits")

	nemesis := &chaosNemesis{cluster: c, admin: admin, topic: topic, random: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), actions: map[string]int{}}
	for _, group := range groups {
		nemesis.groups = append(nemesis.groups, group.id)
	}
	start := time.Now()
	for step := 1; time.Since(start) < duration; step++ {
		// Only one broker is ever down or stopped, and the next fault waits
		// until the last one has healed, so the topic stays available.
		time.Sleep(time.Duration(1000+nemesis.random.IntN(3000)) * time.Millisecond)
		var acked []map[int32]int64
		for _, group := range groups {
			acked = append(acked, group.ackedCommits())
		}
		what := nemesis.act(t)
		t.Logf("nemesis %d at %v: %s", step, time.Since(start).Round(time.Millisecond), what)
		waitHealed(t, admin, topic, what)
		// Every commit acknowledged before the fault is still there.
		for i, group := range groups {
			for _, e := range checkCommitsKept(acked[i], group.committed(t, c)) {
				t.Errorf("group %s after %s: %s", group.id, what, e)
			}
		}
	}

	// Every fault is healed already; the producers must make progress on
	// the healed cluster before they stop.
	waitHealed(t, admin, topic, "the nemesis stopped")
	waitProgress(t, producers, "after the nemesis stopped")
	for _, p := range producers {
		p.stop()
	}

	// The consumers read on up to the high watermarks, so that they have
	// seen every offset the final read will check them against.
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	_, end, err := endOffsets(ctx, admin, topic, chaosPartitions)
	cancel()
	if err != nil {
		t.Fatalf("high watermarks after the run: %v", err)
	}
	for i, consumer := range consumers {
		if !waitFor(chaosHealTimeout, func() bool { return consumer.reached(end) }) {
			consumer.mu.Lock()
			t.Errorf("consumer %d did not reach the high watermarks %v within %v: at %v; fetch errors %v", i, end, chaosHealTimeout, consumer.next, consumer.errors)
			consumer.mu.Unlock()
		}
		consumer.stop()
	}
	// The groups' members commit up to the high watermarks too.
	committed := make([]map[int32]int64, len(groups))
	for i, group := range groups {
		if !waitFor(chaosHealTimeout, func() bool {
			committed[i] = group.committed(t, c)
			for p, offset := range end {
				if committed[i][p] < offset {
					return false
				}
			}
			return true
		}) {
			t.Errorf("group %s did not commit up to the high watermarks %v within %v: committed %v", group.id, end, chaosHealTimeout, committed[i])
		}
		group.stop()
	}

	final := readAll(t, c.brokers[0].addr, topic, chaosPartitions)
	sentTotal, ackTotal := 0, 0
	for _, p := range producers {
		sentTotal += int(p.sent.Load())
		ackTotal += int(p.ackCount.Load())
		// A produce fails only after chaosHealTimeout of retries: the
		// topic was unavailable for that long.
		failures := p.results()
		for _, f := range failures[:min(len(failures), 10)] {
			t.Errorf("failed produce: %s", f)
		}
	}
	readTotal, fetchErrors := 0, 0
	for i, consumer := range consumers {
		if consumer.errorCount > 0 {
			t.Logf("consumer %d: %d fetch errors while brokers failed, first %v", i, consumer.errorCount, consumer.errors)
		}
		fetchErrors += consumer.errorCount
		readTotal += consumer.records
	}
	// Every client has stopped: the history is complete.
	judgeStart := time.Now()
	judged := judgeHistory(recorder.history(), finalRead(topic, chaosPartitions, final), historyCheckTimeout)
	for _, e := range judged.report(30) {
		t.Error(e)
	}
	t.Logf("judged %d operations and %d records read back in %v: %d violations",
		judged.operations, len(final), time.Since(judgeStart).Round(time.Millisecond), len(judged.violations))
	for i, group := range groups {
		for _, v := range group.violations {
			t.Errorf("group %s: %s", group.id, v)
		}
		for _, e := range checkChaosGroup(final, committed[i], group.ackedCommits(), group.processed) {
			t.Errorf("group %s: %s", group.id, e)
		}
	}
	var groupSummary []string
	for i, group := range groups {
		committedTotal := int64(0)
		for _, offset := range committed[i] {
			committedTotal += offset
		}
		groupSummary = append(groupSummary, fmt.Sprintf("%s: %d members, %d commits acknowledged, %d records committed at the end",
			group.id, len(group.members), group.commits, committedTotal))
	}
	t.Logf("chaos summary: seed=%d duration=%v records sent=%d acknowledged=%d in the log=%d read live=%d (by %d consumers, %d fetch errors) duplicates=%d losses=%d groups: %s; nemesis actions=%d (kill %d, pause %d; %d on a group's coordinator)",
		seed, duration, sentTotal, ackTotal, len(final), readTotal, len(consumers), fetchErrors, judged.duplicates, judged.lost,
		strings.Join(groupSummary, "; "),
		nemesis.actions["kill"]+nemesis.actions["pause"], nemesis.actions["kill"], nemesis.actions["pause"], nemesis.actions["coordinator"])
}

// reportOfflinePartitions fails the test for every partition a broker
// took offline: with no disk faults injected, that is a broker bug, and the
// log line names it more precisely than a heal timeout does.
func reportOfflinePartitions(t *testing.T, c *testCluster) {
	for _, b := range c.brokers {
		log, err := os.ReadFile(b.logPath)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "partition offline until restart") {
				t.Errorf("broker %d: %s", b.id, line)
			}
		}
	}
}

// waitProgress waits until every producer has chaosProgressAcks more
// acknowledgments than now.
func waitProgress(t *testing.T, producers []*chaosProducer, what string) {
	t.Helper()
	for _, p := range producers {
		want := p.ackCount.Load() + chaosProgressAcks
		if !waitFor(chaosHealTimeout, func() bool { return p.ackCount.Load() >= want }) {
			failures := p.results()
			t.Fatalf("%s: producer %d has %d of %d acknowledgments after %v (%d sent); failures %v",
				what, p.id, p.ackCount.Load(), want, chaosHealTimeout, p.sent.Load(), failures[:min(len(failures), 10)])
		}
	}
}

// TestCheckChaos makes sure the judging of the chaos test's history
// notices each kind of inconsistency, so that a passing chaos run means
// something.
func TestCheckChaos(t *testing.T) {
	t.Parallel()
	at := func(producer, seq int, p int32, o int64) record {
		r := chaosRecord(producer, seq)
		r.Partition, r.Offset = p, o
		return r
	}
	type run struct {
		history *syntheticHistory
		final   []record
	}
	// Producer 0's record 1 was stored but never acknowledged; consumer 2
	// read p0 from offset 1 while the producers ran.
	good := func() run {
		h := &syntheticHistory{topic: "chaos"}
		h.acked(0, chaosRecord(0, 0), 0, 0, true)
		h.unknown(0, chaosRecord(0, 1), 0, true)
		h.acked(0, chaosRecord(0, 2), 0, 3, true)
		h.acked(1, chaosRecord(1, 0), 0, 1, true)
		h.acked(1, chaosRecord(1, 1), 1, 0, true)
		h.read(2, at(1, 0, 0, 1), at(0, 1, 0, 2))
		return run{h, []record{at(0, 0, 0, 0), at(1, 0, 0, 1), at(0, 1, 0, 2), at(0, 2, 0, 3), at(1, 1, 1, 0)}}
	}
	judge := func(r run) []string { return r.history.judge(chaosPartitions, r.final) }
	if errs := judge(good()); len(errs) > 0 {
		t.Fatalf("a consistent run reported as inconsistent: %v", errs)
	}
	// readAt replaces the consumer's read with records.
	readAt := func(r run, records ...record) run {
		r.history.ops = r.history.ops[:len(r.history.ops)-1]
		r.history.read(2, records...)
		return r
	}
	damages := map[string]func(r run) run{
		"acknowledged record lost": func(r run) run { r.final = r.final[:3]; return r },
		"offset gap":               func(r run) run { r.final[3].Offset = 4; return r },
		"never sent":               func(r run) run { r.final[2] = at(0, 7, 0, 2); return r },
		"key damaged":              func(r run) run { r.final[3].Key = "other"; return r },
		"two acknowledgments at one offset": func(r run) run {
			r.history.ops[3].BaseOffset = 0
			return r
		},
		"acknowledged out of send order": func(r run) run {
			r.history.ops[1].Outcome, r.history.ops[1].BaseOffset = linearizability.OutcomeOK, 3
			r.history.ops[2].BaseOffset = 2
			r.final[2], r.final[3] = at(0, 2, 0, 2), at(0, 1, 0, 3)
			return readAt(r, at(1, 0, 0, 1))
		},
		"copy after the acknowledged offset": func(r run) run { r.final = append(r.final, at(1, 1, 1, 1)); return r },
		"copy before the acknowledged offset": func(r run) run {
			r.history.ops[4].BaseOffset = 1
			r.final = append(r.final, at(1, 1, 1, 1))
			return r
		},
		"consumer read another value": func(r run) run { return readAt(r, at(1, 0, 0, 1), at(0, 2, 0, 2)) },
		"consumer read past the end":  func(r run) run { return readAt(r, at(1, 1, 1, 1)) },
		"consumer read above the high watermark": func(r run) run {
			r.history.ops[len(r.history.ops)-1].HighWatermark = 2
			return r
		},
		"consumer skipped an offset": func(r run) run {
			r = readAt(r, at(1, 0, 0, 1))
			r.history.read(2, at(0, 2, 0, 3))
			return r
		},
	}
	for name, damage := range damages {
		errs := judge(damage(good()))
		if len(errs) == 0 {
			t.Errorf("%s: not detected", name)
		}
		t.Logf("%s: %v", name, errs)
	}
}
