package compat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

	"cairn/linearizability"
)

const (
	clusterBrokers    = 3
	clusterPartitions = 3
	clusterRF         = 3
	// clusterRaftOffset is serve's default: Raft on the Kafka port + 100.
	clusterRaftOffset = 100
	// clusterSessionTimeout is short so that the controller fences a
	// killed broker, and moves its leaderships, a few seconds after the
	// kill rather than the default nine.
	clusterSessionTimeout = "4s"
	// clusterAcksPerPhase is how many more acknowledgments each phase of
	// the test waits for.
	clusterAcksPerPhase = 1500
	// clusterRecordsPerPace records go out every clusterProducePace (10,000
	// a second): enough load that every kill lands among produces in
	// flight, and a bounded amount of data to read back whatever the
	// machine's speed.
	clusterRecordsPerPace = 50
	clusterProducePace    = 5 * time.Millisecond
	// clusterPhaseTimeout bounds every wait of the test: for acks, for
	// leaders, for a restarted broker to rejoin the ISR.
	clusterPhaseTimeout = 60 * time.Second
)

// clusterBroker is one `cairn serve` process of a test cluster.
type clusterBroker struct {
	id      int32
	addr    string
	dataDir string
	logPath string
	proc    *brokerProc
	// paused says the test has SIGSTOPped the process.
	paused bool
}

// testCluster is three brokers on loopback, each a voter of the controller
// quorum, started from the binary TestMain built.
type testCluster struct {
	bin     string
	peers   string
	brokers []*clusterBroker
	// args are extra `cairn serve` flags for every broker.
	args []string
}

// startCluster starts every broker at once (each waits for a quorum before
// it prints its ready line) and stops them when the test ends.
func startCluster(t *testing.T, args ...string) *testCluster {
	t.Helper()
	if shared.err != nil {
		t.Fatalf("no broker binary: %v", shared.err)
	}
	base, err := freeClusterPorts(clusterBrokers, clusterRaftOffset)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &testCluster{bin: shared.bin, args: args}
	var peers []string
	for i := range clusterBrokers {
		b := &clusterBroker{
			id:      int32(i),
			addr:    fmt.Sprintf("127.0.0.1:%d", base+i),
			dataDir: filepath.Join(dir, fmt.Sprintf("node-%d", i)),
			logPath: filepath.Join(dir, fmt.Sprintf("node-%d.log", i)),
		}
		c.brokers = append(c.brokers, b)
		peers = append(peers, fmt.Sprintf("%d=%s", i, b.addr))
	}
	c.peers = strings.Join(peers, ",")
	t.Cleanup(func() {
		c.stopAll()
		for _, b := range c.brokers {
			// A broker built with -race (CAIRN_COMPAT_BIN) reports races
			// on stderr and carries on; a panic in a goroutine ends it.
			log, _ := os.ReadFile(b.logPath)
			for _, bad := range []string{"WARNING: DATA RACE", "panic:"} {
				if bytes.Contains(log, []byte(bad)) {
					t.Errorf("broker %d's log has %q: see %s", b.id, bad, b.logPath)
				}
			}
		}
		if t.Failed() {
			for _, b := range c.brokers {
				t.Logf("broker %d log (last lines, without dragonboat's):\n%s", b.id, tailWithout(b.logPath, "component=dragonboat", 40))
			}
		}
	})
	errs := make([]error, len(c.brokers))
	var wg sync.WaitGroup
	for i, b := range c.brokers {
		wg.Go(func() { errs[i] = c.start(b) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("starting the cluster: %v", err)
	}
	return c
}

// start starts (or restarts, on the same data directory) one broker and
// waits for its ready line.
func (c *testCluster) start(b *clusterBroker) error {
	args := []string{
		"--node-id", strconv.Itoa(int(b.id)), "--peers", c.peers, "--data-dir", b.dataDir,
		"--broker-session-timeout", clusterSessionTimeout,
	}
	args = append(args, c.args...)
	prefix := fmt.Sprintf("cairn: broker %d ready on ", b.id)
	proc, err := startServe(c.bin, args, prefix, b.addr, b.dataDir, b.logPath)
	if err != nil {
		return fmt.Errorf("broker %d: %w", b.id, err)
	}
	b.proc = proc
	return nil
}

// stopAll asks every live broker to shut down cleanly, all at once, so that
// the quorum stays up while each closes.
func (c *testCluster) stopAll() {
	var wg sync.WaitGroup
	for _, b := range c.brokers {
		if b.proc != nil && b.proc.alive() {
			if b.paused {
				// A stopped process would take SIGTERM only once
				// continued.
				_ = b.proc.cmd.Process.Signal(syscall.SIGCONT)
				b.paused = false
			}
			wg.Go(b.proc.stop)
		}
	}
	wg.Wait()
}

func (c *testCluster) seeds() []string {
	var out []string
	for _, b := range c.brokers {
		out = append(out, b.addr)
	}
	return out
}

func (c *testCluster) broker(id int32) *clusterBroker {
	for _, b := range c.brokers {
		if b.id == id {
			return b
		}
	}
	return nil
}

// freeClusterPorts finds count consecutive loopback ports, each free along
// with the port offset above it (its Raft port), below the ephemeral range
// so that no outgoing connection takes one meanwhile.
func freeClusterPorts(count, offset int) (int, error) {
	for range 100 {
		base := 20000 + rand.IntN(12000)
		var listeners []net.Listener
		free := true
		for i := 0; i < count && free; i++ {
			for _, port := range []int{base + i, base + i + offset} {
				l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					free = false
					break
				}
				listeners = append(listeners, l)
			}
		}
		for _, l := range listeners {
			l.Close()
		}
		if free {
			return base, nil
		}
	}
	return 0, errors.New("no free block of ports for a cluster after 100 tries")
}

// tailWithout returns the last lines of a log that do not contain skip.
func tailWithout(path, skip string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	var kept []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.Contains(line, skip) {
			kept = append(kept, line)
		}
	}
	if len(kept) > lines {
		kept = kept[len(kept)-lines:]
	}
	return strings.Join(kept, "\n")
}

