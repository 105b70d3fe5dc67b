package controller

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"pgregory.net/rapid"
)

// TestControllerStateMachine drives the controller with random sequences of
// broker registrations, heartbeats, crashes, ticks, topic changes,
// AlterPartition from right and wrong leaders, lost proposals, failovers and
// stale batches from deposed controllers, committing every Ready as a
// driver would. After every step the committed image must keep its
// invariants (checked record by record in cluster.commitBatch), agree with
// the controller's own image, and have no partition offline that could be
// led; at the end, replaying the log must rebuild the same image.
func TestControllerStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		config := Config{
			SessionTimeout:          9 * time.Second,
			UncleanRestartLeavesISR: rapid.Bool().Draw(t, "uncleanRestartLeavesISR"),
		}
		m := &machine{cluster: newCluster(config), alive: map[int32]bool{}, incarnations: map[int32]int64{}}
		actions := m.actions()
		names := make([]string, 0, len(actions))
		for name := range actions {
			names = append(names, name)
		}
		slices.Sort(names)
		steps := rapid.IntRange(10, 300).Draw(t, "steps")
		for range steps {
			actions[rapid.SampledFrom(names).Draw(t, "action")](t)
			m.check(t)
		}
		replayed, err := m.cluster.replay()
		if err != nil {
			t.Fatal(err)
		}
		if replayed.String() != m.cluster.committed.String() {
			t.Fatalf("replayed image differs:\n%s\nvs\n%s", replayed, m.cluster.committed)
		}
	})
}

// machine is the test's model of the cluster's processes: which brokers
// run, and their incarnations.
type machine struct {
	cluster      *cluster
	alive        map[int32]bool
	incarnations map[int32]int64
	// untidy is set when a stale batch committed: the offline-partition
	// check waits for the next controller's first tick, which repairs it.
	untidy bool
}

const brokersMax = 5

var topicNames = []string{"a", "b", "c"}

func (m *machine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"register":          m.register,
		"crash":             m.crash,
		"heartbeat":         m.heartbeat,
		"heartbeatAll":      m.heartbeatAll,
		"staleHeartbeat":    m.staleHeartbeat,
		"tick":              m.tick,
		"tick2":             m.tick, // ticks twice as often as the rest
		"createTopic":       m.createTopic,
		"deleteTopic":       m.deleteTopic,
		"alterPartition":    m.alterPartition,
		"alterPartition2":   m.alterPartition,
		"electPreferred":    m.electPreferred,
		"rebalance":         m.rebalance,
		"electLeaders":      m.electLeaders,
		"allocateProducers": m.allocateProducerIDs,
		"failover":          m.failover,
		"lostProposal":      m.lostProposal,
		"staleBatch":        m.staleBatch,
	}
}

func (m *machine) commit(t *rapid.T) []Record {
	records, err := m.cluster.commit()
	if err != nil {
		t.Fatal(err)
	}
	return records
}

func (m *machine) check(t *rapid.T) {
	image := m.cluster.committed
	if err := image.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if p, bad := offlineNeedlessly(image); bad && !m.untidy {
		t.Fatalf("%s-%d offline with an eligible candidate:\n%s", p.Topic, p.Partition, image)
	}
}

func (m *machine) register(t *rapid.T) {
	id := rapid.Int32Range(0, brokersMax-1).Draw(t, "broker")
	clean := rapid.Bool().Draw(t, "clean")
	// One registration in four comes with a new disk.
	newDisk := rapid.IntRange(0, 3).Draw(t, "newDisk") == 0
	old, existed := m.cluster.committed.Broker(id)
	m.incarnations[id]++
	m.alive[id] = true
	dir := old.DirectoryID
	if !existed || newDisk {
		dir = DirectoryID{0: byte(id), 8: byte(m.incarnations[id])}
	}
	code := m.cluster.controller.RegisterBroker(m.cluster.now, RegisterBroker{ID: id, Host: "localhost",
		Port: 9092, Incarnation: m.incarnations[id], CleanShutdown: clean, DirectoryID: dir})
	if code != nil {
		t.Fatalf("registration refused: %v", code)
	}
	m.commit(t)
	b, _ := m.cluster.committed.Broker(id)
	if !b.Fenced {
		t.Fatalf("broker %d unfenced right after registering", id)
	}
	if existed && (newDisk || !clean && m.cluster.config.UncleanRestartLeavesISR) {
		m.cluster.committed.eachPartition(func(p Partition) {
			if slices.Contains(p.ISR, id) || slices.Contains(p.ELR, id) {
				t.Fatalf("broker %d stayed in the isr or elr of %s-%d after a restart that lost data (new disk %t)",
					id, p.Topic, p.Partition, newDisk)
			}
		})
	}
}

