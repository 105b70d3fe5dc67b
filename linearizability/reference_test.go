package linearizability

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// referenceLinearizable decides, by brute force, whether the operations on
// one partition are linearizable against the log specification, with none
// of the model's shortcuts: every unknown or acks=1 produce is tried both
// applied and not applied, at every point. Only for tiny histories.
func referenceLinearizable(h History, topicPartition TopicPartition) bool {
	var operations []int
	for index := range h {
		op := &h[index]
		if op.TopicPartition() != topicPartition {
			continue
		}
		if (op.Kind == OpProduce && op.Outcome != OutcomeFailed) || (op.readRecords() && len(op.Records) > 0) {
			operations = append(operations, index)
		}
	}
	returnTime := func(index int) int64 {
		op := &h[index]
		if op.Kind == OpProduce && (op.Outcome == OutcomeUnknown || op.Acks == AcksLeader) {
			return math.MaxInt64
		}
		return op.Return
	}
	failed := make(map[string]bool)
	var search func(done uint64, log []string) bool
	search = func(done uint64, log []string) bool {
		key := [2]string{string(rune(done)), strings.Join(log, "\x00")}
		if failed[key[0]+"|"+key[1]] {
			return false
		}
		if done == 1<<len(operations)-1 {
			return true
		}
		for i, index := range operations {
			if done&(1<<i) != 0 || !referenceCandidate(h, operations, done, i, returnTime) {
				continue
			}
			op := &h[index]
			next := done | 1<<i
			switch {
			case op.Kind == OpFetch:
				if referenceHolds(log, op) && search(next, log) {
					return true
				}
			case op.Outcome == OutcomeOK && op.Acks == AcksAll:
				if int64(len(log)) == op.BaseOffset && search(next, slices.Concat(log, op.Values)) {
					return true
				}
			case op.Outcome == OutcomeOK:
				if int64(len(log)) == op.BaseOffset && search(next, slices.Concat(log, op.Values)) {
					return true
				}
				if search(next, log) {
					return true
				}
			default:
				if search(next, slices.Concat(log, op.Values)) || search(next, log) {
					return true
				}
			}
		}
		failed[key[0]+"|"+key[1]] = true
		return false
	}
	return search(0, nil)
}

// referenceCandidate reports whether operation i may come next: no other
// pending operation returned before it was called.
func referenceCandidate(h History, operations []int, done uint64, i int, returnTime func(int) int64) bool {
	call := h[operations[i]].Call
	for j := range operations {
		if j != i && done&(1<<j) == 0 && returnTime(operations[j]) < call {
			return false
		}
	}
	return true
}

func referenceHolds(log []string, read *Op) bool {
	for i, record := range read.Records {
		if record.Offset != read.FetchOffset+int64(i) || record.Offset >= int64(len(log)) || log[record.Offset] != record.Value {
			return false
		}
	}
	return true
}

// mutate changes one thing in a small history, keeping it valid.
func mutate(t *rapid.T, h History) {
	index := rapid.IntRange(0, len(h)-1).Draw(t, "mutated")
	op := &h[index]
	var produced []string
	for _, other := range h {
		produced = append(produced, other.Values...)
	}
	produced = append(produced, "ghost")
	shift := func(label string) int64 { return int64(rapid.IntRange(-2, 2).Draw(t, label)) }
	switch rapid.IntRange(0, 4).Draw(t, "mutation") {
	case 0:
		op.Call = max(0, op.Call+10*shift("call"))
		op.Return = max(op.Call, op.Return+10*shift("return"))
	case 1:
		if op.Kind == OpProduce {
			op.Outcome = rapid.SampledFrom([]Outcome{OutcomeOK, OutcomeFailed, OutcomeUnknown}).Draw(t, "outcome")
			op.Acks = rapid.SampledFrom([]int16{AcksLeader, AcksAll}).Draw(t, "acks")
		}
	case 2:
		op.BaseOffset = max(0, op.BaseOffset+shift("base"))
		op.FetchOffset = max(0, op.FetchOffset+shift("fetchOffset"))
	case 3:
		if len(op.Records) > 0 {
			op.Records = slices.Clone(op.Records)
			i := rapid.IntRange(0, len(op.Records)-1).Draw(t, "record")
			op.Records[i].Value = rapid.SampledFrom(produced).Draw(t, "value")
		}
	case 4:
		if len(op.Records) > 0 {
			op.Records = slices.Clone(op.Records)
			i := rapid.IntRange(0, len(op.Records)-1).Draw(t, "record")
			op.Records[i].Offset = max(0, op.Records[i].Offset+shift("offset"))
		}
	}
}