// partitionState is one partition as Metadata reports it.
type partitionState struct {
	leader int32
	isr    []int32
}

// clusterMetadata asks the cluster for a topic's partitions and the active
// controller.
func clusterMetadata(ctx context.Context, cl *kgo.Client, topic string) (map[int32]partitionState, int32, []int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, -1, nil, err
	}
	var brokers []int32
	for _, b := range resp.Brokers {
		brokers = append(brokers, b.NodeID)
	}
	slices.Sort(brokers)
	out := map[int32]partitionState{}
	for _, mt := range resp.Topics {
		if mt.Topic == nil || *mt.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
			return nil, resp.ControllerID, brokers, err
		}
		for _, p := range mt.Partitions {
			isr := slices.Clone(p.ISR)
			slices.Sort(isr)
			out[p.Partition] = partitionState{leader: p.Leader, isr: isr}
		}
	}
	return out, resp.ControllerID, brokers, nil
}

// waitPartitions polls Metadata until every partition of topic satisfies
// want, and returns the last state seen.
func waitPartitions(t *testing.T, cl *kgo.Client, topic string, what string, want func(map[int32]partitionState) bool) map[int32]partitionState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterPhaseTimeout)
	defer cancel()
	var last map[int32]partitionState
	var lastErr error
	ok := waitFor(clusterPhaseTimeout, func() bool {
		requestCtx, requestCancel := context.WithTimeout(ctx, 5*time.Second)
		defer requestCancel()
		last, _, _, lastErr = clusterMetadata(requestCtx, cl, topic)
		return lastErr == nil && len(last) == clusterPartitions && want(last)
	})
	if !ok {
		t.Fatalf("%s: not within %v; last metadata %v (err %v)", what, clusterPhaseTimeout, last, lastErr)
	}
	return last
}

func fullISR(states map[int32]partitionState) bool {
	for _, s := range states {
		if s.leader < 0 || len(s.isr) != clusterRF {
			return false
		}
	}
	return true
}

// kcatBrokers returns the brokers `kcat -L` lists, as "id addr" lines.
func kcatBrokers(t *testing.T, kcat, addr string) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", addr, "-L", "-m", "10")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kcat -L: %v\n%s", err, lastBytes(stderr.Bytes(), 2000))
	}
	var brokers []string
	for _, m := range kcatBrokerLine.FindAllStringSubmatch(stdout.String(), -1) {
		brokers = append(brokers, m[1]+" "+m[2])
	}
	sort.Strings(brokers)
	return brokers, nil
}

