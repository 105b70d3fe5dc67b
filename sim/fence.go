package sim

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/linearizability"
	"cairn/netsim"
	"cairn/replica/transport"
)

// The fence check (KIP-320). A fetch may name the leader epoch its sender
// believes current; a broker must then serve records only if that is its own
// epoch for the partition when it answers, and otherwise answer
// FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH. In this design a stale fetch
// rarely finds anything wrong to serve, so no end-of-run check would notice
// the rule broken: the world checks the rule itself, on every fetch a broker
// answers.

// fetchKey names one request a broker is answering.
type fetchKey struct {
	broker int
	conn   netsim.ConnID
	corr   int32
}

// namedEpochs is what a fetch request named: its version, and per partition
// the leader epoch it gave (partitions that gave none are left out).
type namedEpochs struct {
	version int16
	epochs  map[linearizability.TopicPartition]int32
}

// noteFetch remembers the epochs a fetch request names, if any.
func (w *World) noteFetch(b *broker, conn netsim.ConnID, frame []byte) {
	h, body, parsed, err := transport.ParseRequestHeader(frame)
	req, ok := parsed.(*kmsg.FetchRequest)
	if err != nil || !ok || req.ReadFrom(body) != nil {
		return // not a fetch, or the broker refuses it: nothing can be served
	}
	corr := h.CorrelationID
	named := namedEpochs{version: req.GetVersion()}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if p.CurrentLeaderEpoch >= 0 {
				if named.epochs == nil {
					named.epochs = map[linearizability.TopicPartition]int32{}
				}
				named.epochs[linearizability.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p.CurrentLeaderEpoch
			}
		}
	}
	if named.epochs != nil {
		w.namedEpochs[fetchKey{b.index, conn, corr}] = named
	}
}

// checkFetchAnswer checks a broker's answer to a fetch that named epochs:
// records are served only in the epoch named.
func (w *World) checkFetchAnswer(b *broker, conn netsim.ConnID, frame []byte) {
	if len(frame) < 4 || len(w.namedEpochs) == 0 {
		return
	}
	key := fetchKey{b.index, conn, transport.ResponseCorrelation(frame)}
	named, ok := w.namedEpochs[key]
	if !ok {
		return
	}
	delete(w.namedEpochs, key)
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(named.version)
	body, err := transport.ResponseBody(frame, resp)
	if err != nil {
		return
	}
	if resp.ReadFrom(body) != nil {
		w.violation("protocol", fmt.Sprintf("b%d: undecodable fetch response", b.index))
		return
	}
	var current map[linearizability.TopicPartition]int32
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			tp := linearizability.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			epoch, named := named.epochs[tp]
			if !named || p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
				continue
			}
			if current == nil {
				current = map[linearizability.TopicPartition]int32{}
				for _, info := range b.node.Partitions() {
					tp := linearizability.TopicPartition{Topic: info.Topic, Partition: info.Partition}
					current[tp] = info.LeaderEpoch
				}
			}
			if current[tp] != epoch {
				w.violation("fence", fmt.Sprintf("b%d served %s records to a fetch naming leader epoch %d in its epoch %d",
					b.index, tp, epoch, current[tp]))
			}
		}
	}
}

// sendKey names one client request on the network.
type sendKey struct {
	conn netsim.ConnID
	corr int32
}

// sendRef is the idempotent batch and attempt a request carries.
type sendRef struct {
	op, attempt int
}

// notePipelinedSend remembers which attempt of which batch a produce
// request carries.
func (w *World) notePipelinedSend(conn netsim.ConnID, corr int32, op, attempt int) {
	w.sends[sendKey{conn, corr}] = sendRef{op, attempt}
}

// noteProduceArrival records when a broker takes in an idempotent batch's
// send: the ground truth, outside the brokers' bookkeeping, of when a
// batch could have been written (legitimateRepeats).
func (w *World) noteProduceArrival(conn netsim.ConnID, payload []byte) {
	// The header's first fields (api key, version, correlation id) are
	// enough; only produces are looked up.
	if len(w.sends) == 0 || transport.RequestKey(payload) != kmsg.Produce.Int16() {
		return
	}
	ref, ok := w.sends[sendKey{conn, transport.RequestCorrelation(payload)}]
	if !ok {
		return
	}
	a := &w.history[ref.op].Attempts[ref.attempt]
	if a.Arrived < 0 {
		a.Arrived = int64(w.now)
	}
	a.ArrivedLast = int64(w.now)
}
