package compat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// preferredReplicas returns each partition's preferred replica, the first
// of its assignment, as Metadata lists it.
func preferredReplicas(t *testing.T, cl *kgo.Client, topic string) map[int32]int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	out := map[int32]int32{}
	for _, mt := range resp.Topics {
		for _, p := range mt.Partitions {
			if len(p.Replicas) > 0 {
				out[p.Partition] = p.Replicas[0]
			}
		}
	}
	if len(out) != clusterPartitions {
		t.Fatalf("preferred replicas of %s: %v", topic, out)
	}
	return out
}

// ledByPreferred reports whether every partition is led by its preferred
// replica.
func ledByPreferred(preferred map[int32]int32) func(map[int32]partitionState) bool {
	return func(states map[int32]partitionState) bool {
		for p, s := range states {
			if s.leader != preferred[p] {
				return false
			}
		}
		return true
	}
}

// leadershipMoved stops a broker that leads a partition and is not the
// controller, waits until its leaderships have moved to the others, and
// restarts it, returning once it is back in every ISR. It returns the
// broker and the partitions it was preferred for.
func leadershipMoved(t *testing.T, c *testCluster, admin *kgo.Client, topic string, preferred map[int32]int32) (*clusterBroker, []int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, controller, _, err := clusterMetadata(ctx, admin, topic)
	cancel()
	if err != nil {
		t.Fatalf("finding the controller: %v", err)
	}
	var victim *clusterBroker
	var its []int32
	for _, b := range c.brokers {
		if b.id == controller {
			continue
		}
		victim = b
		for p, r := range preferred {
			if r == b.id {
				its = append(its, p)
			}
		}
		if len(its) > 0 {
			break
		}
		victim = nil
	}
	if victim == nil {
		t.Fatalf("no broker but the controller (%d) is preferred for a partition: %v", controller, preferred)
	}
	victim.proc.stop()
	states := waitPartitions(t, admin, topic, "leaders moved off the stopped broker", func(m map[int32]partitionState) bool {
		for _, s := range m {
			if s.leader < 0 || s.leader == victim.id {
				return false
			}
		}
		return true
	})
	t.Logf("broker %d stopped; partitions it is preferred for: %v; leaders now %v", victim.id, its, states)
	if err := c.start(victim); err != nil {
		t.Fatalf("restarting broker %d: %v", victim.id, err)
	}
	waitPartitions(t, admin, topic, "the broker back in every ISR", fullISR)
	return victim, its
}

// TestClusterLeadersReturnToPreferred: with auto.leader.rebalance on (the
// default) and a short check interval, a broker that stops loses its
// leaderships and, once it is back in the ISR, gets them back without any
// request: the controller's imbalance check moves them.
func TestClusterLeadersReturnToPreferred(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "--leader-imbalance-check-interval", "2s")
	admin := newKgo(t, c.brokers[0].addr, kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(250*time.Millisecond))
	topic := uniqueTopic("rebalance-auto")
	createReplicatedTopic(t, admin, topic)
	preferred := preferredReplicas(t, admin, topic)
	waitPartitions(t, admin, topic, "every partition led by its preferred replica", func(m map[int32]partitionState) bool {
		return fullISR(m) && ledByPreferred(preferred)(m)
	})
	victim, its := leadershipMoved(t, c, admin, topic, preferred)
	back := time.Now()
	states := waitPartitions(t, admin, topic, "leadership back at the preferred replicas", ledByPreferred(preferred))
	t.Logf("broker %d leads %v again %v after rejoining every ISR: %v", victim.id, its, time.Since(back).Round(time.Millisecond), states)
}

// TestClusterElectLeadersExplicit: with auto.leader.rebalance off, a
// returning broker stays a follower, even past several check intervals;
// kadm's ElectLeaders (a preferred election) then moves its leaderships
// back, and answers ELECTION_NOT_NEEDED for the partitions led well already.
func TestClusterElectLeadersExplicit(t *testing.T) {
	t.Parallel()
	// The short interval would move leaders back within seconds if the
	// switch were ignored.
	c := startCluster(t, "--auto-leader-rebalance-enable=false", "--leader-imbalance-check-interval", "1s")
	admin := newKgo(t, c.brokers[0].addr, kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(250*time.Millisecond))
	topic := uniqueTopic("rebalance-explicit")
	createReplicatedTopic(t, admin, topic)
	preferred := preferredReplicas(t, admin, topic)
	waitPartitions(t, admin, topic, "every partition led by its preferred replica", func(m map[int32]partitionState) bool {
		return fullISR(m) && ledByPreferred(preferred)(m)
	})
	victim, its := leadershipMoved(t, c, admin, topic, preferred)

	const quiet = 5 * time.Second
	deadline := time.Now().Add(quiet)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		states, _, _, err := clusterMetadata(ctx, admin, topic)
		cancel()
		if err == nil {
			for _, p := range its {
				if states[p].leader == victim.id {
					t.Fatalf("partition %d went back to broker %d by itself with auto.leader.rebalance.enable off", p, victim.id)
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}

	adm := kadm.NewClient(admin)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	set := kadm.TopicsSet{}
	for p := range int32(clusterPartitions) {
		set.Add(topic, p)
	}
	results, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	for p := range int32(clusterPartitions) {
		r, ok := results[topic][p]
		moved := preferred[p] == victim.id
		switch {
		case !ok:
			t.Errorf("no result for partition %d: %v", p, results)
		case moved && r.Err != nil:
			t.Errorf("partition %d (preferred broker %d, back in the ISR): %v %s", p, victim.id, r.Err, r.ErrMessage)
		case !moved && !errors.Is(r.Err, kerr.ElectionNotNeeded):
			t.Errorf("partition %d, led by its preferred replica: %v, want ELECTION_NOT_NEEDED", p, r.Err)
		}
	}
	states := waitPartitions(t, admin, topic, "leadership back at the preferred replicas", ledByPreferred(preferred))
	t.Logf("after ElectLeaders: %v", states)

	// Everything balanced: an election of every partition (a null list)
	// has nothing to report for this topic.
	all, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatalf("ElectLeaders of every partition: %v", err)
	}
	if len(all[topic]) != 0 {
		t.Errorf("ElectLeaders of every partition, all balanced: %v", all)
	}
}
