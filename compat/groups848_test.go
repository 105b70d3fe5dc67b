package compat

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The consumer group protocol of KIP-848 with franz-go's
// kgo.ServerSideBalancer(): the broker computes the assignment.

// groups848Args start brokers with a short consumer-group heartbeat
// interval, so that a rebalance (revoke, then assign) takes a second or
// two rather than Kafka's 5 s heartbeats.
var groups848Args = []string{"--group-consumer-heartbeat-interval", "300ms", "--group-consumer-session-timeout", "15s"}

// ownership checks, across every member of one group, that no partition is
// owned by two members at once: a member is told a partition (its
// OnPartitionsAssigned) only after the previous owner's
// OnPartitionsRevoked returned, because the coordinator gives it away
// only once the previous owner's heartbeat reported it released.
type ownership struct {
	mu         sync.Mutex
	owner      map[int32]string
	violations []string
	assigns    int
}

func (o *ownership) assigned(member string, ps map[string][]int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, parts := range ps {
		for _, p := range parts {
			if prev, ok := o.owner[p]; ok && prev != member {
				o.violations = append(o.violations, fmt.Sprintf("partition %d assigned to %s while %s owns it", p, member, prev))
			}
			o.owner[p] = member
			o.assigns++
		}
	}
}

func (o *ownership) released(member string, ps map[string][]int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, parts := range ps {
		for _, p := range parts {
			if o.owner[p] == member {
				delete(o.owner, p)
			}
		}
	}
}

func (o *ownership) check(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.violations) > 0 {
		t.Fatalf("%d ownership violations: %s", len(o.violations), strings.Join(o.violations, "; "))
	}
}

// start848Member starts a franz-go member using the consumer protocol: it
// polls, records what it read, and commits after every poll and on every
// revocation.
func start848Member(t *testing.T, seeds kgo.Opt, name, topic, groupID string, balancer kgo.GroupBalancer,
	log *groupLog, own *ownership) *groupMember {
	t.Helper()
	m := &groupMember{done: make(chan struct{})}
	cl, err := kgo.NewClient(seeds, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(groupID),
		kgo.Balancers(balancer), kgo.ServerSideBalancer(), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.RebalanceTimeout(20*time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { own.assigned(name, ps) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, c *kgo.Client, ps map[string][]int32) {
			if err := c.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("%s: commit on revoke: %v", name, err)
			}
			own.released(name, ps)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { own.released(name, ps) }),
	)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			// Slow enough (about 800 records a second per member)
			// that members join and leave mid-stream.
			fetches := cl.PollRecords(ctx, 20)
			fetches.EachRecord(log.add)
			if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
				t.Logf("%s: commit: %v", name, err)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}()
	return m
}

// TestGroups848 runs three franz-go members with the consumer protocol,
// once asking for the range assignor and once for uniform (the sticky
// balancers): they join and leave while records are consumed and
// committed. Every record is consumed, no partition is ever owned by two
// members at once, the committed offsets reach the end of every
// partition, kadm's DescribeConsumerGroups shows the group as the broker
// sees it, and ListGroups filters it by type.
func TestGroups848(t *testing.T) {
	addr := start848Broker(t)
	for _, tc := range []struct {
		name, assignor string
		balancer       kgo.GroupBalancer
	}{
		{"range", "range", kgo.RangeBalancer()},
		{"cooperative-sticky", "uniform", kgo.CooperativeStickyBalancer()},
		{"sticky", "uniform", kgo.StickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run848Group(t, addr, tc.assignor, tc.balancer)
		})
	}
}

// start848Broker starts a standalone broker of its own with groups848Args.
func start848Broker(t *testing.T) string {
	t.Helper()
	if shared.err != nil {
		t.Fatalf("no broker binary: %v", shared.err)
	}
	dir := t.TempDir()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := startServe(shared.bin, append([]string{"--listen", addr, "--data-dir", filepath.Join(dir, "data")}, groups848Args...),
		readyPrefix, addr, filepath.Join(dir, "data"), filepath.Join(dir, "broker.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		proc.stop()
		if t.Failed() {
			t.Logf("broker log:\n%s", tailFile(proc.logPath, 60))
		}
	})
	return addr
}