func (m *machine) aliveBrokers() []int32 {
	var ids []int32
	for id := range int32(brokersMax) {
		if m.alive[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

func (m *machine) crash(t *rapid.T) {
	ids := m.aliveBrokers()
	if len(ids) == 0 {
		return
	}
	m.alive[rapid.SampledFrom(ids).Draw(t, "crashed")] = false
}

func (m *machine) heartbeatOne(t *rapid.T, id int32, caughtUp bool) {
	fenced := m.cluster.controller.Heartbeat(m.cluster.now, id, m.incarnations[id], caughtUp)
	m.commit(t)
	b, _ := m.cluster.committed.Broker(id)
	if fenced != b.Fenced {
		t.Fatalf("heartbeat of broker %d answered fenced=%t, image says %t", id, fenced, b.Fenced)
	}
	if caughtUp && fenced {
		t.Fatalf("caught-up broker %d stays fenced", id)
	}
}

func (m *machine) heartbeat(t *rapid.T) {
	ids := m.aliveBrokers()
	if len(ids) == 0 {
		return
	}
	m.heartbeatOne(t, rapid.SampledFrom(ids).Draw(t, "heartbeat"), rapid.Bool().Draw(t, "caughtUp"))
}

func (m *machine) heartbeatAll(t *rapid.T) {
	for _, id := range m.aliveBrokers() {
		m.heartbeatOne(t, id, true)
	}
}

func (m *machine) staleHeartbeat(t *rapid.T) {
	id := rapid.Int32Range(0, brokersMax-1).Draw(t, "broker")
	if !m.cluster.controller.Heartbeat(m.cluster.now, id, m.incarnations[id]-1, true) {
		t.Fatalf("stale heartbeat of broker %d answered unfenced", id)
	}
	if m.cluster.controller.HasReady() {
		t.Fatalf("stale heartbeat proposed %v", m.cluster.controller.Ready().Records)
	}
}

func (m *machine) tick(t *rapid.T) {
	advance := rapid.IntRange(0, 12000).Draw(t, "advanceMilliseconds")
	m.cluster.now = m.cluster.now.Add(time.Duration(advance) * time.Millisecond)
	m.cluster.controller.Tick(m.cluster.now)
	m.commit(t)
	m.untidy = false
}

func (m *machine) unfencedCount() int {
	n := 0
	for _, b := range m.cluster.committed.Brokers() {
		if !b.Fenced {
			n++
		}
	}
	return n
}

func (m *machine) createTopic(t *rapid.T) {
	name := rapid.SampledFrom(topicNames).Draw(t, "topic")
	partitions := rapid.Int32Range(1, 3).Draw(t, "partitions")
	replicationFactor := rapid.IntRange(1, 4).Draw(t, "replicationFactor")
	configs := map[string]string{MinInsyncReplicasConfig: fmt.Sprint(rapid.IntRange(1, 3).Draw(t, "minInsync"))}
	if rapid.IntRange(0, 3).Draw(t, "uncleanElection") == 0 {
		configs[UncleanLeaderElectionConfig] = "true"
	}
	var want *kerr.Error
	if _, exists := m.cluster.committed.Topic(name); exists {
		want = kerr.TopicAlreadyExists
	} else if replicationFactor > m.unfencedCount() {
		want = kerr.InvalidReplicationFactor
	}
	code := m.cluster.controller.CreateTopic(m.cluster.now, name, partitions, int16(replicationFactor), configs)
	if code != want {
		t.Fatalf("create %s: got %v, want %v", name, code, want)
	}
	m.commit(t)
	if want == nil {
		for _, p := range m.cluster.committed.Partitions(name) {
			if len(p.Replicas) != replicationFactor || p.Leader != p.Replicas[0] {
				t.Fatalf("bad new partition %+v", p)
			}
		}
	}
}

func (m *machine) deleteTopic(t *rapid.T) {
	name := rapid.SampledFrom(topicNames).Draw(t, "topic")
	_, exists := m.cluster.committed.Topic(name)
	code := m.cluster.controller.DeleteTopic(m.cluster.now, name)
	if (code == nil) != exists {
		t.Fatalf("delete %s (exists=%t): %v", name, exists, code)
	}
	m.commit(t)
}

func (m *machine) electPreferred(t *rapid.T) {
	m.cluster.controller.ElectPreferredLeaders(m.cluster.now)
	m.commit(t)
}

// rebalance runs the auto.leader.rebalance check: afterwards no broker that
// could lead all its off-preferred partitions stays above the percentage.
func (m *machine) rebalance(t *rapid.T) {
	percentage := rapid.Int32Range(0, 100).Draw(t, "percentage")
	m.cluster.controller.RebalanceLeaders(m.cluster.now, percentage)
	m.commit(t)
	image := m.cluster.committed
	preferred, off, stuck := map[int32]int64{}, map[int32]int64{}, map[int32]bool{}
	for _, topic := range image.Topics() {
		for _, p := range image.Partitions(topic.Name) {
			broker := p.Replicas[0]
			preferred[broker]++
			if p.Leader == broker {
				continue
			}
			off[broker]++
			if b, ok := image.Broker(broker); !ok || b.Fenced || !slices.Contains(p.ISR, broker) {
				stuck[broker] = true
			}
		}
	}
	for broker, total := range preferred {
		if !stuck[broker] && off[broker]*100 > int64(percentage)*total {
			t.Fatalf("broker %d leads %d of its %d preferred partitions after a rebalance at %d%%", broker, total-off[broker], total, percentage)
		}
	}
}

// electLeaders is an operator's ElectLeaders on a random set of partitions:
// a result per partition named, and a partition answered OK has a leader
// (its preferred replica, for a preferred election).
func (m *machine) electLeaders(t *rapid.T) {
	kind := ElectionType(rapid.Int8Range(0, 2).Draw(t, "type"))
	var refs []PartitionRef
	for range rapid.IntRange(0, 4).Draw(t, "count") {
		refs = append(refs, PartitionRef{rapid.SampledFrom(topicNames).Draw(t, "topic"), rapid.Int32Range(0, 3).Draw(t, "partition")})
	}
	m.cluster.uncleanAsked = kind == ElectUnclean
	results := m.cluster.controller.ElectLeaders(m.cluster.now, kind, refs)
	m.commit(t)
	if len(results) != len(refs) {
		t.Fatalf("%d results for %d partitions", len(results), len(refs))
	}
	for i, r := range results {
		if r.PartitionRef != refs[i] {
			t.Fatalf("result %d names %v, asked %v", i, r.PartitionRef, refs[i])
		}
		p, ok := m.cluster.committed.Partition(r.Topic, r.Partition)
		switch {
		case kind == 2 && r.Code != kerr.InvalidRequest && ok:
			t.Fatalf("type 2 on %v: %v", r.PartitionRef, r.Code)
		case !ok && r.Code != kerr.UnknownTopicOrPartition && kind != 2:
			t.Fatalf("unknown %v: %v", r.PartitionRef, r.Code)
		case ok && r.Code == nil && (p.Leader == NoLeader || kind == ElectPreferred && p.Leader != p.Replicas[0]):
			t.Fatalf("%v elected, but leader is %d of %v", r.PartitionRef, p.Leader, p.Replicas)
		}
	}
}

func (m *machine) allocateProducerIDs(t *rapid.T) {
	id := rapid.Int32Range(0, brokersMax-1).Draw(t, "broker")
	next := m.cluster.committed.NextProducerID()
	first, count, code := m.cluster.controller.AllocateProducerIDs(m.cluster.now, id, m.incarnations[id])
	_, registered := m.cluster.committed.Broker(id)
	if (code == nil) != registered || (code == nil && (first != next || count <= 0)) {
		t.Fatalf("allocate for broker %d: [%d, +%d) %v", id, first, count, code)
	}
	m.commit(t)
}

func (m *machine) failover(t *rapid.T) {
	m.cluster.failover()
}

// lostProposal makes the controller decide something whose batch then
// fails to commit; the driver replaces it.
func (m *machine) lostProposal(t *rapid.T) {
	m.heartbeat(t) // commits; then decide again and lose it
	m.cluster.now = m.cluster.now.Add(time.Duration(rapid.IntRange(0, 12000).Draw(t, "advanceMilliseconds")) * time.Millisecond)
	m.cluster.controller.Tick(m.cluster.now)
	for _, id := range m.aliveBrokers() {
		m.cluster.controller.Heartbeat(m.cluster.now, id, m.incarnations[id], true)
	}
	m.cluster.failover()
}

// staleBatch commits again a batch from earlier in the log, as when a
// deposed controller's proposal, or a retried one, commits late. The image
// must refuse it or stay consistent; the controller, whose image diverged,
// is replaced.
func (m *machine) staleBatch(t *rapid.T) {
	if len(m.cluster.log) == 0 {
		return
	}
	old := rapid.SampledFrom(m.cluster.log).Draw(t, "staleBatch")
	applied, err := m.cluster.commitBatch(old)
	if err != nil {
		t.Fatal(err)
	}
	if applied {
		m.cluster.failover()
		m.untidy = true
	}
}

// alterPartition sends an AlterPartition for a random partition, from its
// leader with the right epochs or with one thing wrong.
func (m *machine) alterPartition(t *rapid.T) {
	var partitions []Partition
	for _, topic := range m.cluster.committed.Topics() {
		partitions = append(partitions, m.cluster.committed.Partitions(topic.Name)...)
	}
	if len(partitions) == 0 {
		return
	}
	p := partitions[rapid.IntRange(0, len(partitions)-1).Draw(t, "partition")]
	leader, leaderEpoch, partitionEpoch := p.Leader, p.LeaderEpoch, p.PartitionEpoch
	var want *kerr.Error
	switch rapid.IntRange(0, 4).Draw(t, "wrong") {
	case 1:
		leaderEpoch, want = leaderEpoch-1, kerr.FencedLeaderEpoch
	case 2:
		leader, want = rapid.SampledFrom(p.Replicas).Draw(t, "sender"), kerr.InvalidRequest
		if leader == p.Leader {
			want = nil
		}
	case 3:
		partitionEpoch, want = partitionEpoch-1, kerr.InvalidUpdateVersion
	}
	if leader == NoLeader && want != kerr.FencedLeaderEpoch {
		want = kerr.InvalidRequest
	}
	isr := []int32{leader}
	for _, r := range p.Replicas {
		if r != leader && rapid.Bool().Draw(t, "inISR") {
			isr = append(isr, r)
		}
	}
	if want == nil && m.addsFencedMember(p, isr) {
		want = kerr.IneligibleReplica
	}
	code := m.cluster.controller.AlterPartition(m.cluster.now, p.Topic, p.Partition, leader, leaderEpoch, partitionEpoch, isr)
	if code != want {
		t.Fatalf("AlterPartition %s-%d leader=%d epochs=%d/%d isr=%v on %+v: got %v, want %v",
			p.Topic, p.Partition, leader, leaderEpoch, partitionEpoch, isr, p, code, want)
	}
	if code != nil && m.cluster.controller.HasReady() {
		t.Fatalf("refused AlterPartition proposed %v", m.cluster.controller.Ready().Records)
	}
	m.commit(t)
}

func (m *machine) addsFencedMember(p Partition, isr []int32) bool {
	for _, r := range isr {
		b, _ := m.cluster.committed.Broker(r)
		if !slices.Contains(p.ISR, r) && b.Fenced {
			return true
		}
	}
	return false
}
