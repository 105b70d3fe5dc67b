package linearizability

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func drawConfig(t *rapid.T) generatorConfig {
	return generatorConfig{
		partitions:       rapid.IntRange(1, 3).Draw(t, "partitions"),
		clients:          rapid.IntRange(1, 5).Draw(t, "clients"),
		operations:       rapid.IntRange(0, 60).Draw(t, "operations"),
		stepsMax:         200,
		includeFinalRead: rapid.Bool().Draw(t, "includeFinalRead"),
	}
}

func TestPropertyCorrectHistoriesPass(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		run := generateRun(rapidChooser{t}, drawConfig(t))
		result := CheckLog(run.history, 0)
		for _, partition := range result.Partitions {
			if partition.Verdict != VerdictOK {
				t.Fatalf("CheckLog %s: %v, violations %v", partition.TopicPartition, partition.Verdict, partition.Violations)
			}
		}
		if violations := CheckConsumers(run.history); len(violations) > 0 {
			t.Fatalf("CheckConsumers: %v", violations)
		}
		if violations := CheckFinalRead(run.history, run.final); len(violations) > 0 {
			t.Fatalf("CheckFinalRead: %v", violations)
		}
	})
}

// A corruption breaks a correct run in one place and says what must find
// it.
type corruption struct {
	name  string
	apply func(t *rapid.T, run *generatedRun) (want Violation, inHistory bool)
}

// corruptions lists the corruptions that apply to run.
func corruptions(run *generatedRun) []corruption {
	var fetchesWithTwo, fetchesWithOne, acknowledged []int
	for index, op := range run.history {
		switch {
		case run.finalReads[index]:
		case op.readRecords() && len(op.Records) >= 2:
			fetchesWithTwo = append(fetchesWithTwo, index)
			fetchesWithOne = append(fetchesWithOne, index)
		case op.readRecords() && len(op.Records) == 1:
			fetchesWithOne = append(fetchesWithOne, index)
		case op.committedByAcknowledgement():
			acknowledged = append(acknowledged, index)
		}
	}
	var result []corruption
	if len(fetchesWithTwo) > 0 {
		result = append(result, corruption{"swap two offsets' values in one fetch", func(t *rapid.T, run *generatedRun) (Violation, bool) {
			op := &run.history[rapid.SampledFrom(fetchesWithTwo).Draw(t, "fetch")]
			op.Records = slices.Clone(op.Records)
			i := rapid.IntRange(0, len(op.Records)-2).Draw(t, "first")
			j := rapid.IntRange(i+1, len(op.Records)-1).Draw(t, "second")
			op.Records[i].Value, op.Records[j].Value = op.Records[j].Value, op.Records[i].Value
			return Violation{Kind: KindDuplicate, Topic: op.Topic, Partition: op.Partition, Offset: -1}, true
		}})
	}
	if len(acknowledged) > 0 {
		result = append(result, corruption{"drop an acknowledged value from the final read", func(t *rapid.T, run *generatedRun) (Violation, bool) {
			op := run.history[rapid.SampledFrom(acknowledged).Draw(t, "produce")]
			offset := op.BaseOffset + int64(rapid.IntRange(0, len(op.Values)-1).Draw(t, "position"))
			topicPartition := op.TopicPartition()
			run.final[topicPartition] = slices.DeleteFunc(slices.Clone(run.final[topicPartition]), func(record FetchedRecord) bool {
				return record.Offset == offset
			})
			return Violation{Kind: KindLostWrite, Topic: op.Topic, Partition: op.Partition, Offset: offset}, false
		}})
	}
	if len(fetchesWithOne) > 0 {
		result = append(result, corruption{"duplicate a value in a fetch", func(t *rapid.T, run *generatedRun) (Violation, bool) {
			op := &run.history[rapid.SampledFrom(fetchesWithOne).Draw(t, "fetch")]
			copied := op.Records[rapid.IntRange(0, len(op.Records)-1).Draw(t, "record")]
			last := op.Records[len(op.Records)-1].Offset
			op.Records = append(slices.Clone(op.Records), FetchedRecord{Offset: last + 1, Value: copied.Value})
			op.HighWatermark = max(op.HighWatermark, last+2)
			return Violation{Kind: KindDuplicate, Topic: op.Topic, Partition: op.Partition, Offset: copied.Offset}, true
		}})
	}
	var nonEmpty []TopicPartition
	for topicPartition, records := range run.final {
		if len(records) > 0 {
			nonEmpty = append(nonEmpty, topicPartition)
		}
	}
	slices.SortFunc(nonEmpty, compareTopicPartitions)
	if len(nonEmpty) > 0 {
		result = append(result, corruption{"duplicate a value in the final read", func(t *rapid.T, run *generatedRun) (Violation, bool) {
			topicPartition := rapid.SampledFrom(nonEmpty).Draw(t, "partition")
			records := run.final[topicPartition]
			copied := records[rapid.IntRange(0, len(records)-1).Draw(t, "record")]
			run.final[topicPartition] = append(slices.Clone(records), FetchedRecord{Offset: int64(len(records)), Value: copied.Value})
			return Violation{Kind: KindDuplicate, Topic: topicPartition.Topic, Partition: topicPartition.Partition, Offset: copied.Offset}, false
		}})
	}
	return result
}

