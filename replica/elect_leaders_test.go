package replica

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/replica/transport"
)

// electLeaders sends an ElectLeaders request at version, commits what it
// proposes and returns the answer as "topic-partition CODE" lines after
// the top-level code.
func (c *clusterHarness) electLeaders(conn ConnID, version int16, kind int8, topics map[string][]int32, order ...string) string {
	c.t.Helper()
	req := kmsg.NewPtrElectLeadersRequest()
	req.SetVersion(version)
	req.ElectionType = kind
	if topics != nil {
		req.Topics = []kmsg.ElectLeadersRequestTopic{}
		for _, name := range order {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = name, topics[name]
			req.Topics = append(req.Topics, rt)
		}
	}
	// Not c.send, which would raise version 0 to the newest.
	c.nextCorr++
	c.requests[c.nextCorr] = req
	frame := c.formatter.AppendRequest(nil, req, c.nextCorr)
	c.node.HandleFrame(c.now, conn, frame[transport.FrameSizeBytes:])
	c.drain()
	c.settle()
	responses := c.take(conn)
	if len(responses) != 1 {
		c.t.Fatalf("%d responses to one ElectLeaders", len(responses))
	}
	resp := responses[0].(*kmsg.ElectLeadersResponse)
	var out strings.Builder
	fmt.Fprintf(&out, "%s\n", codeText(resp.ErrorCode))
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			fmt.Fprintf(&out, "%s-%d %s\n", rt.Topic, p.Partition, codeText(p.ErrorCode))
		}
	}
	return out.String()
}

func codeText(code int16) string {
	if code == 0 {
		return "OK"
	}
	return kerr.ErrorForCode(code).(*kerr.Error).Message
}

