package sim

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/batch"
	"cairn/linearizability"
	"cairn/netsim"
	"cairn/replica/transport"
)

// Client request versions: the highest each broker advertises, as a
// negotiating client would pick.
const (
	produceVersion        = 9
	initProducerIDVersion = 4
	fetchVersion          = 12
	metadataVersion       = 12
	// reconnectBackoff is how long a client waits after losing a connection.
	reconnectBackoff = 100 * time.Millisecond
	// errorBackoff is how long a client waits after an error response.
	errorBackoff = 50 * time.Millisecond
	// recordsPerProduceMax bounds a produce batch.
	recordsPerProduceMax = 5
	// keysMax is the size of the producers' key space.
	keysMax = 16
	// pendingBatchesMax bounds an idempotent producer's pending batches
	// over all partitions; per partition, Options.ProducerInFlightMax
	// (max.in.flight) bounds them.
	pendingBatchesMax = 8
	// paddingBytesMax bounds a record's padding header.
	paddingBytesMax = 16 << 10
)

type clientRole uint8

const (
	roleProducer clientRole = iota + 1
	roleConsumer
)

type connState uint8

const (
	connIdle connState = iota
	connDialing
	connUp
)

// client is a workload client speaking Kafka's protocol over netsim: it
// learns partition leaders from Metadata, keeps a connection per broker,
// and has one request in flight at a time — except an idempotent
// producer's produce requests, which pipeline (produces).
type client struct {
	index    int
	id       netsim.NodeID
	role     clientRole
	links    []clientLink // by broker index
	nextCorr int32
	inflight *inflight
	// produces are an idempotent producer's produce requests in flight,
	// oldest first, one batch each.
	produces []*inflight
	done     bool
	// leaders maps each partition to its leader's broker index (-1: not
	// known); stale asks for a Metadata refresh before the next request.
	leaders map[linearizability.TopicPartition]int
	// leaderEpochs holds the leader epoch Metadata named with each leader;
	// fetches carry it (KIP-320), so a broker that has since moved to a
	// newer epoch fences them.
	leaderEpochs map[linearizability.TopicPartition]int32
	stale        bool
	// lastAnswer is the last produce answer's partition and error, for a
	// liveness report to say what a stuck producer keeps hearing.
	lastAnswer   string
	lastAnswerTP linearizability.TopicPartition
	// metadataBroker rotates the broker asked for Metadata.
	metadataBroker int
	// producer
	producesLeft int
	valueSeq     int
	planned      *plannedProduce
	// idempotent producers (as kgo and librdkafka with idempotence):
	// an id and epoch from InitProducerId, a next sequence number per
	// partition, and every batch retried with its sequence until it is
	// acknowledged or definitely refused.
	idempotent    bool
	producerID    int64
	producerEpoch int16
	sequences     map[linearizability.TopicPartition]int32
	// known holds the partitions that acknowledged a batch of the current
	// id and epoch: until then a partition has one batch in flight, since
	// a partition that does not know a producer accepts any sequence, and
	// a later batch could overtake a first one that was lost.
	known map[linearizability.TopicPartition]bool
	// pending are the batches sent or to be sent, in issue order, at most
	// inFlightMax per partition; waiting is the next planned batch, held
	// while its partition has that many pending.
	pending     []*plannedProduce
	waiting     *plannedProduce
	inFlightMax int
	// consumer
	session    int
	positions  []position
	fetchRound int
}

// clientLink is a client's connection to one broker.
type clientLink struct {
	state connState
	conn  netsim.ConnID
}

// plannedProduce is the next batch a producer will send, once it knows the
// partition's leader.
type plannedProduce struct {
	topic     string
	partition int32
	acks      int16
	values    []string
	records   []batch.Record
	// op is the history entry of an idempotent batch, from its first
	// send to its last answer (-1: not sent yet). sequence was assigned
	// under producerID and epoch when assigned; a new epoch or id
	// unassigns it. inflight says a request carries it now; notBefore is
	// when it may be retried.
	op         int
	assigned   bool
	sequence   int32
	epoch      int16
	producerID int64
	inflight   bool
	broker     int // where it is in flight
	notBefore  time.Duration
}

// position is a consumer's place in one partition.
type position struct {
	topic         string
	partition     int32
	offset        int64
	reset         bool
	highWatermark int64
	caughtUp      bool
}

