package compat

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The consumer groups of the chaos test: two groups of chaosGroupMembers
// franz-go members each, one on the classic protocol (cooperative-sticky,
// assigned by the client) and one on KIP-848's (assigned by the
// coordinator), consume the chaos topic while the nemesis kills and pauses
// brokers, the groups' coordinators among them. Each member processes what it polls, then commits exactly that,
// and commits again when partitions are revoked. The test remembers every
// commit the coordinator acknowledged and checks (checkChaosGroup):
//   - a committed offset survives every fault: after each heal the
//     committed offsets are at least the highest acknowledged before the
//     fault, and at the end at least the highest ever acknowledged;
//   - no acknowledged commit is beyond what its member had processed;
//   - nothing committed was skipped: every record below the final
//     committed offset of its partition was processed by some member, with
//     the value the final read has there;
//   - the group finishes: once the producers stop, the committed offsets
//     reach the high watermarks.
const chaosGroupMembers = 2

// chaosGroup is the group's members and what they processed and committed.
type chaosGroup struct {
	id    string
	topic string
	// kip848 says the members use the consumer protocol of KIP-848.
	kip848  bool
	members []*chaosGroupMember

	mu sync.Mutex
	// processed[p][offset] is the value some member processed there
	// ("" where none has yet).
	processed map[int32][]string
	// acked is the highest acknowledged commit per partition.
	acked map[int32]int64
	// commits counts acknowledged commit requests.
	commits int
	// violations are broken rules seen while the test runs.
	violations []string
}

// chaosGroupMember is one member: a kgo group consumer and the position it
// has processed to in each partition (one past the last record).
type chaosGroupMember struct {
	index     int
	client    *kgo.Client
	processed map[int32]int64 // guarded by the group's mu
	cancel    context.CancelFunc
	done      chan struct{}
	stopOnce  sync.Once
}

func startChaosGroup(t *testing.T, c *testCluster, topic string, kip848 bool) *chaosGroup {
	t.Helper()
	id := topic + "-classic"
	if kip848 {
		id = topic + "-consumer"
	}
	g := &chaosGroup{id: id, topic: topic, kip848: kip848, processed: map[int32][]string{}, acked: map[int32]int64{}}
	for i := range chaosGroupMembers {
		g.members = append(g.members, g.startMember(t, c, i))
	}
	return g
}

func (g *chaosGroup) violate(format string, args ...any) {
	if len(g.violations) < 30 {
		g.violations = append(g.violations, fmt.Sprintf(format, args...))
	}
}

func (g *chaosGroup) startMember(t *testing.T, c *testCluster, index int) *chaosGroupMember {
	t.Helper()
	m := &chaosGroupMember{index: index, processed: map[int32]int64{}, done: make(chan struct{})}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.seeds()...),
		kgo.ConsumerGroup(g.id),
		kgo.ConsumeTopics(g.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.FetchMaxWait(time.Second),
		kgo.SessionTimeout(15 * time.Second),
		kgo.RebalanceTimeout(30 * time.Second),
		kgo.HeartbeatInterval(time.Second),
		kgo.RetryTimeout(chaosHealTimeout),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			g.commit(ctx, m, cl)
		}),
	}
	if g.kip848 {
		opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer())
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	m.client = client
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fetches := client.PollFetches(ctx)
			g.mu.Lock()
			fetches.EachRecord(func(r *kgo.Record) { g.process(m, r) })
			g.mu.Unlock()
			g.commit(ctx, m, client)
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// process records that member m processed r. Called with g.mu held.
func (g *chaosGroup) process(m *chaosGroupMember, r *kgo.Record) {
	values := g.processed[r.Partition]
	for int64(len(values)) <= r.Offset {
		values = append(values, "")
	}
	value := string(r.Value)
	if earlier := values[r.Offset]; earlier != "" && earlier != value {
		g.violate("p%d@%d processed as %q, later as %q (member %d)", r.Partition, r.Offset, earlier, value, m.index)
	}
	values[r.Offset] = value
	g.processed[r.Partition] = values
	m.processed[r.Partition] = r.Offset + 1
}

// commit commits what member m has polled, and so processed, and records
// every partition the coordinator acknowledged.
func (g *chaosGroup) commit(ctx context.Context, m *chaosGroupMember, cl *kgo.Client) {
	offsets := cl.UncommittedOffsets()
	if len(offsets) == 0 {
		return
	}
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil || resp == nil {
			return // failed or abandoned: nothing acknowledged
		}
		sent := map[int32]int64{}
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == g.topic {
					sent[rp.Partition] = rp.Offset
				}
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		acked := false
		for _, topic := range resp.Topics {
			if topic.Topic != g.topic {
				continue
			}
			for _, p := range topic.Partitions {
				offset, ok := sent[p.Partition]
				if !ok || kerr.ErrorForCode(p.ErrorCode) != nil {
					continue
				}
				acked = true
				if processed := m.processed[p.Partition]; offset > processed {
					g.violate("member %d: commit of p%d at %d acknowledged, but it had processed only to %d", m.index, p.Partition, offset, processed)
				}
				g.acked[p.Partition] = max(g.acked[p.Partition], offset)
			}
		}
		if acked {
			g.commits++
		}
	})
}

