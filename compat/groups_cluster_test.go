package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupOffsetsSurviveCoordinatorKill: on three brokers, a franz-go
// group member consumes and commits; the broker coordinating the group
// (the leader of its __consumer_offsets partition, replicated three ways)
// is SIGKILLed. A surviving broker takes the partition's leadership,
// replays it, and serves the same committed offsets; a new member resumes
// from them and reads only records written after the commit; the killed
// broker comes back and the group still answers.
func TestGroupOffsetsSurviveCoordinatorKill(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	seeds := kgo.SeedBrokers(c.seeds()...)
	admin := kadm.NewClient(newKgoOpts(t, seeds))
	ctx, cancel := context.WithTimeout(context.Background(), 3*clusterPhaseTimeout)
	defer cancel()
	topic := uniqueTopic("group-failover")
	group := topic + "-group"
	if _, err := admin.CreateTopic(ctx, clusterPartitions, clusterRF, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	produceTo(t, ctx, seeds, topic, "a", 300)

	// One member reads everything and commits.
	member := newKgoOpts(t, seeds, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for read := 0; read < 300; {
		fetches := member.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the member read %d of 300 records", read)
		}
		read += fetches.NumRecords()
	}
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	before, err := admin.FetchOffsets(ctx, group)
	if err != nil || before.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, before.Error())
	}
	member.Close()

	coordinators := admin.FindGroupCoordinators(ctx, group)
	coordinator, ok := coordinators[group]
	if !ok || coordinator.Err != nil {
		t.Fatalf("find coordinator: %+v", coordinators)
	}
	victim := c.broker(coordinator.NodeID)
	t.Logf("killing broker %d, the coordinator of %s", victim.id, group)
	victim.proc.kill()

	// A fresh client per attempt: a client's cached coordinator may
	// still name the dead broker.
	var last string
	if !waitFor(clusterPhaseTimeout, func() bool {
		fresh := kgo.SeedBrokers(c.seeds()...)
		cl, err := kgo.NewClient(fresh, kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		after, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			last = err.Error()
			return false
		}
		same := true
		before.Each(func(o kadm.OffsetResponse) {
			got, found := after.Lookup(o.Topic, o.Partition)
			if !found || got.At != o.At {
				same = false
				last = fmt.Sprintf("partition %d: committed %d before the kill, %d (found %v) after", o.Partition, o.At, got.At, found)
			}
		})
		return same
	}) {
		t.Fatalf("committed offsets after the coordinator's kill: %s", last)
	}
	admin = kadm.NewClient(newKgoOpts(t, seeds))
	moved := admin.FindGroupCoordinators(ctx, group)[group]
	if moved.Err != nil || moved.NodeID == victim.id {
		t.Fatalf("the coordinator after the kill: %+v", moved)
	}
	t.Logf("broker %d coordinates %s now and serves its committed offsets", moved.NodeID, group)

	// A new member resumes at the committed offsets.
	produceTo(t, ctx, seeds, topic, "b", 100)
	resumed := newKgoOpts(t, seeds, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < 100 {
		fetches := resumed.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the resumed member read %d of 100 new records", len(seen))
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Value[0] != 'b' {
				t.Fatalf("the resumed member read %q, committed before the kill", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
	if err := resumed.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit after the failover: %v", err)
	}
	resumed.Close()

	if err := c.start(victim); err != nil {
		t.Fatalf("restart: %v", err)
	}
	described, err := admin.DescribeGroups(ctx, group)
	if err != nil || described[group].Err != nil {
		t.Fatalf("describe after the restart: %v %+v", err, described)
	}
}

func newKgoOpts(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produceTo(t *testing.T, ctx context.Context, seeds kgo.Opt, topic, prefix string, n int) {
	t.Helper()
	cl := newKgoOpts(t, seeds, kgo.DefaultProduceTopic(topic))
	records := make([]*kgo.Record, n)
	for i := range records {
		records[i] = &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
	}
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}