// inflight is the one request a client has outstanding.
type inflight struct {
	broker      int
	correlation int32
	request     kmsg.Request
	call        time.Duration
	deadline    time.Duration
	ops         []int // history indices this request will complete
	// batch and attempt are a pipelined produce's batch and the index of
	// this send in its history entry's Attempts.
	batch   *plannedProduce
	attempt int
}

func (c *client) name() string { return fmt.Sprintf("c%d", c.index) }

func newClient(w *World, index int) *client {
	c := &client{index: index, id: netsim.NodeID(clientNodeBase + index), stale: true,
		links: make([]clientLink, len(w.brokers)), leaders: map[linearizability.TopicPartition]int{},
		leaderEpochs:   map[linearizability.TopicPartition]int32{},
		metadataBroker: index % len(w.brokers)}
	for i := range c.links {
		c.links[i].conn = -1
	}
	// Two producers in three are idempotent; the index decides, so that
	// a seed's choices do not move.
	c.idempotent = index%3 != 2 && !w.options.AcksOneHeavy
	c.inFlightMax = max(1, w.options.ProducerInFlightMax)
	c.producerID = -1
	c.sequences = map[linearizability.TopicPartition]int32{}
	c.known = map[linearizability.TopicPartition]bool{}
	return c
}

// firstSequence is where an idempotent producer starts on a partition it
// has not written in this epoch: 0, as clients do, except that every
// other producer starts its first epoch just below math.MaxInt32 (a
// broker accepts any sequence from a producer it does not know), so that
// sequence numbers wrap in every run.
func (c *client) firstSequence() int32 {
	if c.producerEpoch == 0 && c.index%2 == 1 {
		return math.MaxInt32 - 6
	}
	return 0
}

// wake is the client's timer: give up on a request that timed out, or take
// the next step.
func (c *client) wake(w *World) {
	timedOut := c.inflight
	for _, in := range c.produces {
		if timedOut == nil || in.deadline < timedOut.deadline {
			timedOut = in
		}
	}
	if timedOut != nil && w.now >= timedOut.deadline {
		w.tracef("%s timeout corr=%d", c.name(), timedOut.correlation)
		broker := timedOut.broker
		c.disconnect(w, broker)
		c.lose(broker)
		c.stale = true
		c.sleep(w, reconnectBackoff)
		return
	}
	c.step(w)
}

// lose forgets every request in flight to broker, whose connection is
// gone: their outcomes stay unknown, and their batches wait to be resent.
func (c *client) lose(broker int) {
	if c.inflight != nil && c.inflight.broker == broker {
		c.inflight = nil
	}
	kept := c.produces[:0]
	for _, in := range c.produces {
		if in.broker == broker {
			in.batch.inflight = false
			continue
		}
		kept = append(kept, in)
	}
	c.produces = kept
}

func (c *client) sleep(w *World, d time.Duration) {
	w.schedule(w.now+d, eventClientWake, c.index, 0, nil)
}

// step sends the next request, or starts what it needs first: metadata,
// a connection.
func (c *client) step(w *World) {
	if c.done || c.inflight != nil {
		return
	}
	if c.stale {
		c.requestMetadata(w)
		return
	}
	switch c.role {
	case roleProducer:
		c.produce(w)
	case roleConsumer:
		c.fetch(w)
	}
}

// link returns whether the client can send to broker now, dialing if not.
func (c *client) link(w *World, broker int) bool {
	l := &c.links[broker]
	switch l.state {
	case connUp:
		return true
	case connIdle:
		l.state = connDialing
		l.conn = w.net.Dial(w.now, c.id, w.brokers[broker].id)
	}
	return false
}

// onNetwork handles what the network tells the client.
func (c *client) onNetwork(w *World, ev netsim.Event) {
	broker := -1
	for i := range c.links {
		if c.links[i].conn == ev.Conn && c.links[i].state != connIdle {
			broker = i
		}
	}
	if broker < 0 {
		return // an old connection's last words
	}
	switch ev.Kind {
	case netsim.EventConnected:
		c.links[broker].state = connUp
		c.step(w)
	case netsim.EventDialFailed, netsim.EventClosed, netsim.EventReset:
		w.tracef("%s conn=%d to b%d %s", c.name(), ev.Conn, broker, ev.Kind)
		c.links[broker] = clientLink{conn: -1}
		c.stale = true
		c.lose(broker) // a produce's outcome stays unknown
		c.sleep(w, reconnectBackoff)
	case netsim.EventDeliver:
		c.onResponse(w, broker, ev.Payload)
	}
}

