package linearizability

import (
	"fmt"
	"math/rand/v2"

	"pgregory.net/rapid"
)

// chooser draws the generator's choices: from rapid in property tests, from
// a seeded source in the performance test.
type chooser interface {
	// choose returns a number in [0, n).
	choose(label string, n int) int
}

type rapidChooser struct{ t *rapid.T }

func (c rapidChooser) choose(label string, n int) int {
	return rapid.IntRange(0, n-1).Draw(c.t, label)
}

type seededChooser struct{ random *rand.Rand }

func (c seededChooser) choose(_ string, n int) int {
	return c.random.IntN(n)
}

// generatorConfig shapes a generated run.
type generatorConfig struct {
	partitions int
	clients    int
	operations int // stop after this many operations
	stepsMax   int // and after this many steps, busy or not
	// includeFinalRead appends the final read to the history as fetches.
	includeFinalRead bool
}

// generatedRun is a correct history, made by simulating a log one
// operation at a time and giving each operation a random window around the
// instant it took effect, and the final read of every partition.
type generatedRun struct {
	history    History
	final      map[TopicPartition][]FetchedRecord
	finalReads map[int]bool // history indexes of the final read's fetches
}

type generator struct {
	config   generatorConfig
	choose   chooser
	logs     [][]string
	busy     []int64          // per client, the return time of its last operation
	position map[[2]int]int64 // per client and partition, the session position
	values   int
	run      generatedRun
}

func generateRun(choose chooser, config generatorConfig) generatedRun {
	g := &generator{
		config:   config,
		choose:   choose,
		logs:     make([][]string, config.partitions),
		busy:     make([]int64, config.clients),
		position: make(map[[2]int]int64),
		run:      generatedRun{finalReads: make(map[int]bool)},
	}
	for i := range g.busy {
		g.busy[i] = -1
	}
	window := int64(choose.choose("window", 60))
	now := int64(0)
	for step := 0; step < config.stepsMax && len(g.run.history) < config.operations; step++ {
		now += 10
		client := choose.choose("client", config.clients)
		if g.busy[client] >= now {
			continue
		}
		call := max(g.busy[client]+1, now-int64(choose.choose("before", int(window)+1)))
		returned := now + int64(choose.choose("after", int(window)+1))
		g.busy[client] = returned
		partition := choose.choose("partition", config.partitions)
		if choose.choose("kind", 2) == 0 {
			g.produce(client, partition, call, returned)
		} else {
			g.fetch(client, partition, call, returned)
		}
	}
	g.finish()
	return g.run
}

// produce appends a batch at this instant, or not, and records what the
// client learned.
func (g *generator) produce(client, partition int, call, returned int64) {
	length := 1 + g.choose.choose("batch", 3)
	values := make([]string, length)
	for i := range values {
		values[i] = fmt.Sprintf("v%d", g.values)
		g.values++
	}
	op := Op{Client: client, Kind: OpProduce, Topic: testTopic, Partition: int32(partition),
		Call: call, Return: returned, Values: values, Acks: AcksAll}
	base := int64(len(g.logs[partition]))
	applied := true
	switch outcome := g.choose.choose("outcome", 10); {
	case outcome < 5:
		op.Outcome, op.BaseOffset = OutcomeOK, base
	case outcome < 7:
		op.Outcome, op.BaseOffset, op.Acks = OutcomeOK, base, AcksLeader
	case outcome < 8:
		op.Outcome, applied = OutcomeFailed, false
	case outcome < 9:
		op.Outcome = OutcomeUnknown
	default:
		op.Outcome, applied = OutcomeUnknown, false
	}
	if applied {
		g.logs[partition] = append(g.logs[partition], values...)
	}
	g.run.history = append(g.run.history, op)
}

// fetch reads at this instant from the client's session position, or
// seeks first.
func (g *generator) fetch(client, partition int, call, returned int64) {
	log := g.logs[partition]
	key := [2]int{client, partition}
	offset, known := g.position[key]
	seek := !known || g.choose.choose("seek", 8) == 0
	if seek {
		offset = int64(g.choose.choose("seekOffset", len(log)+1))
	}
	op := Op{Client: client, Kind: OpFetch, Topic: testTopic, Partition: int32(partition),
		Call: call, Return: returned, FetchOffset: offset, Session: client, Reset: seek}
	switch outcome := g.choose.choose("fetchOutcome", 10); {
	case outcome == 0:
		op.Outcome = OutcomeFailed
	case outcome == 1:
		op.Outcome = OutcomeUnknown
	default:
		op.Outcome = OutcomeOK
		count := min(int64(g.choose.choose("count", 5)), int64(len(log))-offset)
		for i := range count {
			op.Records = append(op.Records, FetchedRecord{Offset: offset + i, Value: log[offset+i]})
		}
		op.HighWatermark = int64(len(log))
		g.position[key] = offset + count
	}
	g.run.history = append(g.run.history, op)
}

// finish takes the final read of every partition.
func (g *generator) finish() {
	g.run.final = make(map[TopicPartition][]FetchedRecord)
	for partition, log := range g.logs {
		records := make([]FetchedRecord, len(log))
		for i, value := range log {
			records[i] = FetchedRecord{Offset: int64(i), Value: value}
		}
		g.run.final[TopicPartition{Topic: testTopic, Partition: int32(partition)}] = records
	}
	if g.config.includeFinalRead {
		before := len(g.run.history)
		g.run.history = AppendFinalRead(g.run.history, g.run.final)
		for index := before; index < len(g.run.history); index++ {
			g.run.finalReads[index] = true
		}
	}
}
