package controller

import (
	"strings"
	"testing"
	"time"
)

// baseImage has brokers 1 (unfenced), 2 (unfenced) and 3 (fenced), and
// topic t with partition 0 on [1 2 3], led by 1 with ISR [1 2].
func baseImage(t *testing.T) *Image {
	t.Helper()
	m := NewImage()
	records := []Record{
		RegisterBroker{ID: 1, Host: "h", Port: 1, Incarnation: 1},
		RegisterBroker{ID: 2, Host: "h", Port: 2, Incarnation: 1},
		RegisterBroker{ID: 3, Host: "h", Port: 3, Incarnation: 1},
		UnfenceBroker{ID: 1},
		UnfenceBroker{ID: 2},
		CreateTopic{Name: "t", ID: TopicID{1}},
		PartitionRecord{Topic: "t", TopicID: TopicID{1}, Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1},
	}
	if err := m.ApplyBatch(records); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestApplyRefusesWhatBreaksInvariants(t *testing.T) {
	id := TopicID{1}
	for _, c := range []struct {
		name string
		r    Record
		want string
	}{
		{"leader outside isr", PartitionChange{Topic: "t", TopicID: id, Leader: 2, ISR: []int32{1}, LeaderEpoch: 1, PartitionEpoch: 1}, "not in isr"},
		{"fenced leader", PartitionChange{Topic: "t", TopicID: id, Leader: 3, ISR: []int32{3}, LeaderEpoch: 1, PartitionEpoch: 1}, "fenced"},
		{"isr outside replicas", PartitionChange{Topic: "t", TopicID: id, LeaderUnchanged: true, ISR: []int32{1, 4}, PartitionEpoch: 1}, "not a replica"},
		{"empty isr with a leader", PartitionChange{Topic: "t", TopicID: id, LeaderUnchanged: true, PartitionEpoch: 1}, "not in isr"},
		{"leader change without epoch", PartitionChange{Topic: "t", TopicID: id, Leader: 2, ISR: []int32{1, 2}, PartitionEpoch: 1}, "does not follow"},
		{"stale partition epoch", PartitionChange{Topic: "t", TopicID: id, LeaderUnchanged: true, ISR: []int32{1}}, "does not follow"},
		{"skipped partition epoch", PartitionChange{Topic: "t", TopicID: id, LeaderUnchanged: true, ISR: []int32{1}, PartitionEpoch: 2}, "does not follow"},
		{"wrong topic id", PartitionChange{Topic: "t", TopicID: TopicID{2}, LeaderUnchanged: true, ISR: []int32{1}, PartitionEpoch: 1}, "no topic"},
		{"duplicate isr", PartitionChange{Topic: "t", TopicID: id, LeaderUnchanged: true, ISR: []int32{1, 1}, PartitionEpoch: 1}, "duplicate"},
		{"replace with older epochs", PartitionRecord{Topic: "t", TopicID: id, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}, "do not advance"},
		{"partition gap", PartitionRecord{Topic: "t", TopicID: id, Partition: 2, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}, "beyond"},
		{"unregistered replica", PartitionRecord{Topic: "t", TopicID: id, Partition: 1, Replicas: []int32{9}, ISR: []int32{9}, Leader: 9}, "not a registered"},
		{"fence a leader", FenceBroker{ID: 1}, "leading"},
		{"re-register a leader", RegisterBroker{ID: 1, Host: "h", Port: 1, Incarnation: 2}, "leading"},
		{"old incarnation", RegisterBroker{ID: 3, Host: "h", Port: 3, Incarnation: 1}, "not above"},
		{"unfence an unfenced broker", UnfenceBroker{ID: 2}, "already"},
		{"duplicate topic", CreateTopic{Name: "t", ID: TopicID{2}}, "exists"},
		{"taken topic id", CreateTopic{Name: "u", ID: id}, "taken"},
		{"null topic id", CreateTopic{Name: "u"}, "null"},
		{"bad topic name", CreateTopic{Name: "a b", ID: TopicID{2}}, "invalid"},
		{"delete by stale id", DeleteTopic{Name: "t", ID: TopicID{2}}, "no topic"},
		{"producer ids not next", AllocateProducerIDs{Broker: 1, First: 5, Count: 5}, "does not start"},
	} {
		m := baseImage(t)
		before := m.String()
		err := m.Apply(c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %s: got %v, want an error with %q", c.name, c.r, err, c.want)
		}
		if m.String() != before {
			t.Errorf("%s: refused record changed the image", c.name)
		}
		if err := m.CheckInvariants(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestApplyBatchIsAllOrNothing(t *testing.T) {
	m := baseImage(t)
	before := m.String()
	err := m.ApplyBatch([]Record{
		PartitionChange{Topic: "t", TopicID: TopicID{1}, Leader: 2, ISR: []int32{2}, LeaderEpoch: 1, PartitionEpoch: 1},
		FenceBroker{ID: 1},
		CreateTopic{Name: "u", ID: TopicID{2}},
		PartitionRecord{Topic: "u", TopicID: TopicID{2}, Replicas: []int32{2}, ISR: []int32{2}, Leader: 2},
		AllocateProducerIDs{Broker: 1, First: 0, Count: 10},
		DeleteTopic{Name: "t", ID: TopicID{1}},
		RegisterBroker{ID: 4, Host: "h", Port: 4, Incarnation: 1},
		FenceBroker{ID: 1}, // refused: already fenced by this batch
	})
	if err == nil {
		t.Fatal("batch applied")
	}
	if m.String() != before {
		t.Fatalf("refused batch left changes:\n%s\nwant\n%s", m, before)
	}
}

func TestDeletedTopicCannotBeResurrected(t *testing.T) {
	m := baseImage(t)
	if err := m.Apply(DeleteTopic{Name: "t", ID: TopicID{1}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(CreateTopic{Name: "t", ID: TopicID{1}}); err == nil {
		t.Fatal("a duplicate of the old creation recreated the deleted topic")
	}
}

func TestAccessorsReturnCopies(t *testing.T) {
	m := baseImage(t)
	before := m.String()
	p, _ := m.Partition("t", 0)
	p.ISR[0], p.Replicas[0] = 9, 9
	topic, _ := m.Topic("t")
	if topic.Configs != nil {
		topic.Configs["x"] = "y"
	}
	m.Partitions("t")[0].ISR[0] = 9
	if m.String() != before {
		t.Fatal("changing an accessor's result changed the image")
	}
	c := m.Clone()
	if err := c.Apply(FenceBroker{ID: 2}); err != nil {
		t.Fatal(err)
	}
	if m.String() != before {
		t.Fatal("changing a clone changed the original")
	}
}

// TestReplayGivesTheSameImage replays a story's log into a fresh image.
// (Every transcript and every rapid run checks this too, after every step.)
func TestReplayGivesTheSameImage(t *testing.T) {
	c := newCluster(Config{})
	for _, id := range []int32{1, 2, 3} {
		c.controller.RegisterBroker(c.now, RegisterBroker{ID: id, Host: "h", Port: 9092, Incarnation: 1})
		c.controller.Heartbeat(c.now, id, 1, true)
	}
	c.controller.CreateTopic(c.now, "orders", 6, 3, nil)
	c.controller.Tick(c.now)
	c.now = c.now.Add(20 * time.Second)
	c.controller.Heartbeat(c.now, 2, 1, true)
	c.controller.Tick(c.now)
	if _, err := c.commit(); err != nil {
		t.Fatal(err)
	}
	replayed, err := c.replay()
	if err != nil {
		t.Fatal(err)
	}
	if replayed.String() != c.committed.String() {
		t.Fatalf("replay differs:\n%s\nvs\n%s", replayed, c.committed)
	}
}