// disconnect drops the connection to broker on the client's side.
func (c *client) disconnect(w *World, broker int) {
	if c.links[broker].state == connUp {
		w.net.Close(w.now, c.links[broker].conn, c.id)
	}
	c.links[broker] = clientLink{conn: -1}
}

func (c *client) send(w *World, broker int, req kmsg.Request, ops []int) {
	c.nextCorr++
	frame := w.formatter.AppendRequest(nil, req, c.nextCorr)
	c.inflight = &inflight{broker: broker, correlation: c.nextCorr, request: req, call: w.now,
		deadline: w.now + w.options.RequestTimeout, ops: ops}
	w.net.Send(w.now, c.links[broker].conn, c.id, transport.Payload(frame))
	w.schedule(c.inflight.deadline, eventClientWake, c.index, 0, nil)
}

// requestMetadata asks a broker (rotating) for every topic's leaders.
func (c *client) requestMetadata(w *World) {
	broker := c.metadataBroker
	if !c.link(w, broker) {
		if c.links[broker].state == connIdle {
			c.metadataBroker = (broker + 1) % len(w.brokers)
		}
		return
	}
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(metadataVersion)
	for _, t := range w.options.Topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t.Name)
		req.Topics = append(req.Topics, rt)
	}
	c.send(w, broker, req, nil)
}

func (c *client) onMetadata(w *World, r *kmsg.MetadataResponse) {
	for _, t := range r.Topics {
		if t.Topic == nil {
			continue
		}
		for _, p := range t.Partitions {
			leader, epoch := -1, int32(-1)
			if p.ErrorCode == 0 && p.Leader >= 0 && int(p.Leader) < len(w.brokers) {
				leader, epoch = int(p.Leader), p.LeaderEpoch
			}
			tp := linearizability.TopicPartition{Topic: *t.Topic, Partition: p.Partition}
			c.leaders[tp], c.leaderEpochs[tp] = leader, epoch
		}
	}
	c.stale = false
	c.metadataBroker = (c.metadataBroker + 1) % len(w.brokers)
}

func (c *client) leaderOf(topic string, partition int32) int {
	leader, ok := c.leaders[linearizability.TopicPartition{Topic: topic, Partition: partition}]
	if !ok {
		return -1
	}
	return leader
}

// produce sends the planned batch to its partition's leader, planning a
// new one first if needed: fresh, unique values, keyed (the partition
// follows the key's hash) or unkeyed (a random partition), acks 1 or all.
func (c *client) produce(w *World) {
	if c.idempotent {
		c.produceIdempotent(w)
		return
	}
	if c.planned == nil {
		if c.producesLeft == 0 {
			c.done = true
			return
		}
		c.producesLeft--
		c.planned = c.plan(w)
	}
	p := c.planned
	leader := c.leaderOf(p.topic, p.partition)
	if leader < 0 {
		c.stale = true
		c.sleep(w, errorBackoff)
		return
	}
	if !c.link(w, leader) {
		return
	}
	req := produceRequest(w, p, batch.BuildOptions{ProducerID: -1, FirstTimestamp: w.wallTime().UnixMilli()})
	op := w.record(linearizability.Op{
		Client: c.index, Kind: linearizability.OpProduce, Topic: p.topic, Partition: p.partition,
		Call: int64(w.now), Outcome: linearizability.OutcomeUnknown, Values: p.values, Acks: p.acks,
	})
	c.planned = nil
	c.send(w, leader, req, []int{op})
}

func produceRequest(w *World, p *plannedProduce, options batch.BuildOptions) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(produceVersion)
	req.Acks = p.acks
	req.TimeoutMillis = int32(w.options.RequestTimeout / time.Millisecond / 2)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = p.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = p.partition
	rp.Records = batch.Build(options, p.records)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produceIdempotent is an idempotent producer's step, shaped like kgo's