func TestPropertyCorruptionsAreDetected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		run := generateRun(rapidChooser{t}, drawConfig(t))
		applicable := corruptions(&run)
		if len(applicable) == 0 {
			t.Skip("nothing to corrupt")
		}
		chosen := rapid.SampledFrom(applicable).Draw(t, "corruption")
		run.history = slices.Clone(run.history)
		want, inHistory := chosen.apply(t, &run)
		t.Logf("%s: want %s", chosen.name, want)

		logResult := CheckLog(run.history, 0)
		consumers := CheckConsumers(run.history)
		final := CheckFinalRead(run.history, run.final)
		all := slices.Concat(logResult.Violations(), consumers, final)
		found := slices.ContainsFunc(all, func(violation Violation) bool {
			return violation.Kind == want.Kind && violation.Topic == want.Topic && violation.Partition == want.Partition &&
				(want.Offset < 0 || violation.Offset == want.Offset)
		})
		if !found {
			t.Fatalf("%s not detected; found %v", want, all)
		}
		// With the final read in the history, a corrupted fetch contradicts
		// it, so the log check must fail too.
		if inHistory && len(run.finalReads) > 0 && logResult.OK() {
			t.Fatalf("CheckLog passed a corrupted history")
		}
		// The pre-check is sound: whatever it finds, the search finds too.
		for _, partition := range logResult.Partitions {
			if len(partition.Violations) > 0 && partition.SearchVerdict != VerdictIllegal {
				t.Fatalf("%s: pre-check found %v but search says %v", partition.TopicPartition, partition.Violations, partition.SearchVerdict)
			}
		}
	})
}

// performanceConfig is about the size of one simulator run's history.
var performanceConfig = generatorConfig{partitions: 8, clients: 16, operations: 2000, stepsMax: 100000}

func TestCheckLogIsFastOnALargeHistory(t *testing.T) {
	variants := []struct {
		name             string
		includeFinalRead bool
		keepFetchEvery   int // keep one fetch in this many
	}{
		{"fetches", false, 1},
		{"fetches and the final read", true, 1},
		// Few readers leave most records unread, so unknown and acks=1
		// produces fill gaps the search has to work out.
		{"one fetch in five", false, 5},
	}
	for _, variant := range variants {
		config := performanceConfig
		config.includeFinalRead = variant.includeFinalRead
		run := generateRun(seededChooser{rand.New(rand.NewPCG(1, 2))}, config)
		h := History(nil)
		for index, op := range run.history {
			if op.Kind != OpFetch || run.finalReads[index] || index%variant.keepFetchEvery == 0 {
				h = append(h, op)
			}
		}
		start := time.Now()
		result := CheckLog(h, 20*time.Second)
		elapsed := time.Since(start)
		operations := 0
		for _, partition := range result.Partitions {
			operations += partition.Operations
			if partition.Verdict != VerdictOK {
				t.Fatalf("%s: %s: %v %v", variant.name, partition.TopicPartition, partition.Verdict, partition.Violations)
			}
		}
		t.Logf("%s: %d operations, %d searched, %d partitions, %v",
			variant.name, len(h), operations, len(result.Partitions), elapsed)
		if elapsed > 3*time.Second {
			t.Errorf("%s: CheckLog took %v", variant.name, elapsed)
		}
	}
}

func TestCheckLogRefutesALargeCorruptedHistoryQuickly(t *testing.T) {
	for seed := range uint64(6) {
		config := performanceConfig
		config.includeFinalRead = true
		run := generateRun(seededChooser{rand.New(rand.NewPCG(seed, 3))}, config)
		// Move the 40th acks=all produce of partition 0 by one offset, or
		// move it later in time past the produces that followed it.
		acknowledged := 0
		for index := range run.history {
			op := &run.history[index]
			if op.Partition != 0 || !op.committedByAcknowledgement() {
				continue
			}
			if acknowledged++; acknowledged == 40 {
				switch seed % 3 {
				case 0:
					op.BaseOffset--
				case 1:
					op.Call, op.Return = op.Call+500, op.Return+500
				case 2:
					op.BaseOffset++
				}
				break
			}
		}
		start := time.Now()
		result := CheckLog(run.history, 0)
		elapsed := time.Since(start)
		if result.OK() || result.Partitions[0].SearchVerdict != VerdictIllegal {
			t.Errorf("seed %d: corruption not refuted: verdict %v, search %v",
				seed, result.Partitions[0].Verdict, result.Partitions[0].SearchVerdict)
		}
		if elapsed > 3*time.Second {
			t.Errorf("seed %d: CheckLog took %v", seed, elapsed)
		}
	}
}

func BenchmarkCheckLog(b *testing.B) {
	run := generateRun(seededChooser{rand.New(rand.NewPCG(1, 2))}, performanceConfig)
	for b.Loop() {
		if result := CheckLog(run.history, 0); !result.OK() {
			b.Fatal("not linearizable")
		}
	}
}