// kcatBrokerLine is how kcat -L lists a broker: "  broker 1 at host:port"
// (with " (controller)" after one of them).
var kcatBrokerLine = regexp.MustCompile(`(?m)^\s*broker (\d+) at (\S+)`)

// requireKcatLists waits until kcat, asking broker addr, lists exactly the
// cluster's brokers.
func requireKcatLists(t *testing.T, c *testCluster, kcat, addr string) {
	t.Helper()
	var want []string
	for _, b := range c.brokers {
		want = append(want, fmt.Sprintf("%d %s", b.id, b.addr))
	}
	sort.Strings(want)
	var got []string
	var err error
	// A broker prints its ready line once its own image shows it
	// unfenced; the broker kcat asks may apply that entry a moment later.
	if !waitFor(15*time.Second, func() bool {
		got, err = kcatBrokers(t, kcat, addr)
		return err == nil && slices.Equal(got, want)
	}) {
		t.Fatalf("kcat -L -b %s: brokers %q (err %v), want %q", addr, got, err, want)
	}
}

// clusterProducer produces numbered records (crashRecord) at a steady pace
// and records them in a history.
type clusterProducer struct {
	client   *kgo.Client
	recorder *historyRecorder
	mu       sync.Mutex
	failures []string
	ackCount atomic.Int64
	sent     atomic.Int64
	cancel   context.CancelFunc
	ctx      context.Context
	done     chan struct{}
}