// sinks and the Java client: up to inFlightMax batches per partition in
// flight (max.in.flight), each its own request with its own sequence
// range, sent in issue order per partition and retried with the same
// sequence until acknowledged or refused for good. A batch is sent only
// while every earlier batch of its partition is in flight in the current
// epoch and no later one is: after an error the partition drains, then
// resends from its oldest unacknowledged batch in order, as kgo does.
// Partitions do not wait for each other.
func (c *client) produceIdempotent(w *World) {
	if c.producerID < 0 {
		c.initProducerID(w)
		return
	}
	for len(c.pending) < pendingBatchesMax {
		if c.waiting == nil {
			if c.producesLeft == 0 {
				break
			}
			c.producesLeft--
			c.waiting = c.plan(w)
		}
		if c.pendingCount(c.waiting.topic, c.waiting.partition) >= c.inFlightMax {
			break
		}
		c.pending = append(c.pending, c.waiting)
		c.waiting = nil
	}
	if len(c.pending) == 0 {
		c.done = true
		return
	}
	soonest := time.Duration(-1)
	for _, p := range c.pending {
		if p.inflight || !c.sendable(p) {
			continue
		}
		if p.notBefore > w.now {
			if soonest < 0 || p.notBefore < soonest {
				soonest = p.notBefore
			}
			continue
		}
		leader := c.leaderOf(p.topic, p.partition)
		if leader < 0 {
			p.notBefore = w.now + errorBackoff
			c.stale = true
			c.sleep(w, errorBackoff)
			return
		}
		if c.elsewhere(p, leader) {
			continue // its partition's batches in flight went to another broker
		}
		if !c.link(w, leader) {
			continue // dialing; the connection's event steps again
		}
		c.sendBatch(w, leader, p)
	}
	if soonest >= 0 {
		c.sleep(w, soonest-w.now)
	}
}

// sendable says whether batch p may go now as far as its partition's order
// goes: every earlier pending batch of the partition is in flight in the
// current epoch, no later one is in flight, and the partition has fewer
// than inFlightMax in flight.
func (c *client) sendable(p *plannedProduce) bool {
	inFlight, before := 0, true
	for _, b := range c.pending {
		if b.topic != p.topic || b.partition != p.partition {
			continue
		}
		if b == p {
			before = false
			continue
		}
		if b.inflight {
			inFlight++
		}
		if before && !(b.inflight && c.current(b)) || !before && b.inflight {
			return false
		}
	}
	if !c.known[linearizability.TopicPartition{Topic: p.topic, Partition: p.partition}] {
		return inFlight == 0
	}
	return inFlight < c.inFlightMax
}

// elsewhere says whether a batch of p's partition is in flight to another
// broker than leader: p waits for it, so that no broker sees p before it.
func (c *client) elsewhere(p *plannedProduce, leader int) bool {
	for _, b := range c.pending {
		if b.inflight && b.broker != leader && b.topic == p.topic && b.partition == p.partition {
			return true
		}
	}
	return false
}

// current says whether batch b's sequence was assigned in the producer's
// current id and epoch.
func (c *client) current(b *plannedProduce) bool {
	return b.assigned && b.producerID == c.producerID && b.epoch == c.producerEpoch
}

// sendBatch sends batch p to broker with its sequence, assigning the
// partition's next one if p has none in the current epoch: the same on
// every retry, a new one only after an epoch bump or a new id.
func (c *client) sendBatch(w *World, broker int, p *plannedProduce) {
	if !c.current(p) {
		tp := linearizability.TopicPartition{Topic: p.topic, Partition: p.partition}
		sequence, ok := c.sequences[tp]
		if !ok {
			sequence = c.firstSequence()
		}
		c.sequences[tp] = sequenceAfter(sequence, int32(len(p.values)))
		p.assigned, p.sequence, p.epoch, p.producerID = true, sequence, c.producerEpoch, c.producerID
	}
	req := produceRequest(w, p, batch.BuildOptions{ProducerID: p.producerID, ProducerEpoch: p.epoch,
		BaseSequence: p.sequence, FirstTimestamp: w.wallTime().UnixMilli()})
	if p.op >= 0 {
		w.tracef("%s retries %s-%d seq=%d epoch=%d", c.name(), p.topic, p.partition, p.sequence, p.epoch)
	} else {
		p.op = w.record(linearizability.Op{
			Client: c.index, Kind: linearizability.OpProduce, Topic: p.topic, Partition: p.partition,
			Call: int64(w.now), Outcome: linearizability.OutcomeUnknown, Values: p.values, Acks: p.acks,
			Idempotent: true,
		})
	}
	op := &w.history[p.op]
	op.Attempts = append(op.Attempts, linearizability.Attempt{Sent: int64(w.now), Arrived: -1, ArrivedLast: -1,
		ProducerID: p.producerID, Epoch: p.epoch, Sequence: p.sequence, Answer: linearizability.AttemptUnanswered})
	c.nextCorr++
	frame := w.formatter.AppendRequest(nil, req, c.nextCorr)
	in := &inflight{broker: broker, correlation: c.nextCorr, request: req, call: w.now,
		deadline: w.now + w.options.RequestTimeout, ops: []int{p.op}, batch: p, attempt: len(op.Attempts) - 1}
	c.produces = append(c.produces, in)
	p.inflight, p.broker = true, broker
	w.notePipelinedSend(c.links[broker].conn, in.correlation, p.op, in.attempt)
	w.net.Send(w.now, c.links[broker].conn, c.id, transport.Payload(frame))
	w.schedule(in.deadline, eventClientWake, c.index, 0, nil)
}

