package core

import (
	"cairn/core/errcode"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// modelBatch is a batch the model saw written.
type modelBatch struct {
	b           ProducerBatch
	first, last int64
}

// modelProducer keeps everything a producer ever wrote, so that its
// verdicts come from the rules as Kafka states them, not from Producers'
// five-slot ring.
type modelProducer struct {
	epoch    int16
	history  []modelBatch // every batch of the current epoch, oldest first
	lastSeen time.Time
	known    bool
}

// verdict is what Kafka answers to b from a producer in state m.
func (m *modelProducer) verdict(b ProducerBatch) ProducerCheck {
	if !m.known {
		return ProducerCheck{}
	}
	if b.ProducerEpoch == m.epoch {
		recent := m.history[max(0, len(m.history)-ProducerBatchesMax):]
		for _, s := range recent {
			if s.b.FirstSequence == b.FirstSequence && s.b.LastSequence() == b.LastSequence() {
				return ProducerCheck{Duplicate: true, FirstOffset: s.first, LastOffset: s.last}
			}
		}
	}
	switch {
	case b.ProducerEpoch < m.epoch:
		return ProducerCheck{Code: errcode.InvalidProducerEpoch}
	case b.ProducerEpoch > m.epoch && b.FirstSequence != 0:
		return ProducerCheck{Code: errcode.OutOfOrderSequenceNumber}
	case b.ProducerEpoch == m.epoch && b.FirstSequence != sequenceAdd(m.history[len(m.history)-1].b.LastSequence(), 1):
		return ProducerCheck{Code: errcode.OutOfOrderSequenceNumber}
	}
	return ProducerCheck{}
}

func (m *modelProducer) append(s modelBatch, now time.Time) {
	if !m.known || s.b.ProducerEpoch != m.epoch {
		m.epoch, m.history = s.b.ProducerEpoch, nil
	}
	m.known = true
	m.history = append(m.history, s)
	m.lastSeen = now
}

// nextSequence is where the producer's next batch in its epoch starts.
func (m *modelProducer) nextSequence() int32 {
	if !m.known {
		return 0
	}
	return sequenceAdd(m.history[len(m.history)-1].b.LastSequence(), 1)
}

// TestProducersAgainstModel drives a few producers through writes, retries
// of anything they ever wrote (in any epoch), gaps, epoch bumps, fenced
// old epochs, idle time with expiry, and snapshot round trips, and checks
// every verdict against the model: a retry of one of the last five batches
// of the current epoch is a duplicate with its original offsets, in any
// interleaving; a gap or an older batch is OUT_OF_ORDER_SEQUENCE_NUMBER; an
// older epoch is INVALID_PRODUCER_EPOCH; a producer idle for the expiry
// time is forgotten, measured from its last write.
func TestProducersAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const idleMax = time.Minute
		const producersMax = 3
		table := NewProducers(idleMax)
		models := make([]modelProducer, producersMax)
		var all []modelBatch // every batch written, for retries across epochs
		now, offset := t0, int64(0)
		check := func(what string, b ProducerBatch) ProducerCheck {
			got, want := table.Check(b), models[b.ProducerID].verdict(b)
			if got != want {
				t.Fatalf("%s %+v: got %+v, want %+v", what, b, got, want)
			}
			return got
		}
		write := func(what string, b ProducerBatch) {
			if got := check(what, b); got.Code != errcode.None || got.Duplicate {
				return
			}
			s := modelBatch{b: b, first: offset, last: offset + int64(b.Records) - 1}
			table.Append(b, s.first, s.last, now)
			models[b.ProducerID].append(s, now)
			all = append(all, s)
			offset = s.last + 1
		}
		for step := rapid.IntRange(1, 60).Draw(t, "steps"); step > 0; step-- {
			id := rapid.Int64Range(0, producersMax-1).Draw(t, "producer")
			m := &models[id]
			records := rapid.Int32Range(1, 4).Draw(t, "records")
			switch rapid.IntRange(0, 7).Draw(t, "action") {
			case 0, 1: // the next batch
				write("next", batchOf(id, m.epoch, m.nextSequence(), records))
			case 2: // a retry of any batch ever written, by any producer
				if len(all) > 0 {
					check("retry", all[rapid.IntRange(0, len(all)-1).Draw(t, "which")].b)
				}
			case 3: // a gap
				gap := rapid.Int32Range(1, 3).Draw(t, "gap")
				write("gap", batchOf(id, m.epoch, sequenceAdd(m.nextSequence(), gap), records))
			case 4: // an epoch bump (KIP-360), at 0 or, wrongly, not
				first := int32(0)
				if rapid.Bool().Draw(t, "bump-mid-sequence") {
					first = rapid.Int32Range(1, 10).Draw(t, "first")
				}
				write("bump", batchOf(id, m.epoch+1, first, records))
			case 5: // a zombie from an older epoch
				if m.epoch > 0 {
					write("old epoch", batchOf(id, m.epoch-1, m.nextSequence(), records))
				}
			case 6: // time passes; producers idle for idleMax are dropped
				now = now.Add(time.Duration(rapid.IntRange(1, 40).Draw(t, "seconds")) * time.Second)
				expired := 0
				for i := range models {
					if models[i].known && now.Sub(models[i].lastSeen) >= idleMax {
						models[i] = modelProducer{}
						expired++
					}
				}
				if got := table.Expire(now); got != expired {
					t.Fatalf("expired %d producers at %v, want %d", got, now.Sub(t0), expired)
				}
			case 7: // the snapshot a restart recovers from
				restored := NewProducers(idleMax)
				restored.Restore(table.Snapshot())
				table = restored
			}
		}
	})
}

