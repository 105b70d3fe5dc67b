package compat

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
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

// chaosRecordID is what chaosRecordValue encodes.
type chaosRecordID struct{ producer, seq int }

func parseChaosValue(value string) (chaosRecordID, bool) {
	var id chaosRecordID
	if _, err := fmt.Sscanf(value, "chaos-%d-%d", &id.producer, &id.seq); err != nil {
		return id, false
	}
	return id, value == chaosRecordValue(id.producer, id.seq)
}

// chaosProducer produces its own numbered records at a steady pace and
// remembers where each acknowledged one was stored.
type chaosProducer struct {
	id       int
	client   *kgo.Client
	mu       sync.Mutex
	acked    map[int]ack
	failures []string
	ackCount atomic.Int64
	sent     atomic.Int64
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

func startChaosProducer(t *testing.T, c *testCluster, topic string, id int) *chaosProducer {
	t.Helper()
	// Idempotent, as franz-go is by default: up to five requests in
	// flight per broker, retried with their sequence numbers, so a
	// partition's acknowledged records stay in send order and no record
	// is stored twice — every copy is a duplicate (Guarantee 4).
	client := newClusterProducerClient(t, c, topic, chaosHealTimeout, true)
	ctx, cancel := context.WithCancel(context.Background())
	p := &chaosProducer{id: id, client: client, acked: map[int]ack{}, cancel: cancel, done: make(chan struct{})}
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
			record := &kgo.Record{Key: []byte(chaosRecordKey(seq)), Value: []byte(chaosRecordValue(id, seq))}
			client.Produce(ctx, record, func(r *kgo.Record, err error) {
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					if ctx.Err() == nil {
						p.failures = append(p.failures, fmt.Sprintf("producer %d record %d: %v", id, seq, err))
					}
					return
				}
				p.acked[seq] = ack{Partition: r.Partition, Offset: r.Offset}
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

func (p *chaosProducer) results() (map[int]ack, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return copyAcks(p.acked), slices.Clone(p.failures)
}

func copyAcks(m map[int]ack) map[int]ack {
	out := make(map[int]ack, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// chaosConsumer reads every partition from the start, as a live reader
// during the faults, and remembers the value it read at each offset.
type chaosConsumer struct {
	client *kgo.Client
	mu     sync.Mutex
	read   map[int32]map[int64]string
	next   map[int32]int64 // one past the highest offset read
	// conflicts are offsets this consumer read twice (after a reset to
	// the log start) with different values.
	conflicts  []string
	errors     []string
	errorCount int
	cancel     context.CancelFunc
	done       chan struct{}
	stopOnce   sync.Once
}

func startChaosConsumer(t *testing.T, c *testCluster, topic string) *chaosConsumer {
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
		client: client, read: map[int32]map[int64]string{}, next: map[int32]int64{},
		cancel: cancel, done: make(chan struct{}),
	}
	go func() {
		defer close(consumer.done)
		for ctx.Err() == nil {
			fetches := client.PollFetches(ctx)
			consumer.mu.Lock()
			// Fetch errors are expected while brokers die (franz-go
			// retries them); what the consumer reads is checked later.
			fetches.EachError(func(_ string, p int32, err error) {
				if ctx.Err() != nil {
					return
				}
				consumer.errorCount++
				if len(consumer.errors) < 10 {
					consumer.errors = append(consumer.errors, fmt.Sprintf("p%d: %v", p, err))
				}
			})
			fetches.EachRecord(func(r *kgo.Record) {
				byOffset := consumer.read[r.Partition]
				if byOffset == nil {
					byOffset = map[int64]string{}
					consumer.read[r.Partition] = byOffset
				}
				value := string(r.Value)
				if earlier, ok := byOffset[r.Offset]; ok && earlier != value {
					consumer.conflicts = append(consumer.conflicts, fmt.Sprintf("p%d@%d read as %q, later as %q", r.Partition, r.Offset, earlier, value))
				}
				byOffset[r.Offset] = value
				consumer.next[r.Partition] = max(consumer.next[r.Partition], r.Offset+1)
			})
			consumer.mu.Unlock()
		}
	}()
	t.Cleanup(consumer.stop)
	return consumer
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
// there. Once the nemesis stops and
// the cluster has healed, it reads every partition fully and checks that
// every acknowledged record is at its acknowledged offset, in send order,
// and that producers' acknowledgments, the live consumers' reads and the
// final read agree on the value at every offset (checkChaos), and that the
// groups committed up to the end, having processed everything below their
// commits (checkChaosGroup). Broker logs must
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

	var producers []*chaosProducer
	for id := range chaosProducers {
		producers = append(producers, startChaosProducer(t, c, topic, id))
	}
	var consumers []*chaosConsumer
	for range chaosConsumers {
		consumers = append(consumers, startChaosConsumer(t, c, topic))
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
	var acked []map[int]ack
	var sent []int
	for _, p := range producers {
		acks, failures := p.results()
		acked = append(acked, acks)
		sent = append(sent, int(p.sent.Load()))
		// A produce fails only after chaosHealTimeout of retries: the
		// topic was unavailable for that long.
		for _, f := range failures[:min(len(failures), 10)] {
			t.Errorf("failed produce: %s", f)
		}
	}
	var reads []map[int32]map[int64]string
	fetchErrors := 0
	for i, consumer := range consumers {
		for _, conflict := range consumer.conflicts {
			t.Errorf("consumer %d: %s", i, conflict)
		}
		if consumer.errorCount > 0 {
			t.Logf("consumer %d: %d fetch errors while brokers failed, first %v", i, consumer.errorCount, consumer.errors)
		}
		fetchErrors += consumer.errorCount
		reads = append(reads, consumer.read)
	}
	errs, earlierCopies := checkChaos(sent, acked, final, reads)
	for _, e := range errs {
		t.Error(e)
	}
	for i, group := range groups {
		for _, v := range group.violations {
			t.Errorf("group %s: %s", group.id, v)
		}
		for _, e := range checkChaosGroup(final, committed[i], group.ackedCommits(), group.processed) {
			t.Errorf("group %s: %s", group.id, e)
		}
	}
	if earlierCopies > 0 {
		t.Errorf("%d duplicates: idempotent producers' records stored twice", earlierCopies)
	}
	sentTotal, ackTotal, readTotal := 0, 0, 0
	for i, acks := range acked {
		sentTotal += sent[i]
		ackTotal += len(acks)
	}
	for _, read := range reads {
		for _, byOffset := range read {
			readTotal += len(byOffset)
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
		seed, duration, sentTotal, ackTotal, len(final), readTotal, len(consumers), fetchErrors, earlierCopies, chaosLosses(acked, final),
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
			_, failures := p.results()
			t.Fatalf("%s: producer %d has %d of %d acknowledgments after %v (%d sent); failures %v",
				what, p.id, p.ackCount.Load(), want, chaosHealTimeout, p.sent.Load(), failures[:min(len(failures), 10)])
		}
	}
}

// checkChaos checks the final read of every partition (final, in delivery
// order) against the producers' acknowledgments (acked[producer] by seq;
// sent[producer] records were sent) and the live consumers' reads
// (reads[consumer][partition][offset] = value):
//   - offsets are dense from 0 and every value is a record a producer sent;
//   - every acknowledged record is at its acknowledged partition and
//     offset, no two acknowledgments name one offset, and a producer's
//     acknowledged records are in send order within a partition;
//   - no acknowledged record is stored again after its offset or in
//     another partition (an earlier, unacknowledged copy from a retry is
//     allowed without idempotence; their count is returned);
//   - every offset a consumer read holds, in the final read, the value it
//     read there.
func checkChaos(sent []int, acked []map[int]ack, final []record, reads []map[int32]map[int64]string) (errs []string, earlierCopies int) {
	fail := func(format string, args ...any) {
		if len(errs) < 30 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	logs := map[int32][]string{}
	copies := map[chaosRecordID][]ack{}
	for _, r := range final {
		if want := int64(len(logs[r.Partition])); r.Offset != want {
			fail("p%d: offset %d in the final read where %d was expected (offsets must be dense from 0)", r.Partition, r.Offset, want)
			return errs, earlierCopies
		}
		logs[r.Partition] = append(logs[r.Partition], r.Value)
		id, ok := parseChaosValue(r.Value)
		if !ok || id.producer < 0 || id.producer >= len(sent) || id.seq < 0 || id.seq >= sent[id.producer] {
			fail("p%d@%d: value %q is not a record a producer sent", r.Partition, r.Offset, lastBytes([]byte(r.Value), 60))
			continue
		}
		if r.Key != chaosRecordKey(id.seq) {
			fail("p%d@%d: record %v has key %q, sent with %q", r.Partition, r.Offset, id, r.Key, chaosRecordKey(id.seq))
		}
		copies[id] = append(copies[id], ack{Partition: r.Partition, Offset: r.Offset})
	}
	ackedAt := map[ack]chaosRecordID{}
	for producer, acks := range acked {
		seqs := make([]int, 0, len(acks))
		for seq := range acks {
			seqs = append(seqs, seq)
		}
		sort.Ints(seqs)
		lastInPartition := map[int32]ack{}
		for _, seq := range seqs {
			a, id := acks[seq], chaosRecordID{producer, seq}
			if other, ok := ackedAt[a]; ok {
				fail("records %v and %v both acknowledged at p%d@%d", other, id, a.Partition, a.Offset)
			}
			ackedAt[a] = id
			log := logs[a.Partition]
			switch {
			case a.Offset < 0 || a.Offset >= int64(len(log)):
				fail("record %v acknowledged at p%d@%d, but the partition ends at %d", id, a.Partition, a.Offset, len(log))
			case log[a.Offset] != chaosRecordValue(producer, seq):
				fail("record %v acknowledged at p%d@%d, but %q is there", id, a.Partition, a.Offset, log[a.Offset])
			}
			// seqs ascend, so each acknowledged record must sit after the
			// producer's previous one in the partition.
			if previous, ok := lastInPartition[a.Partition]; ok && previous.Offset >= a.Offset {
				fail("producer %d: record %d acknowledged at p%d@%d, before an earlier-sent record at offset %d", producer, seq, a.Partition, a.Offset, previous.Offset)
			}
			lastInPartition[a.Partition] = a
			for _, c := range copies[id] {
				switch {
				case c == a:
				case c.Partition != a.Partition:
					fail("record %v acknowledged at p%d@%d is also stored in p%d@%d", id, a.Partition, a.Offset, c.Partition, c.Offset)
				case c.Offset > a.Offset:
					fail("record %v acknowledged at p%d@%d is stored again after it, at offset %d", id, a.Partition, a.Offset, c.Offset)
				default:
					earlierCopies++
				}
			}
		}
	}
	for consumer, read := range reads {
		for p, byOffset := range read {
			log := logs[p]
			for offset, value := range byOffset {
				switch {
				case offset < 0 || offset >= int64(len(log)):
					fail("consumer %d read %q at p%d@%d, but the final read ends at %d", consumer, value, p, offset, len(log))
				case log[offset] != value:
					fail("consumer %d read %q at p%d@%d, the final read has %q there", consumer, value, p, offset, log[offset])
				}
			}
		}
	}
	return errs, earlierCopies
}

// TestCheckChaos makes sure the chaos checker notices each kind of
// inconsistency, so that a passing chaos run means something.
func TestCheckChaos(t *testing.T) {
	t.Parallel()
	at := func(producer, seq int, p int32, o int64) record {
		return record{Partition: p, Offset: o, Key: chaosRecordKey(seq), Value: chaosRecordValue(producer, seq)}
	}
	sent := []int{3, 2}
	acked := func() []map[int]ack {
		return []map[int]ack{{0: {0, 0}, 2: {0, 3}}, {0: {0, 1}, 1: {1, 0}}}
	}
	good := func() []record {
		// Producer 0's record 1 was stored but never acknowledged.
		return []record{at(0, 0, 0, 0), at(1, 0, 0, 1), at(0, 1, 0, 2), at(0, 2, 0, 3), at(1, 1, 1, 0)}
	}
	reads := func() []map[int32]map[int64]string {
		return []map[int32]map[int64]string{{0: {1: chaosRecordValue(1, 0), 2: chaosRecordValue(0, 1)}}}
	}
	if errs, _ := checkChaos(sent, acked(), good(), reads()); len(errs) > 0 {
		t.Fatalf("a consistent run reported as inconsistent: %v", errs)
	}
	damages := map[string]func(acks []map[int]ack, final []record, reads []map[int32]map[int64]string) []record{
		"acknowledged record lost": func(_ []map[int]ack, final []record, _ []map[int32]map[int64]string) []record {
			return final[:4]
		},
		"offset gap": func(_ []map[int]ack, final []record, _ []map[int32]map[int64]string) []record {
			final[3].Offset = 4
			return final
		},
		"never sent": func(_ []map[int]ack, final []record, _ []map[int32]map[int64]string) []record {
			final[2] = at(0, 7, 0, 2)
			return final
		},
		"two acknowledgments at one offset": func(acks []map[int]ack, final []record, _ []map[int32]map[int64]string) []record {
			acks[1][0] = ack{0, 0}
			return final
		},
		"acknowledged out of send order": func(acks []map[int]ack, final []record, _ []map[int32]map[int64]string) []record {
			acks[0][1] = ack{0, 2}
			acks[0][2] = ack{0, 0}
			return final
		},
		"copy after the acknowledged offset": func(_ []map[int]ack, final []record, _ []map[int32]map[int64]string) []record {
			return append(final, at(1, 1, 1, 1))
		},
		"consumer read another value": func(_ []map[int]ack, final []record, reads []map[int32]map[int64]string) []record {
			reads[0][0][2] = chaosRecordValue(0, 2)
			return final
		},
		"consumer read past the end": func(_ []map[int]ack, final []record, reads []map[int32]map[int64]string) []record {
			reads[0][1] = map[int64]string{1: chaosRecordValue(1, 1)}
			return final
		},
	}
	for name, damage := range damages {
		acks, readsCopy := acked(), reads()
		final := damage(acks, good(), readsCopy)
		if errs, _ := checkChaos(sent, acks, final, readsCopy); len(errs) == 0 {
			t.Errorf("%s: not detected", name)
		}
	}
}

// chaosLosses counts acknowledged records that the final read does not
// hold at their acknowledged offsets.
func chaosLosses(acked []map[int]ack, final []record) int {
	at := map[ack]string{}
	for _, r := range final {
		at[ack{Partition: r.Partition, Offset: r.Offset}] = r.Value
	}
	n := 0
	for producer, acks := range acked {
		for seq, a := range acks {
			if at[a] != chaosRecordValue(producer, seq) {
				n++
			}
		}
	}
	return n
}