// pendingCount counts a partition's pending batches.
func (c *client) pendingCount(topic string, partition int32) int {
	n := 0
	for _, b := range c.pending {
		if b.topic == topic && b.partition == partition {
			n++
		}
	}
	return n
}

// pendingHead says whether p is its partition's oldest pending batch.
func (c *client) pendingHead(p *plannedProduce) bool {
	for _, b := range c.pending {
		if b.topic == p.topic && b.partition == p.partition {
			return b == p
		}
	}
	return false
}

// removePending drops an answered batch.
func (c *client) removePending(p *plannedProduce) {
	for i, b := range c.pending {
		if b == p {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return
		}
	}
}

// initProducerID asks a broker (rotating) for a producer id.
func (c *client) initProducerID(w *World) {
	broker := c.metadataBroker
	if !c.link(w, broker) {
		if c.links[broker].state == connIdle {
			c.metadataBroker = (broker + 1) % len(w.brokers)
		}
		return
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(initProducerIDVersion)
	req.TransactionTimeoutMillis = -1
	req.ProducerID, req.ProducerEpoch = -1, -1
	c.send(w, broker, req, nil)
}

func (c *client) onInitProducerID(w *World, r *kmsg.InitProducerIDResponse) (backoff bool) {
	c.metadataBroker = (c.metadataBroker + 1) % len(w.brokers)
	if r.ErrorCode != 0 || r.ProducerID < 0 {
		w.tracef("%s init producer id: %s", c.name(), errorName(r.ErrorCode))
		return true
	}
	c.producerID, c.producerEpoch = r.ProducerID, r.ProducerEpoch
	clear(c.sequences)
	clear(c.known)
	w.tracef("%s producer id %d epoch %d", c.name(), c.producerID, c.producerEpoch)
	return false
}

// resetProducer is what clients do when the broker says their sequence
// does not follow (OUT_OF_ORDER_SEQUENCE_NUMBER) or it does not know them
// (UNKNOWN_PRODUCER_ID): bump the epoch locally (KIP-360; a new id once the
// epoch is exhausted), start every partition again at sequence 0 and
// resend what is pending. Safe only because a broker never says so about
// a batch it already wrote.
func (c *client) resetProducer(w *World) {
	clear(c.sequences)
	clear(c.known)
	if c.producerEpoch == math.MaxInt16 {
		c.producerID = -1
		return
	}
	c.producerEpoch++
	w.tracef("%s bumps epoch to %d", c.name(), c.producerEpoch)
}

func (c *client) plan(w *World) *plannedProduce {
	rng := w.workloadRng
	topic := w.options.Topics[rng.IntN(len(w.options.Topics))]
	var key []byte
	partition := int32(rng.IntN(int(topic.Partitions)))
	if rng.IntN(2) == 0 {
		key = []byte(fmt.Sprintf("k%d", rng.IntN(keysMax)))
		h := fnv.New32a()
		h.Write(key)
		partition = int32(h.Sum32() % uint32(topic.Partitions))
	}
	acks := int16(-1)
	// One draw either way, so that seeds keep their workload's draws.
	if draw := rng.IntN(3); !c.idempotent && (draw == 0 || w.options.AcksOneHeavy && draw == 1) {
		acks = 1 // idempotence requires acks=all, as clients enforce
	}
	n := 1 + rng.IntN(recordsPerProduceMax)
	p := &plannedProduce{topic: topic.Name, partition: partition, acks: acks, values: make([]string, n), records: make([]batch.Record, n), op: -1}
	for i := range p.values {
		c.valueSeq++
		p.values[i] = fmt.Sprintf("%s-%d", c.name(), c.valueSeq)
		p.records[i] = batch.Record{Key: key, Value: []byte(p.values[i])}
		// Padding of varied size makes batches span sectors and pages, so
		// that a crash can tear a batch in the middle, not only cut it.
		if padding := paddingBytes(rng); padding > 0 {
			p.records[i].Headers = []kmsg.Header{{Key: "pad", Value: w.padding[:padding]}}
		}
	}
	return p
}

// fetch long-polls the partitions one broker leads, rotating over brokers.
// A partition without a known leader asks for fresh metadata next round.
func (c *client) fetch(w *World) {
	for _, p := range c.positions {
		if c.leaderOf(p.topic, p.partition) < 0 {
			c.stale = true
		}
	}
	brokers := len(w.brokers)
	for k := 0; k < brokers; k++ {
		broker := (c.fetchRound + k) % brokers
		req := c.fetchRequest(broker)
		if req == nil {
			continue
		}
		if !c.link(w, broker) {
			return
		}
		c.fetchRound = (broker + 1) % brokers
		c.send(w, broker, req, nil)
		return
	}
	c.stale = true
	c.sleep(w, errorBackoff)
}

func (c *client) fetchRequest(broker int) *kmsg.FetchRequest {
	var req *kmsg.FetchRequest
	for _, p := range c.positions {
		if c.leaderOf(p.topic, p.partition) != broker {
			continue
		}
		if req == nil {
			req = kmsg.NewPtrFetchRequest()
			req.SetVersion(fetchVersion)
			req.ReplicaID = -1
			req.MaxWaitMillis = 200
			req.MinBytes = 1
			req.MaxBytes = 1 << 20
			req.SessionEpoch = -1
		}
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = p.topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.partition
		rp.FetchOffset = p.offset
		rp.PartitionMaxBytes = 64 << 10
		rp.CurrentLeaderEpoch = -1
		if epoch, ok := c.leaderEpochs[linearizability.TopicPartition{Topic: p.topic, Partition: p.partition}]; ok {
			rp.CurrentLeaderEpoch = epoch
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func (c *client) onResponse(w *World, broker int, payload []byte) {
	// A broker answers a connection's requests in order: the answer is to
	// the oldest request in flight there.
	oldest, pipelined := c.inflight, -1
	if oldest != nil && oldest.broker != broker {
		oldest = nil
	}
	for i, in := range c.produces {
		if in.broker == broker && (oldest == nil || in.correlation < oldest.correlation) {
			oldest, pipelined = in, i
			break
		}
	}
	if oldest == nil || len(payload) < 4 {
		return // the answer to a request the client gave up on
	}
	corr := int32(binary.BigEndian.Uint32(payload))
	if corr != oldest.correlation {
		w.violation("protocol", fmt.Sprintf("%s: response correlation %d, expected %d", c.name(), corr, oldest.correlation))
		return
	}
	req := oldest.request
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	body := payload[4:]
	if resp.IsFlexible() {
		body = body[1:] // empty response-header tagged fields
	}
	if err := resp.ReadFrom(body); err != nil {
		w.violation("protocol", fmt.Sprintf("%s: undecodable %s response: %v", c.name(), kmsg.NameForKey(resp.Key()), err))
		return
	}
	in := oldest
	if pipelined >= 0 {
		c.produces = append(c.produces[:pipelined], c.produces[pipelined+1:]...)
		in.batch.inflight = false
	} else {
		c.inflight = nil
	}
	backoff := false
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		c.onMetadata(w, r)
	case *kmsg.ProduceResponse:
		c.noteProduceAnswer(r)
		if c.idempotent {
			backoff = c.onIdempotentProduce(w, in, r)
		} else {
			backoff = c.onProduce(w, in, r)
		}
	case *kmsg.InitProducerIDResponse:
		backoff = c.onInitProducerID(w, r)
	case *kmsg.FetchResponse:
		backoff = c.onFetch(w, in, r)
	}
	if backoff {
		// Real clients back off after errors (a partition without a
		// leader, a broker recovering) and refresh metadata.
		c.stale = true
		c.sleep(w, errorBackoff)
		return
	}
	c.step(w)
}

// noteProduceAnswer keeps what the last produce answer said.
func (c *client) noteProduceAnswer(r *kmsg.ProduceResponse) {
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			c.lastAnswer, c.lastAnswerTP = "no error", linearizability.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if p.ErrorCode != 0 {
				c.lastAnswer = errorName(p.ErrorCode)
			}
		}
	}
}

func (c *client) onProduce(w *World, in *inflight, r *kmsg.ProduceResponse) (backoff bool) {
	op := &w.history[in.ops[0]]
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		w.violation("protocol", fmt.Sprintf("%s: produce response shape %d topics", c.name(), len(r.Topics)))
		return false
	}
	p := r.Topics[0].Partitions[0]
	op.Return = int64(w.now)
	switch {
	case p.ErrorCode == 0:
		op.Outcome = linearizability.OutcomeOK
		op.BaseOffset = p.BaseOffset
		w.acknowledged(op)
		w.tracef("%s produced %s-%d@%d %v", c.name(), op.Topic, op.Partition, p.BaseOffset, op.Values)
	case definitelyNotWritten(p.ErrorCode):
		op.Outcome = linearizability.OutcomeFailed
		w.tracef("%s produce failed %s", c.name(), errorName(p.ErrorCode))
	default:
		// Timed out or a storage error after the append: the records may
		// exist. Unknown, as far as any checker may assume.
		op.Outcome = linearizability.OutcomeUnknown
		w.tracef("%s produce unknown %s", c.name(), errorName(p.ErrorCode))
	}
	return p.ErrorCode != 0
}