// newClusterProducerClient is the producer client of the cluster tests:
// acks=all, a short metadata age, and idempotent (franz-go's default) or
// not.
func newClusterProducerClient(t *testing.T, c *testCluster, topic string, retryTimeout time.Duration, idempotent bool) *kgo.Client {
	t.Helper()
	options := []kgo.Opt{
		kgo.SeedBrokers(c.seeds()...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.RetryTimeout(retryTimeout),
	}
	if !idempotent {
		options = append(options, kgo.DisableIdempotentWrite())
	}
	client, err := kgo.NewClient(options...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	return client
}

func startClusterProducer(t *testing.T, c *testCluster, topic string) *clusterProducer {
	t.Helper()
	// Not idempotent, on purpose: this test checks what a plain producer
	// gets; turning idempotence off also caps franz-go at one produce
	// request in flight per broker, under which Kafka keeps a
	// partition's acknowledged records in send order, which the checks
	// rely on. Retries can still store a record twice (see
	// judgeRetried). A short metadata age lets it find a new leader
	// soon after NOT_LEADER_OR_FOLLOWER.
	client := newClusterProducerClient(t, c, topic, clusterPhaseTimeout, false)
	t.Cleanup(client.Close)
	ctx, cancel := context.WithCancel(context.Background())
	p := &clusterProducer{client: client, recorder: newHistoryRecorder(), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	recording := &historyProducer{recorder: p.recorder, topic: topic, partitions: clusterPartitions}
	go func() {
		defer close(p.done)
		pace := time.NewTicker(clusterProducePace)
		defer pace.Stop()
		for seq := 0; ctx.Err() == nil; seq++ {
			if seq%clusterRecordsPerPace == 0 {
				select {
				case <-pace.C:
				case <-ctx.Done():
					return
				}
			}
			p.sent.Store(int64(seq + 1))
			recording.produce(ctx, client, crashRecord(seq), func(_ *kgo.Record, err error) {
				if err != nil {
					p.mu.Lock()
					defer p.mu.Unlock()
					if ctx.Err() == nil || errors.Is(err, errMispredicted) {
						p.failures = append(p.failures, fmt.Sprintf("record %d: %v", seq, err))
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

// waitAcks waits until n records in all have been acknowledged.
func (p *clusterProducer) waitAcks(t *testing.T, n int64, what string) {
	t.Helper()
	start := time.Now()
	if !waitFor(clusterPhaseTimeout, func() bool { return p.ackCount.Load() >= n }) {
		p.mu.Lock()
		failures := p.failures[:min(len(p.failures), 10)]
		p.mu.Unlock()
		t.Fatalf("%s: %d of %d records acknowledged after %v (%d sent); failures: %v", what, p.ackCount.Load(), n, clusterPhaseTimeout, p.sent.Load(), failures)
	}
	t.Logf("%s: %d acknowledged after %v", what, n, time.Since(start).Round(time.Millisecond))
}

// stop stops producing and lets what is in flight finish or fail.
func (p *clusterProducer) stop() {
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = p.client.Flush(ctx)
}

// judgeRetried judges the history of a producer without idempotence
// (startClusterProducer). Such a producer that lost an answer (its leader
// died after a follower had the batch) resends the batch, and the first
// copy, never acknowledged, stays before the acknowledged one: Kafka
// allows that, and linearizability.SeparateRetries makes each such copy a
// produce of its own. What remains must be what an idempotent producer
// gives: franz-go without idempotence keeps one request in flight per
// broker, under which Kafka keeps a partition's records in send order, so
// the producer's own records are judged as idempotent ones (once each, in
// send order). It also returns how many earlier copies it separated.
func judgeRetried(h linearizability.History, final map[linearizability.TopicPartition][]linearizability.FetchedRecord) (judgment, int) {
	separated, separatedFinal, copies := linearizability.SeparateRetries(h, final)
	for i := range h {
		if separated[i].Kind == linearizability.OpProduce {
			separated[i].Idempotent = true
		}
	}
	return judgeHistory(separated, separatedFinal, historyCheckTimeout), copies
}

// TestCheckAckedOnce makes sure the judging of a producer without
// idempotence tells a retried batch's unacknowledged first copy from real
// duplication, and still holds the records to send order.
func TestCheckAckedOnce(t *testing.T) {
	t.Parallel()
	at := func(seq int, p int32, o int64) record {
		r := crashRecord(seq)
		r.Partition, r.Offset = p, o
		return r
	}
	judge := func(acked map[int]ack, got []record) ([]string, int) {
		h := &syntheticHistory{topic: "cluster"}
		for seq := range 2 {
			a := acked[seq]
			h.acked(0, crashRecord(seq), a.Partition, a.Offset, false)
		}
		j, copies := judgeRetried(h.ops, finalRead(h.topic, clusterPartitions, got))
		return j.violations, copies
	}
	if errs, earlier := judge(map[int]ack{0: {0, 0}, 1: {0, 2}}, []record{at(0, 0, 0), at(1, 0, 1), at(1, 0, 2)}); len(errs) > 0 || earlier != 1 {
		t.Errorf("retried batch: errors %v, %d earlier copies; want none and 1", errs, earlier)
	}
	acked := map[int]ack{0: {0, 0}, 1: {0, 1}}
	if errs, _ := judge(acked, []record{at(0, 0, 0), at(1, 0, 1), at(1, 0, 2)}); len(errs) == 0 {
		t.Errorf("a copy after the acknowledged record: not detected")
	}
	if errs, _ := judge(acked, []record{at(0, 0, 0), at(1, 0, 1), at(0, 1, 0)}); len(errs) == 0 {
		t.Errorf("a copy in another partition: not detected")
	}
	if errs, _ := judge(map[int]ack{0: {0, 1}, 1: {0, 0}}, []record{at(1, 0, 0), at(0, 0, 1)}); len(errs) == 0 {
		t.Errorf("acknowledged records stored out of send order: not detected")
	}
}

// clusterFault is what TestClusterSurvivesLeaderKill and
// TestClusterSurvivesPausedLeader do to one broker.
type clusterFault struct {
	name string
	// victim picks the broker, from the partitions' leaders and the
	// active controller.
	victim func(states map[int32]partitionState, controller int32) int32
	// inflict starts the fault; recover ends it and returns once the
	// broker serves again.
	inflict func(t *testing.T, c *testCluster, b *clusterBroker)
	recover func(t *testing.T, c *testCluster, b *clusterBroker)
}

// TestClusterSurvivesLeaderKill SIGKILLs the active controller, which also
// leads a partition, and restarts it on its data directory. See
// runClusterFault.
func TestClusterSurvivesLeaderKill(t *testing.T) {
	t.Parallel()
	runClusterFault(t, clusterFault{
		name:   "kill",
		victim: func(_ map[int32]partitionState, controller int32) int32 { return controller },
		inflict: func(t *testing.T, c *testCluster, b *clusterBroker) {
			b.proc.kill()
		},
		recover: func(t *testing.T, c *testCluster, b *clusterBroker) {
			if err := c.start(b); err != nil {
				t.Fatalf("restart: %v", err)
			}
		},
	})
}

// TestClusterSurvivesPausedLeader SIGSTOPs a partition leader that is not
// the controller for longer than its session, so that the controller fences
// it and moves its leadership while it still believes it leads, then
// SIGCONTs it: a zombie leader, with its followers' fetches still parked at
// it. See runClusterFault.
func TestClusterSurvivesPausedLeader(t *testing.T) {
	t.Parallel()
	runClusterFault(t, clusterFault{
		name: "pause",
		victim: func(states map[int32]partitionState, controller int32) int32 {
			for p := range int32(clusterPartitions) {
				if leader := states[p].leader; leader != controller {
					return leader
				}
			}
			return -1
		},
		inflict: func(t *testing.T, c *testCluster, b *clusterBroker) {
			if err := b.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			b.paused = true
		},
		recover: func(t *testing.T, c *testCluster, b *clusterBroker) {
			if err := b.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			b.paused = false
		},
	})
}

// runClusterFault runs three `cairn serve` processes as one cluster (each
// broker also a Raft voter of the controller quorum) and checks, with real
// clients over TCP:
//   - kcat -L lists the three brokers;
//   - a topic with replication factor 3 gets a leader on every broker and
//     full ISRs;
//   - franz-go produces with acks=all and reads everything back;
//   - after the fault hits a partition leader, the producer carries on
//     through NOT_LEADER_OR_FOLLOWER and metadata refreshes once the
//     controller has fenced the broker and moved its leaderships;
//   - after the fault ends, the broker catches up and rejoins every ISR;
//   - the producer's history, judged with a read of everything, before
//     the fault and at the end (judgeRetried): every acknowledged record
//     at its acknowledged offset, in send order, and nowhere after it;
//     records intact; a linearizable log;
//   - after a clean stop, every partition's segment files are identical on
//     the three brokers.
func runClusterFault(t *testing.T, fault clusterFault) {
	kcat := requireTool(t, "kcat")
	c := startCluster(t)
	requireKcatLists(t, c, kcat, c.brokers[0].addr)

	admin := newKgo(t, c.brokers[0].addr, kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(250*time.Millisecond))
	topic := uniqueTopic("cluster-" + fault.name)
	createReplicatedTopic(t, admin, topic)
	states := waitPartitions(t, admin, topic, "every partition led with a full ISR", fullISR)
	leaders := map[int32]bool{}
	for _, s := range states {
		leaders[s.leader] = true
	}
	if len(leaders) != clusterBrokers {
		t.Errorf("leaders %v: want every broker to lead one of the %d partitions", states, clusterPartitions)
	}

	producer := startClusterProducer(t, c, topic)
	producer.waitAcks(t, clusterAcksPerPhase, "before the fault")
	// The producer runs on: the history is taken after the read, which
	// may hold records produced while it ran, and as of the read's start,
	// when the high watermarks it reads to were at least the end of
	// every record acknowledged so far.
	readStart := producer.recorder.now()
	got := readAll(t, c.brokers[0].addr, topic, clusterPartitions)
	before := producer.recorder.historyBefore(readStart)
	judged, _ := judgeRetried(before, finalRead(topic, clusterPartitions, got))
	for _, e := range judged.report(20) {
		t.Errorf("before the fault: %s", e)
	}
	if t.Failed() {
		t.FailNow()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	states, controller, _, err := clusterMetadata(ctx, admin, topic)
	cancel()
	if err != nil {
		t.Fatalf("finding the controller: %v", err)
	}
	victim := c.broker(fault.victim(states, controller))
	if victim == nil {
		t.Fatalf("no victim among %v (controller %d)", states, controller)
	}
	faultAt := producer.ackCount.Load()
	start := time.Now()
	fault.inflict(t, c, victim)
	t.Logf("%s broker %d (controller %d; it leads %v) with %d records acknowledged", fault.name, victim.id, controller, ledBy(states, victim.id), faultAt)

	// Acknowledgments right after the fault may be for records the victim
	// had already replicated; the ones counted after the leaders moved are
	// for records only the survivors hold.
	states = waitPartitions(t, admin, topic, "leaders moved off the broker", func(m map[int32]partitionState) bool {
		for _, s := range m {
			if s.leader < 0 || s.leader == victim.id || slices.Contains(s.isr, victim.id) {
				return false
			}
		}
		return true
	})
	t.Logf("leaders and ISRs without broker %d after %v: %v (%d records acknowledged since the fault)",
		victim.id, time.Since(start).Round(time.Millisecond), states, producer.ackCount.Load()-faultAt)
	producer.waitAcks(t, producer.ackCount.Load()+clusterAcksPerPhase, "with the broker out")

	fault.recover(t, c, victim)
	requireKcatLists(t, c, kcat, victim.addr)
	waitPartitions(t, admin, topic, "the broker back in every ISR", fullISR)
	producer.waitAcks(t, producer.ackCount.Load()+clusterAcksPerPhase, "after it recovered")

	producer.stop()
	producer.mu.Lock()
	failures := slices.Clone(producer.failures)
	producer.mu.Unlock()
	if len(failures) > 0 {
		t.Errorf("%d records failed while the producer was running (it retries for %v): %v", len(failures), clusterPhaseTimeout, failures[:min(len(failures), 10)])
	}
	history := producer.recorder.history()
	t.Logf("%d records sent, %d acknowledged", producer.sent.Load(), producer.ackCount.Load())
	got = readAll(t, c.brokers[0].addr, topic, clusterPartitions)
	judged, earlier := judgeRetried(history, finalRead(topic, clusterPartitions, got))
	for _, e := range judged.report(20) {
		t.Error(e)
	}
	t.Logf("judged %d operations and %d records read back: %d violations", judged.operations, len(got), len(judged.violations))
	if earlier > 0 {
		t.Logf("%d unacknowledged first copies of retried records (allowed without idempotence)", earlier)
	}

	// The logs of replicas in sync and at rest are the same bytes: a
	// follower appends the leader's batches as they are.
	c.stopAll()
	for p := range int32(clusterPartitions) {
		compareReplicas(t, c, topic, p)
	}
}

func ledBy(states map[int32]partitionState, broker int32) []int32 {
	var out []int32
	for p, s := range states {
		if s.leader == broker {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// createReplicatedTopic creates the test's topic through the controller
// (franz-go sends CreateTopics there).
func createReplicatedTopic(t *testing.T, cl *kgo.Client, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	requestTopic(ctx, t, cl, topic, clusterPartitions, clusterRF)
}

// compareReplicas checks that the three brokers hold the same segment files,
// byte for byte, for one partition.
func compareReplicas(t *testing.T, c *testCluster, topic string, partition int32) {
	t.Helper()
	var reference map[string][]byte
	var referenceID int32
	for _, b := range c.brokers {
		dir := filepath.Join(b.dataDir, fmt.Sprintf("%s-%d", topic, partition))
		names, err := filepath.Glob(filepath.Join(dir, "*.log"))
		if err != nil || len(names) == 0 {
			t.Errorf("broker %d has no segment files for partition %d in %s (%v)", b.id, partition, dir, err)
			continue
		}
		segments := map[string][]byte{}
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			segments[filepath.Base(name)] = data
		}
		if reference == nil {
			reference, referenceID = segments, b.id
			continue
		}
		for name, data := range segments {
			if want, ok := reference[name]; !ok {
				t.Errorf("partition %d: broker %d has segment %s, broker %d has not", partition, b.id, name, referenceID)
			} else if !bytes.Equal(data, want) {
				t.Errorf("partition %d: segment %s differs between broker %d (%d bytes) and broker %d (%d bytes)", partition, name, referenceID, len(want), b.id, len(data))
			}
		}
		for name := range reference {
			if _, ok := segments[name]; !ok {
				t.Errorf("partition %d: broker %d has segment %s, broker %d has not", partition, referenceID, name, b.id)
			}
		}
	}
}
