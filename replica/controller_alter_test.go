package replica

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/diskfault"
	"cairn/replica/transport"
)

// clusterHarness is a harness whose node is broker 0 of a three-broker
// cluster and the active controller: the test is its metadata quorum,
// committing the node's proposals into the log it applies, and brokers 1
// and 2 are requests on connections 1 and 2 that never fetch.
type clusterHarness struct {
	*harness
	applied uint64
}

func newClusterHarness(t *testing.T) *clusterHarness {
	c := newControllerHarness(t, nil)
	c.register(1)
	c.register(2)
	return c
}

// newControllerHarness is broker 0 alone, the active controller of a
// cluster the other brokers have not joined yet; configure, if not nil,
// adjusts the node's configuration before it opens.
func newControllerHarness(t *testing.T, configure func(*Config)) *clusterHarness {
	h := &harness{
		t: t, mem: diskfault.NewMem(), config: DefaultConfig(),
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), rng: rand.New(rand.NewPCG(1, 2)),
		frames: map[ConnID][][]byte{}, closed: map[ConnID]bool{}, requests: map[int32]kmsg.Request{},
		formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID("harness")),
	}
	h.config.DataDir = "/data"
	h.config.Standalone = false
	h.config.SessionTimeout = time.Hour // nobody is fenced behind the test's back
	h.config.ReplicaLagMax = 2 * time.Second
	if configure != nil {
		configure(&h.config)
	}
	h.open()
	c := &clusterHarness{harness: h}
	h.node.SetControllerLeader(h.now, 0)
	c.settle()
	return c
}

// register has broker id join the cluster (a request on connection id)
// and heartbeat once, which unfences it.
func (c *clusterHarness) register(id int32) {
	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID = id
	binary.BigEndian.PutUint64(reg.IncarnationID[:8], uint64(id))
	listener := kmsg.NewBrokerRegistrationRequestListener()
	listener.Name, listener.Host, listener.Port = "PLAINTEXT", "b", uint16(9092+id)
	reg.Listeners = append(reg.Listeners, listener)
	reg.PreviousBrokerEpoch = -1
	c.send(ConnID(id), reg)
	c.settle()
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch, hb.CurrentMetadataOffset = id, int64(id), int64(c.applied)
	c.send(ConnID(id), hb)
	c.settle()
}

// settle applies every proposal the node made, in order, as the metadata
// quorum would, until it makes no more.
func (c *clusterHarness) settle() {
	for len(c.proposals) > 0 {
		entry := c.proposals[0]
		c.proposals = c.proposals[1:]
		c.applied++
		c.node.ApplyMetadata(c.now, c.applied, entry)
		c.drain()
	}
}

// ledHere returns a partition of topic that broker 0 leads.
func (c *clusterHarness) ledHere(topic string) core.PartitionStatus {
	c.t.Helper()
	for _, p := range c.node.Partitions() {
		if p.Topic == topic && p.Role == core.RoleLeader {
			return p.PartitionStatus
		}
	}
	c.t.Fatalf("broker 0 leads no partition of %s", topic)
	return core.PartitionStatus{}
}

func (c *clusterHarness) status(topic string, partition int32) core.PartitionStatus {
	for _, p := range c.node.Partitions() {
		if p.Topic == topic && p.Partition == partition {
			return p.PartitionStatus
		}
	}
	c.t.Fatalf("no partition %s-%d here", topic, partition)
	return core.PartitionStatus{}
}

// TestLostLocalISRProposal: a leader that hosts the active controller hands
// its ISR changes to that controller directly. When the controller is
// dropped before the change commits (its proposal to the metadata quorum
// failed, or quorum leadership moved), the change is lost, and the leader
// must hear so, as it would hear NOT_CONTROLLER from a remote controller:
// otherwise it waits for the change forever and never proposes again, and
// with an ISR below min.insync.replicas every acks=all produce is refused
// for good (simulator seed 792 in the durable mode, once its peer sessions
// were shaped as the server's: b0, controller and leader of t0-0, was
// paused with a proposal in flight, stepped down on resume, and t0-0 kept
// ISR [0 2] from 13 s to the end of the run).
func TestLostLocalISRProposal(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(c *clusterHarness)
		// retried finds the leader's next proposal.
		retried func(c *clusterHarness) bool
	}{{
		name: "proposal failed",
		lose: func(c *clusterHarness) { c.node.ProposalFailed(c.now) },
		retried: func(c *clusterHarness) bool {
			return len(c.proposals) > 0
		},
	}, {
		name: "quorum leadership moved",
		lose: func(c *clusterHarness) { c.node.SetControllerLeader(c.now, 1) },
		retried: func(c *clusterHarness) bool {
			return slices.ContainsFunc(c.peerSends, func(m PeerMessage) bool {
				return m.To == 1 && binary.BigEndian.Uint16(m.Frame[transport.FrameSizeBytes:]) == uint16(kmsg.AlterPartition)
			})
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterHarness(t)
			req := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "t", 3, 3
			req.Topics = append(req.Topics, rt)
			c.send(ConnID(100), req)
			c.settle()
			p := c.ledHere("t")
			if len(p.ISR) != 3 {
				t.Fatalf("ISR %v, want all three replicas", p.ISR)
			}

			// The followers never fetch: past replica.lag.time.max.ms the
			// leader proposes to shrink the ISR, to its own controller.
			c.tick(c.config.ReplicaLagMax + time.Second)
			if len(c.proposals) == 0 {
				t.Fatal("no ISR shrink proposed")
			}
			c.proposals = nil // never committed
			c.peerSends = nil
			tc.lose(c)
			c.drain()

			for i := 0; i < 5 && !tc.retried(c); i++ {
				c.tick(time.Second)
			}
			if !tc.retried(c) {
				t.Fatalf("the leader of t-%d never proposed its ISR change again after the controller holding it was dropped", p.Partition)
			}
			if tc.name == "proposal failed" {
				c.settle()
				if got := c.status("t", p.Partition).ISR; !slices.Equal(got, []int32{0}) {
					t.Fatalf("ISR %v after the retried shrink, want [0]", got)
				}
			}
		})
	}
}