// onIdempotentProduce settles one send of an idempotent batch:
// acknowledged, refused for good, reset (a new epoch, the same records) or
// retried as it was. An answer to a send from an earlier epoch or id
// still settles the batch if it says success or a definite refusal; any
// other such answer only leaves the batch to be resent in the new epoch.
// OUT_OF_ORDER_SEQUENCE_NUMBER for a batch behind an unacknowledged one
// of its partition is retried as it is (that one failed first, and the
// partition resends both in order), as the Java client does; for the
// partition's oldest batch it bumps the epoch.
func (c *client) onIdempotentProduce(w *World, in *inflight, r *kmsg.ProduceResponse) (backoff bool) {
	p := in.batch
	op := &w.history[p.op]
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 || in.ops[0] != p.op {
		w.violation("protocol", fmt.Sprintf("%s: produce response shape %d topics", c.name(), len(r.Topics)))
		return false
	}
	attempt := &op.Attempts[in.attempt]
	part := r.Topics[0].Partitions[0]
	attempt.Answer = part.ErrorCode
	sentNow := attempt.ProducerID == c.producerID && attempt.Epoch == c.producerEpoch
	switch {
	case part.ErrorCode == 0:
		op.Outcome, op.Return, op.BaseOffset = linearizability.OutcomeOK, int64(w.now), part.BaseOffset
		w.acknowledged(op)
		c.removePending(p)
		if sentNow {
			c.known[linearizability.TopicPartition{Topic: p.topic, Partition: p.partition}] = true
		}
		w.tracef("%s produced %s-%d@%d seq=%d epoch=%d %v", c.name(), op.Topic, op.Partition, part.BaseOffset, attempt.Sequence, attempt.Epoch, op.Values)
		return false
	case definitelyNotWritten(part.ErrorCode):
		op.Outcome, op.Return = linearizability.OutcomeFailed, int64(w.now)
		c.removePending(p)
		w.tracef("%s produce failed %s", c.name(), errorName(part.ErrorCode))
	case !sentNow:
		w.tracef("%s produce %s from epoch %d: resent in the new one", c.name(), errorName(part.ErrorCode), attempt.Epoch)
	case (part.ErrorCode == kerr.OutOfOrderSequenceNumber.Code || part.ErrorCode == kerr.UnknownProducerID.Code) && c.pendingHead(p):
		w.tracef("%s produce %s seq=%d: resetting", c.name(), errorName(part.ErrorCode), attempt.Sequence)
		attempt.Reset = true
		c.resetProducer(w)
	case part.ErrorCode == kerr.InvalidProducerEpoch.Code:
		w.tracef("%s produce %s: new producer id", c.name(), errorName(part.ErrorCode))
		attempt.Reset = true
		c.producerID = -1
	default:
		w.tracef("%s produce retriable %s seq=%d", c.name(), errorName(part.ErrorCode), attempt.Sequence)
		p.notBefore = w.now + errorBackoff
	}
	return true
}