// TestPropertyModelAgreesWithBruteForce compares CheckLog, shortcuts and
// all, with an exhaustive search on tiny, mostly broken histories.
func TestPropertyModelAgreesWithBruteForce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		config := generatorConfig{partitions: 1, clients: rapid.IntRange(1, 4).Draw(t, "clients"),
			operations: rapid.IntRange(1, 8).Draw(t, "operations"), stepsMax: 40}
		run := generateRun(rapidChooser{t}, config)
		if len(run.history) == 0 {
			t.Skip("empty")
		}
		h := slices.Clone(run.history)
		for range rapid.IntRange(1, 4).Draw(t, "mutations") {
			mutate(t, h)
		}
		if Validate(h) != nil {
			t.Skip("mutation made the history malformed")
		}
		want := referenceLinearizable(h, partitionZero)
		result := CheckLog(h, 0)
		for _, partition := range result.Partitions {
			if partition.TopicPartition != partitionZero {
				continue
			}
			if got := partition.Verdict == VerdictOK; got != want {
				t.Fatalf("CheckLog says linearizable=%v (search %v, pre-check %v), brute force says %v",
					got, partition.SearchVerdict, partition.Violations, want)
			}
			if got := partition.SearchVerdict == VerdictOK; got != want {
				t.Fatalf("search says linearizable=%v, brute force says %v", got, want)
			}
		}
	})
}

// randomTinyHistory draws a small history with no regard for correctness:
// random outcomes, bases, times and reads, so most unknown and acks=1
// produces end up in gaps, which is where the model takes shortcuts.
func randomTinyHistory(t *rapid.T) History {
	var h History
	var values []string
	count := rapid.IntRange(1, 7).Draw(t, "count")
	for i := range count {
		call := int64(rapid.IntRange(0, 40).Draw(t, "call"))
		op := Op{Client: i, Topic: testTopic, Call: call, Return: call + int64(rapid.IntRange(0, 20).Draw(t, "duration")), Outcome: OutcomeOK}
		if rapid.IntRange(0, 2).Draw(t, "kind") > 0 {
			op.Kind = OpProduce
			op.Acks = rapid.SampledFrom([]int16{AcksLeader, AcksAll}).Draw(t, "acks")
			op.Outcome = rapid.SampledFrom([]Outcome{OutcomeOK, OutcomeUnknown, OutcomeUnknown, OutcomeFailed}).Draw(t, "outcome")
			op.BaseOffset = int64(rapid.IntRange(0, 4).Draw(t, "base"))
			for range rapid.IntRange(1, 2).Draw(t, "length") {
				op.Values = append(op.Values, fmt.Sprintf("v%d", len(values)))
				values = append(values, op.Values[len(op.Values)-1])
			}
		} else {
			op.Kind = OpFetch
			op.FetchOffset = int64(rapid.IntRange(0, 4).Draw(t, "fetchOffset"))
			op.Session = NoSession
		}
		h = append(h, op)
	}
	for i := range h {
		if h[i].Kind == OpFetch && len(values) > 0 {
			for j := range rapid.IntRange(0, 3).Draw(t, "records") {
				h[i].Records = append(h[i].Records, FetchedRecord{Offset: h[i].FetchOffset + int64(j), Value: rapid.SampledFrom(values).Draw(t, "value")})
			}
		}
	}
	return h
}

func TestPropertyModelAgreesWithBruteForceOnRandomHistories(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := randomTinyHistory(t)
		if Validate(h) != nil {
			t.Skip("malformed")
		}
		want := referenceLinearizable(h, partitionZero)
		result := CheckLog(h, 0)
		got := result.Partitions[0].Verdict == VerdictOK
		if got != want {
			t.Fatalf("CheckLog says linearizable=%v (search %v, pre-check %v), brute force says %v",
				got, result.Partitions[0].SearchVerdict, result.Partitions[0].Violations, want)
		}
	})
}
