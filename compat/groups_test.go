package compat

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	groupRecords    = 3000
	groupPartitions = 6
)

// produceN writes n records to topic with franz-go and waits for all,
// uncompressed: kafka-python and kafkajs lack snappy.
func produceN(t *testing.T, addr, topic string, n int, prefix string) {
	t.Helper()
	cl := newKgo(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	records := make([]*kgo.Record, n)
	for i := range records {
		records[i] = &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%16)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
	}
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// groupLog collects what every member of a group consumed.
type groupLog struct {
	mu   sync.Mutex
	seen map[string]int // value -> times consumed
	n    int
}

func (l *groupLog) add(r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[string(r.Value)]++
	l.n++
}

func (l *groupLog) distinct() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

// groupMember is one franz-go consumer of the group, committing what it
// processed after every poll and on every revocation.
type groupMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func startMember(t *testing.T, addr, topic, groupID string, balancer kgo.GroupBalancer, log *groupLog) *groupMember {
	t.Helper()
	m := &groupMember{done: make(chan struct{})}
	var cl *kgo.Client
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(groupID),
		kgo.Balancers(balancer), kgo.DisableAutoCommit(), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.SessionTimeout(10*time.Second), kgo.RebalanceTimeout(20*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.OnPartitionsRevoked(func(ctx context.Context, c *kgo.Client, _ map[string][]int32) {
			if err := c.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("commit on revoke: %v", err)
			}
		}),
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
			fetches := cl.PollRecords(ctx, 50)
			fetches.EachRecord(log.add)
			if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
				t.Logf("commit: %v", err)
			}
			time.Sleep(5 * time.Millisecond) // slow enough that members come and go mid-stream
		}
	}()
	return m
}

// stop commits, leaves the group and closes the client.
func (m *groupMember) stop() {
	m.cancel()
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.cl.CommitUncommittedOffsets(ctx)
	m.cl.Close() // leaves the group
}