// sequenceAfter is the sequence number records after sequence, wrapping
// at math.MaxInt32 as Kafka's do.
func sequenceAfter(sequence, records int32) int32 {
	if sequence > math.MaxInt32-records {
		return records - (math.MaxInt32 - sequence) - 1
	}
	return sequence + records
}

// definitelyNotWritten lists the errors a broker returns only before it
// appends anything.
func definitelyNotWritten(code int16) bool {
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.InvalidRecord.Code, kerr.CorruptMessage.Code,
		kerr.MessageTooLarge.Code, kerr.InvalidRequiredAcks.Code, kerr.InvalidRequest.Code:
		return true
	}
	return false
}

func (c *client) onFetch(w *World, in *inflight, r *kmsg.FetchResponse) (backoff bool) {
	if r.ErrorCode != 0 {
		w.tracef("%s fetch error %s", c.name(), errorName(r.ErrorCode))
		return true
	}
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			pos := c.position(rt.Topic, rp.Partition)
			if pos == nil {
				w.violation("protocol", fmt.Sprintf("%s: fetch answered for %s-%d, never asked", c.name(), rt.Topic, rp.Partition))
				continue
			}
			if rp.ErrorCode != 0 {
				backoff = true
			}
			c.onFetchPartition(w, in, pos, &rp)
		}
	}
	return backoff
}