// TestElectLeaders: ElectLeaders at the active controller, in every
// version, with Kafka's per-partition errors, the null list meaning every
// partition, and NOT_CONTROLLER elsewhere.
func TestElectLeaders(t *testing.T) {
	c := newClusterHarness(t)
	create := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "t", 3, 3
	create.Topics = append(create.Topics, rt)
	c.send(ConnID(100), create)
	c.settle()
	c.take(ConnID(100))

	// Every partition is led by its preferred replica.
	named := map[string][]int32{"t": {0, 1, 9}, "nosuch": {0}}
	want := "OK\nt-0 ELECTION_NOT_NEEDED\nt-1 ELECTION_NOT_NEEDED\nt-9 UNKNOWN_TOPIC_OR_PARTITION\nnosuch-0 UNKNOWN_TOPIC_OR_PARTITION\n"
	for version := int16(0); version <= 2; version++ {
		if got := c.electLeaders(100, version, 0, named, "t", "nosuch"); got != want {
			t.Errorf("v%d preferred:\n%s\nwant:\n%s", version, got, want)
		}
	}
	// v0 has no type: a bad one there is still a preferred election.
	if got := c.electLeaders(100, 0, 7, named, "t", "nosuch"); got != want {
		t.Errorf("v0 with type 7:\n%s\nwant:\n%s", got, want)
	}
	if got, want := c.electLeaders(100, 1, 7, named, "t", "nosuch"),
		"INVALID_REQUEST\nt-0 INVALID_REQUEST\nt-1 INVALID_REQUEST\nt-9 INVALID_REQUEST\nnosuch-0 INVALID_REQUEST\n"; got != want {
		t.Errorf("v1 with type 7:\n%s\nwant:\n%s", got, want)
	}
	// Unclean: every partition has a leader.
	if got, want := c.electLeaders(100, 2, 1, map[string][]int32{"t": {2}}, "t"), "OK\nt-2 ELECTION_NOT_NEEDED\n"; got != want {
		t.Errorf("unclean:\n%s\nwant:\n%s", got, want)
	}
	// Null: every partition, and none needed an election.
	if got := c.electLeaders(100, 2, 0, nil); got != "OK\n" {
		t.Errorf("null topics, balanced:\n%s", got)
	}

	// Broker 1 restarts (a new incarnation): the controller takes its
	// leadership and ISR places, so its partition's preferred replica
	// cannot lead it back yet.
	preferred1 := int32(-1)
	for _, p := range c.node.meta.image.Partitions("t") {
		if p.Replicas[0] == 1 {
			preferred1 = p.Partition
		}
	}
	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID = 1
	binary.BigEndian.PutUint64(reg.IncarnationID[:8], 101)
	listener := kmsg.NewBrokerRegistrationRequestListener()
	listener.Name, listener.Host, listener.Port = "PLAINTEXT", "b", 9093
	reg.Listeners = append(reg.Listeners, listener)
	reg.PreviousBrokerEpoch = -1
	c.send(ConnID(1), reg)
	c.settle()
	if p, _ := c.node.meta.image.Partition("t", preferred1); p.Leader == 1 {
		t.Fatalf("t-%d still led by broker 1 after its restart: %+v", preferred1, p)
	}
	wantNull := fmt.Sprintf("OK\nt-%d PREFERRED_LEADER_NOT_AVAILABLE\n", preferred1)
	if got := c.electLeaders(100, 2, 0, nil); got != wantNull {
		t.Errorf("null topics after broker 1 left:\n%s\nwant:\n%s", got, wantNull)
	}
	if len(c.proposals) != 0 {
		t.Errorf("an election that changed nothing proposed %d entries", len(c.proposals))
	}

	// Broker 1 heartbeats caught up (unfenced), and the leader of its
	// partition takes it back into the ISR; the election now moves the
	// leadership, and its answer waits until the change commits.
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch, hb.CurrentMetadataOffset = 1, 101, int64(c.applied)
	c.send(ConnID(1), hb)
	c.settle()
	p, _ := c.node.meta.image.Partition("t", preferred1)
	alter := kmsg.NewPtrAlterPartitionRequest()
	alter.BrokerID, alter.BrokerEpoch = p.Leader, int64(p.Leader)
	at := kmsg.NewAlterPartitionRequestTopic()
	at.Topic = "t"
	at.Partitions = []kmsg.AlterPartitionRequestTopicPartition{{Partition: preferred1, LeaderEpoch: p.LeaderEpoch,
		PartitionEpoch: p.PartitionEpoch, NewISR: append(slices.Clone(p.ISR), 1)}}
	alter.Topics = append(alter.Topics, at)
	c.send(ConnID(p.Leader), alter)
	c.settle()
	c.take(ConnID(p.Leader))
	if p, _ = c.node.meta.image.Partition("t", preferred1); !slices.Contains(p.ISR, 1) {
		t.Fatalf("broker 1 not back in t-%d's ISR: %+v", preferred1, p)
	}
	req := kmsg.NewPtrElectLeadersRequest()
	req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "t", Partitions: []int32{preferred1}}}
	c.send(ConnID(100), req)
	if len(c.proposals) != 1 || len(c.frames[ConnID(100)]) != 0 {
		t.Fatalf("before the commit: %d proposals, %d answers; want the election proposed and its answer held", len(c.proposals), len(c.frames[ConnID(100)]))
	}
	c.settle()
	responses := c.take(ConnID(100))
	if len(responses) != 1 {
		t.Fatalf("%d answers after the commit", len(responses))
	}
	resp := responses[0].(*kmsg.ElectLeadersResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("election answered %+v", resp)
	}
	if p, _ := c.node.meta.image.Partition("t", preferred1); p.Leader != 1 {
		t.Fatalf("t-%d led by %d after the election, want broker 1", preferred1, p.Leader)
	}

	// Another broker is now the controller: this node refuses.
	c.node.SetControllerLeader(c.now, 2)
	c.drain()
	if got, want := c.electLeaders(100, 2, 0, map[string][]int32{"t": {0}}, "t"), "NOT_CONTROLLER\nt-0 NOT_CONTROLLER\n"; got != want {
		t.Errorf("not the controller:\n%s\nwant:\n%s", got, want)
	}
}