// TestDecideProduce checks the order of a leader's produce decision: the
// replica's own refusals come before the producer's verdict, a duplicate
// names the original offsets, and a new batch goes to the log end in the
// current epoch.
func TestDecideProduce(t *testing.T) {
	p := readLeader(t) // leader of epoch 3, log [0, 3)
	producers := NewProducers(0)
	producers.Append(batchOf(9, 0, 0, 3), 0, 2, t0)
	for _, c := range []struct {
		name string
		acks Acks
		b    ProducerBatch
		want ProduceDecision
	}{
		{"duplicate", 1, batchOf(9, 0, 0, 3), ProduceDecision{Duplicate: true, FirstOffset: 0, LastOffset: 2}},
		{"next", -1, batchOf(9, 0, 3, 1), ProduceDecision{BaseOffset: 3, LeaderEpoch: 3}},
		{"not idempotent", 0, batchOf(NoProducerID, -1, -1, 2), ProduceDecision{BaseOffset: 3, LeaderEpoch: 3}},
		{"gap", 1, batchOf(9, 0, 4, 1), ProduceDecision{Code: errcode.OutOfOrderSequenceNumber}},
		{"negative epoch", 1, batchOf(9, -1, 3, 1), ProduceDecision{Code: errcode.InvalidRecord}},
		{"bad acks before a duplicate", 2, batchOf(9, 0, 0, 3), ProduceDecision{Code: errcode.InvalidRequiredAcks}},
	} {
		if got := p.DecideProduce(c.acks, producers, c.b); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	producers.Append(batchOf(9, 1, 0, 1), 3, 3, t0)
	if got := p.DecideProduce(1, producers, batchOf(9, 0, 3, 1)); got != (ProduceDecision{Code: errcode.InvalidProducerEpoch}) {
		t.Errorf("older epoch after a bump: %+v, want INVALID_PRODUCER_EPOCH", got)
	}
	p.SetLeadership(t0, Leadership{Leader: 2, LeaderEpoch: 4, PartitionEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{2}})
	if got := p.DecideProduce(1, producers, batchOf(9, 1, 0, 1)); got != (ProduceDecision{Code: errcode.NotLeaderOrFollower}) {
		t.Errorf("a duplicate sent to a former leader: %+v, want NOT_LEADER_OR_FOLLOWER", got)
	}
}