func (c *client) onFetchPartition(w *World, in *inflight, pos *position, rp *kmsg.FetchResponseTopicPartition) {
	switch rp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		w.tracef("%s %s-%d offset %d out of range, resetting", c.name(), pos.topic, pos.partition, pos.offset)
		pos.offset, pos.reset = 0, true
		return
	default:
		w.tracef("%s fetch %s-%d error %s", c.name(), pos.topic, pos.partition, errorName(rp.ErrorCode))
		return
	}
	records, err := decodeBatches(rp.RecordBatches)
	if err != nil {
		w.violation("served-corrupt-batch", fmt.Sprintf("%s: %s-%d from offset %d: %v", c.name(), pos.topic, pos.partition, pos.offset, err))
		return
	}
	// A batch may begin before the fetch offset; the client skips those
	// records, as real clients do.
	kept := records[:0]
	for _, rec := range records {
		if rec.Offset >= pos.offset {
			kept = append(kept, rec)
		}
	}
	w.record(linearizability.Op{
		Client: c.index, Kind: linearizability.OpFetch, Topic: pos.topic, Partition: pos.partition,
		Call: int64(in.call), Return: int64(w.now), Outcome: linearizability.OutcomeOK,
		FetchOffset: pos.offset, Records: kept, HighWatermark: rp.HighWatermark, Session: c.session, Reset: pos.reset,
	})
	pos.reset = false
	pos.highWatermark = rp.HighWatermark
	if len(kept) > 0 {
		pos.offset = kept[len(kept)-1].Offset + 1
		tp := linearizability.TopicPartition{Topic: pos.topic, Partition: pos.partition}
		w.readEnd[tp] = max(w.readEnd[tp], pos.offset)
	}
	pos.caughtUp = pos.offset >= rp.HighWatermark
}

func (c *client) position(topic string, partition int32) *position {
	for i := range c.positions {
		if c.positions[i].topic == topic && c.positions[i].partition == partition {
			return &c.positions[i]
		}
	}
	return nil
}

// decodeBatches checks every batch as a careful client would (framing and
// CRC-32C) and returns the records.
func decodeBatches(b []byte) ([]linearizability.FetchedRecord, error) {
	var out []linearizability.FetchedRecord
	for len(b) > 0 {
		total, complete, err := batch.Frame(b)
		if err != nil {
			return nil, err
		}
		if !complete {
			return nil, fmt.Errorf("partial batch of %d bytes", len(b))
		}
		one := b[:total]
		b = b[total:]
		h, err := batch.Validate(one)
		if err != nil {
			return nil, err
		}
		records, err := batch.Records(one)
		if err != nil {
			return nil, err
		}
		for i, r := range records {
			out = append(out, linearizability.FetchedRecord{Offset: h.BaseOffset + int64(i), Value: string(r.Value)})
		}
	}
	return out, nil
}

func errorName(code int16) string {
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return ke.Message
		}
	}
	return fmt.Sprintf("ERROR_%d", code)
}

// paddingBytes draws a record's padding: none mostly, sometimes a few
// kilobytes, rarely up to paddingBytesMax.
func paddingBytes(rng interface{ IntN(int) int }) int {
	switch r := rng.IntN(8); {
	case r < 4:
		return 0
	case r < 7:
		return rng.IntN(2048)
	default:
		return rng.IntN(paddingBytesMax)
	}
}