// consumeOnlyNew polls a group member until it has read n distinct
// records, fails the test on any whose value does not start with prefix
// (one committed before this process started), and commits what it read.
func consumeOnlyNew(t *testing.T, ctx context.Context, cl *kgo.Client, prefix string, n int) {
	t.Helper()
	seen := map[string]bool{}
	for len(seen) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(seen), n)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if string(r.Value[:1]) != prefix {
				t.Fatalf("read %q, committed before this process started", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// requireCommittedToEnd waits until the group has committed the end
// offset of every partition of topic.
func requireCommittedToEnd(t *testing.T, ctx context.Context, adm *kadm.Client, topic, groupID string, ends kadm.ListedOffsets) {
	t.Helper()
	mustWait(t, 30*time.Second, "commits at the end of every partition", func() bool {
		committed, err := adm.FetchOffsets(ctx, groupID)
		if err != nil {
			return false
		}
		ok := true
		ends.Each(func(e kadm.ListedOffset) {
			o, found := committed.Lookup(topic, e.Partition)
			if !found || o.At != e.Offset {
				ok = false
			}
		})
		return ok
	})
}

// requireResumed waits until a member that joined after the group's
// commits has consumed n distinct records, then a little longer, and fails
// the test if any it consumed was not one of the new ones (values starting
// with prefix): it must have resumed at the committed offsets.
func requireResumed(t *testing.T, fresh *groupLog, n int, prefix byte) {
	t.Helper()
	mustWait(t, 60*time.Second, fmt.Sprintf("the %d new records", n), func() bool { return fresh.distinct() >= n })
	time.Sleep(500 * time.Millisecond)
	fresh.mu.Lock()
	defer fresh.mu.Unlock()
	for v := range fresh.seen {
		if v[0] != prefix {
			t.Fatalf("a new member consumed %q, committed before it joined", v)
		}
	}
}

func mustWait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitFor(timeout, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestKgoGroup runs franz-go group consumers with the range and the
// cooperative-sticky balancers: three members join and leave while records
// are consumed and committed; every record is consumed, the committed
// offsets reach the end of every partition, and a new member after the
// group emptied starts at the committed offsets (it sees only new records).
func TestKgoGroup(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := sharedAddr(t)
			topic := uniqueTopic("kgo-group-" + tc.name)
			groupID := topic + "-group"
			createTopic(t, addr, topic, groupPartitions)
			produceN(t, addr, topic, groupRecords, "a")

			log := &groupLog{seen: map[string]int{}}
			a := startMember(t, addr, topic, groupID, tc.balancer, log)
			mustWait(t, 60*time.Second, "500 records", func() bool { return log.distinct() >= 500 })
			b := startMember(t, addr, topic, groupID, tc.balancer, log)
			mustWait(t, 60*time.Second, "1000 records", func() bool { return log.distinct() >= 1000 })
			c := startMember(t, addr, topic, groupID, tc.balancer, log)
			mustWait(t, 60*time.Second, "1500 records", func() bool { return log.distinct() >= 1500 })
			b.stop()
			mustWait(t, 60*time.Second, "2000 records", func() bool { return log.distinct() >= 2000 })
			c.stop()
			mustWait(t, 90*time.Second, "every record", func() bool { return log.distinct() >= groupRecords })

			adm := kadm.NewClient(newKgo(t, addr))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ends, err := adm.ListEndOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			requireCommittedToEnd(t, ctx, adm, topic, groupID, ends)
			var last string
			if !waitFor(30*time.Second, func() bool {
				described, err := adm.DescribeGroups(ctx, groupID)
				g := described[groupID]
				last = fmt.Sprintf("state %s, %d members, err %v", g.State, len(g.Members), err)
				return err == nil && g.State == "Stable" && len(g.Members) == 1
			}) {
				t.Fatalf("the group with one member left: %s", last)
			}
			a.stop()
			mustWait(t, 30*time.Second, "the group to empty", func() bool {
				described, err := adm.DescribeGroups(ctx, groupID)
				return err == nil && described[groupID].State == "Empty"
			})
			t.Logf("%s: %d records consumed %d times", tc.name, groupRecords, log.n)

			// A new member resumes at the committed offsets.
			produceN(t, addr, topic, 100, "b")
			fresh := &groupLog{seen: map[string]int{}}
			d := startMember(t, addr, topic, groupID, tc.balancer, fresh)
			defer d.stop()
			requireResumed(t, fresh, 100, 'b')
		})
	}
}

// TestKgoStaticMember: a franz-go member with a group.instance.id reads and
// commits, stops without leaving (as static members do), and a new process
// with the same instance id takes its place within the session timeout:
// the group has one member, that instance, still in the same generation
// (a static member's restart does not rebalance, KIP-345), and the new
// process resumes at the committed offsets.
func TestKgoStaticMember(t *testing.T) {
	t.Parallel()
	addr := sharedAddr(t)
	topic := uniqueTopic("kgo-static")
	groupID := topic + "-group"
	createTopic(t, addr, topic, 2)
	produceN(t, addr, topic, 100, "a")
	consume := func(prefix string, n int) (generation int32) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(groupID),
			kgo.InstanceID("static-1"), kgo.SessionTimeout(20*time.Second), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		consumeOnlyNew(t, ctx, cl, prefix, n)
		described, err := kadm.NewClient(cl).DescribeGroups(ctx, groupID)
		if err != nil {
			t.Fatal(err)
		}
		g := described[groupID]
		if len(g.Members) != 1 || g.Members[0].InstanceID == nil || *g.Members[0].InstanceID != "static-1" {
			t.Fatalf("group %s: %d members, want the one static member: %+v", groupID, len(g.Members), g.Members)
		}
		_, generation = cl.GroupMetadata()
		return generation
	}
	first := consume("a", 100)
	produceN(t, addr, topic, 50, "b")
	if second := consume("b", 50); second != first {
		t.Errorf("the restarted static member is in generation %d, its predecessor was in %d: the restart rebalanced", second, first)
	}
}