func (m *chaosGroupMember) stop() {
	m.stopOnce.Do(func() {
		m.cancel()
		<-m.done
		m.client.Close()
	})
}

func (g *chaosGroup) stop() {
	for _, m := range g.members {
		m.stop()
	}
}

// ackedCommits returns the highest acknowledged commit of each partition.
func (g *chaosGroup) ackedCommits() map[int32]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.acked)
}

// committed asks the cluster for the group's committed offsets, through a
// fresh client each attempt (a client's cached coordinator may be the
// broker that just died), until an answer comes or chaosHealTimeout ends.
func (g *chaosGroup) committed(t *testing.T, c *testCluster) map[int32]int64 {
	t.Helper()
	var got map[int32]int64
	var last error
	ok := waitFor(chaosHealTimeout, func() bool {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RetryTimeout(5*time.Second))
		if err != nil {
			last = err
			return false
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := kadm.NewClient(cl).FetchOffsets(ctx, g.id)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			last = err
			return false
		}
		got = map[int32]int64{}
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Topic == g.topic {
				got[o.Partition] = o.At
			}
		})
		return true
	})
	if !ok {
		t.Fatalf("the committed offsets of group %s: no answer within %v (last error %v)", g.id, chaosHealTimeout, last)
	}
	return got
}

// checkCommitsKept fails the test for every partition whose committed
// offset is below the highest acknowledged before (a commit lost or moved
// backwards).
func checkCommitsKept(before, now map[int32]int64) []string {
	var errs []string
	for _, p := range slices.Sorted(maps.Keys(before)) {
		if now[p] < before[p] {
			errs = append(errs, fmt.Sprintf("p%d: committed offset %d, but %d had been acknowledged", p, now[p], before[p]))
		}
	}
	return errs
}

// checkChaosGroup checks the group's final committed offsets against the
// final read of every partition (final, in delivery order), the highest
// acknowledged commits and what the members processed.
func checkChaosGroup(final []record, committed, acked map[int32]int64, processed map[int32][]string) []string {
	errs := checkCommitsKept(acked, committed)
	logs := map[int32][]string{}
	for _, r := range final {
		logs[r.Partition] = append(logs[r.Partition], r.Value)
	}
	for _, p := range slices.Sorted(maps.Keys(committed)) {
		offset, log, values := committed[p], logs[p], processed[p]
		if offset > int64(len(log)) {
			errs = append(errs, fmt.Sprintf("p%d: committed offset %d is past the log's end %d", p, offset, len(log)))
			continue
		}
		for o := range offset {
			switch {
			case o >= int64(len(values)) || values[o] == "":
				errs = append(errs, fmt.Sprintf("p%d@%d: below the committed offset %d, but no member processed it", p, o, offset))
			case values[o] != log[o]:
				errs = append(errs, fmt.Sprintf("p%d@%d: processed %q, the final read has %q", p, o, values[o], log[o]))
			default:
				continue
			}
			break // one report per partition is enough
		}
	}
	return errs
}

// TestCheckChaosGroup makes sure checkChaosGroup notices each kind of
// inconsistency, so that a passing chaos run means something.
func TestCheckChaosGroup(t *testing.T) {
	t.Parallel()
	final := []record{{Partition: 0, Offset: 0, Value: "a"}, {Partition: 0, Offset: 1, Value: "b"}, {Partition: 1, Offset: 0, Value: "c"}}
	good := func() (map[int32]int64, map[int32]int64, map[int32][]string) {
		return map[int32]int64{0: 2, 1: 1}, map[int32]int64{0: 2, 1: 1}, map[int32][]string{0: {"a", "b"}, 1: {"c"}}
	}
	committed, acked, processed := good()
	if errs := checkChaosGroup(final, committed, acked, processed); len(errs) > 0 {
		t.Fatalf("a consistent group reported as inconsistent: %v", errs)
	}
	damages := map[string]func(committed, acked map[int32]int64, processed map[int32][]string){
		"acknowledged commit lost":  func(c, _ map[int32]int64, _ map[int32][]string) { c[0] = 1 },
		"commit never stored":       func(c, _ map[int32]int64, _ map[int32][]string) { delete(c, 1) },
		"committed but unprocessed": func(_, _ map[int32]int64, p map[int32][]string) { p[0][0] = "" },
		"processed another value":   func(_, _ map[int32]int64, p map[int32][]string) { p[1][0] = "x" },
		"committed past the end":    func(c, a map[int32]int64, p map[int32][]string) { c[1], a[1], p[1] = 2, 2, []string{"c", "d"} },
	}
	for name, damage := range damages {
		committed, acked, processed := good()
		damage(committed, acked, processed)
		if errs := checkChaosGroup(final, committed, acked, processed); len(errs) == 0 {
			t.Errorf("%s: not detected", name)
		}
	}
}