// TestGroups848StaticMember: a consumer-protocol member with a
// group.instance.id reads and commits, and shuts down leaving with epoch -2
// (its instance keeps its assignment). A new process with the same
// instance id takes its place under a new member id without a new group
// epoch, and resumes at the committed offsets.
//
// franz-go v1.22.2 sends that leave without the instance id, which Kafka
// (and Cairn) refuse as INVALID_REQUEST, so the member would linger until
// its session timeout and the new process would get
// UNRELEASED_INSTANCE_ID meanwhile: the test checks that refusal, then
// sends the leave as the Java client does.
func TestGroups848StaticMember(t *testing.T) {
	addr := start848Broker(t)
	topic := uniqueTopic("kgo-848-static")
	groupID := topic + "-group"
	createTopic(t, addr, topic, 2)
	produceN(t, addr, topic, 100, "a")
	admin := newKgo(t, addr)
	adm := kadm.NewClient(admin)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	describe := func() kadm.DescribedConsumerGroup {
		t.Helper()
		described, err := adm.DescribeConsumerGroups(ctx, groupID)
		if err != nil || described[groupID].Err != nil {
			t.Fatalf("describe: %v %v", err, described[groupID].Err)
		}
		return described[groupID]
	}
	leave := func(memberID string, instance *string) int16 {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = groupID, memberID, -2, instance
		resp, err := req.RequestWith(ctx, admin)
		if err != nil {
			t.Fatalf("leave: %v", err)
		}
		return resp.ErrorCode
	}
	var epoch int32
	consume := func(prefix string, n int) string {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(groupID),
			kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer(),
			kgo.InstanceID("static-848"), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		consumeOnlyNew(t, ctx, cl, prefix, n)
		g := describe()
		if len(g.Members) != 1 || g.Members[0].InstanceID == nil || *g.Members[0].InstanceID != "static-848" {
			t.Fatalf("group %s: %d members, want the one static member: %+v", groupID, len(g.Members), g.Members)
		}
		if epoch != 0 && g.Epoch != epoch {
			t.Fatalf("the static member's return moved the group epoch from %d to %d", epoch, g.Epoch)
		}
		epoch = g.Epoch
		return g.Members[0].MemberID
	}
	first := consume("a", 100)
	instance := "static-848"
	if code := leave(first, nil); code != kerr.InvalidRequest.Code {
		t.Fatalf("a leave with epoch -2 and no instance id: %s, want INVALID_REQUEST", kerr.ErrorForCode(code))
	}
	if code := leave(first, &instance); code != 0 {
		t.Fatalf("the static member's leave: %v", kerr.ErrorForCode(code))
	}
	// Left for now: still a member (epoch -2), its partitions its own.
	if g := describe(); len(g.Members) != 1 || g.Members[0].MemberEpoch != -2 || len(g.Members[0].Assignment[topic]) != 2 {
		t.Fatalf("after the static member left: %+v", g.Members)
	}
	produceN(t, addr, topic, 50, "b")
	if second := consume("b", 50); second == first {
		t.Fatalf("the new process has the old member id %s", first)
	}
}

func run848Group(t *testing.T, addr, assignor string, balancer kgo.GroupBalancer) {
	seeds := kgo.SeedBrokers(addr)
	topic := uniqueTopic("kgo-848-" + assignor)
	groupID := topic + "-group"
	createTopic(t, addr, topic, groupPartitions)
	produceN(t, addr, topic, groupRecords, "a")

	log := &groupLog{seen: map[string]int{}}
	own := &ownership{owner: map[int32]string{}}
	a := start848Member(t, seeds, "A", topic, groupID, balancer, log, own)
	mustWait(t, 60*time.Second, "500 records", func() bool { return log.distinct() >= 500 })
	b := start848Member(t, seeds, "B", topic, groupID, balancer, log, own)
	mustWait(t, 60*time.Second, "1000 records", func() bool { return log.distinct() >= 1000 })
	c := start848Member(t, seeds, "C", topic, groupID, balancer, log, own)
	mustWait(t, 60*time.Second, "1500 records", func() bool { return log.distinct() >= 1500 })

	adm := kadm.NewClient(newKgo(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// With three members, the broker's assignment settles: each member
	// owns two of the six partitions.
	var last string
	if !waitFor(30*time.Second, func() bool {
		described, err := adm.DescribeConsumerGroups(ctx, groupID)
		g := described[groupID]
		if err != nil || g.Err != nil {
			last = fmt.Sprintf("%v %v", err, g.Err)
			return false
		}
		var shares []int
		var detail []string
		for _, m := range g.Members {
			shares = append(shares, len(m.Assignment[topic]))
			detail = append(detail, fmt.Sprintf("%s epoch %d owns %v target %v", m.ClientID, m.MemberEpoch,
				m.Assignment.Sorted(), m.TargetAssignment.Sorted()))
		}
		sort.Ints(shares)
		last = fmt.Sprintf("state %s epoch %d/%d assignor %s shares %v: %s", g.State, g.Epoch, g.AssignmentEpoch,
			g.AssignorName, shares, strings.Join(detail, "; "))
		return g.State == "Stable" && g.AssignorName == assignor && fmt.Sprint(shares) == "[2 2 2]"
	}) {
		t.Fatalf("DescribeConsumerGroups with three members: %s", last)
	}
	t.Logf("three members: %s", last)
	listed, err := adm.ListGroupsByType(ctx, []string{"consumer"})
	if err != nil || !slices.Contains(listed.Groups(), groupID) {
		t.Fatalf("ListGroups by type consumer: %v %v", err, listed.Groups())
	}
	classic, err := adm.ListGroupsByType(ctx, []string{"classic"})
	if err != nil || slices.Contains(classic.Groups(), groupID) {
		t.Fatalf("ListGroups by type classic lists the consumer group: %v %v", err, classic.Groups())
	}

	b.stop()
	mustWait(t, 60*time.Second, "2000 records", func() bool { return log.distinct() >= 2000 })
	c.stop()
	mustWait(t, 90*time.Second, "every record", func() bool { return log.distinct() >= groupRecords })
	own.check(t)

	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	requireCommittedToEnd(t, ctx, adm, topic, groupID, ends)
	a.stop()
	mustWait(t, 30*time.Second, "the group to empty", func() bool {
		described, err := adm.DescribeConsumerGroups(ctx, groupID)
		return err == nil && described[groupID].State == "Empty"
	})
	own.check(t)
	t.Logf("%d records consumed %d times; %d partition assignments", groupRecords, log.n, own.assigns)

	// A new member resumes at the committed offsets.
	produceN(t, addr, topic, 100, "b")
	fresh := &groupLog{seen: map[string]int{}}
	d := start848Member(t, seeds, "D", topic, groupID, balancer, fresh, own)
	defer d.stop()
	requireResumed(t, fresh, 100, 'b')
}

// TestGroups848CoordinatorKill: on three brokers, three consumer-protocol
// members consume and commit while the broker coordinating their group is
// SIGKILLed. A surviving broker replays the group from __consumer_offsets
// and carries on with the same members; every record is consumed, no
// partition is owned twice at once, and the committed offsets reach the
// end of every partition.
func TestGroups848CoordinatorKill(t *testing.T) {
	c := startCluster(t, groups848Args...)
	seeds := kgo.SeedBrokers(c.seeds()...)
	admin := kadm.NewClient(newKgoOpts(t, seeds))
	ctx, cancel := context.WithTimeout(context.Background(), 4*clusterPhaseTimeout)
	defer cancel()
	topic := uniqueTopic("group848-failover")
	groupID := topic + "-group"
	if _, err := admin.CreateTopic(ctx, groupPartitions, clusterRF, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	produceTo(t, ctx, seeds, topic, "a", 1500)

	log := &groupLog{seen: map[string]int{}}
	own := &ownership{owner: map[int32]string{}}
	var members []*groupMember
	for _, name := range []string{"A", "B", "C"} {
		members = append(members, start848Member(t, seeds, name, topic, groupID, kgo.CooperativeStickyBalancer(), log, own))
	}
	defer func() {
		for _, m := range members {
			m.stop()
		}
	}()
	mustWait(t, clusterPhaseTimeout, "700 records", func() bool { return log.distinct() >= 700 })

	coordinator := admin.FindGroupCoordinators(ctx, groupID)[groupID]
	if coordinator.Err != nil {
		t.Fatalf("find coordinator: %v", coordinator.Err)
	}
	victim := c.broker(coordinator.NodeID)
	t.Logf("killing broker %d, the coordinator of %s", victim.id, groupID)
	victim.proc.kill()
	produceTo(t, ctx, seeds, topic, "b", 500)
	mustWait(t, 2*clusterPhaseTimeout, "every record after the kill", func() bool { return log.distinct() >= 2000 })
	own.check(t)

	fresh := kadm.NewClient(newKgoOpts(t, kgo.SeedBrokers(c.seeds()...)))
	var last string
	if !waitFor(clusterPhaseTimeout, func() bool {
		ends, err := fresh.ListEndOffsets(ctx, topic)
		if err != nil {
			last = err.Error()
			return false
		}
		committed, err := fresh.FetchOffsets(ctx, groupID)
		if err != nil {
			last = err.Error()
			return false
		}
		ok := true
		ends.Each(func(e kadm.ListedOffset) {
			o, found := committed.Lookup(topic, e.Partition)
			if e.Offset == 0 {
				return // the producer's sticky partitioner left it empty
			}
			if !found || o.At != e.Offset {
				ok = false
				last = fmt.Sprintf("partition %d: committed %d (%v), end %d", e.Partition, o.At, found, e.Offset)
			}
		})
		return ok
	}) {
		t.Fatalf("committed offsets after the failover: %s", last)
	}
	moved := fresh.FindGroupCoordinators(ctx, groupID)[groupID]
	if moved.Err != nil || moved.NodeID == victim.id {
		t.Fatalf("the coordinator after the kill: %+v", moved)
	}
	described, err := fresh.DescribeConsumerGroups(ctx, groupID)
	if err != nil || described[groupID].Err != nil {
		t.Fatalf("describe after the failover: %v %+v", err, described[groupID])
	}
	g := described[groupID]
	t.Logf("broker %d coordinates %s now: state %s, epoch %d, %d members", moved.NodeID, groupID, g.State, g.Epoch, len(g.Members))
	if len(g.Members) != 3 {
		t.Fatalf("after the failover the group has %d members, want the 3 that never left", len(g.Members))
	}
}
