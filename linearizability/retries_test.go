package linearizability

import (
	"slices"
	"testing"
)

// idempotent marks a produce as one of an idempotent producer; the
// helpers' produces are not.
func idempotent(op Op) Op {
	op.Idempotent = true
	return op
}

// judgeSeparated runs SeparateRetries and then every check on the result,
// and returns the violations and the number of copies separated.
func judgeSeparated(t *testing.T, h History, final map[TopicPartition][]FetchedRecord) ([]Violation, int) {
	t.Helper()
	separated, separatedFinal, copies := SeparateRetries(h, final)
	if err := Validate(separated); err != nil {
		t.Fatalf("SeparateRetries made a malformed history: %v", err)
	}
	violations := CheckFinalRead(separated, separatedFinal)
	violations = append(violations, CheckConsumers(separated)...)
	if result := CheckLog(AppendFinalRead(separated, separatedFinal), 0); !result.OK() {
		violations = append(violations, Violation{Kind: "not-linearizable", Detail: "CheckLog"})
		violations = append(violations, result.Violations()...)
	}
	return violations, copies
}

func finalOf(values ...string) map[TopicPartition][]FetchedRecord {
	records := make([]FetchedRecord, len(values))
	for i, value := range values {
		records[i] = FetchedRecord{Offset: int64(i), Value: value}
	}
	return map[TopicPartition][]FetchedRecord{partitionZero: records}
}

func TestSeparateRetries(t *testing.T) {
	// "a" was written at 0, its answer lost, resent and acknowledged at 2;
	// "b" at 1 in between. A consumer read the first copy.
	retried := History{
		produced(0, 0, 30, 2, "a"),
		produced(0, 5, 20, 1, "b"),
		fetched(1, 10, 15, 0, "a"),
	}
	violations, copies := judgeSeparated(t, retried, finalOf("a", "b", "a"))
	logViolations(t, "retried", violations)
	if len(violations) > 0 || copies != 1 {
		t.Errorf("an earlier copy of a retried batch: %d violations, %d copies; want none and 1", len(violations), copies)
	}
	// Without separation the same history is a duplicate.
	if violations := CheckFinalRead(retried, finalOf("a", "b", "a")); !hasKind(violations, KindDuplicate) {
		t.Errorf("unseparated: kinds %v, want a duplicate", kinds(violations))
	}

	// An unknown produce written twice keeps its last copy.
	unknown := History{producedUnknown(0, 0, "a", "b"), produced(0, 1, 9, 2, "c")}
	violations, copies = judgeSeparated(t, unknown, finalOf("a", "b", "c", "a", "b"))
	logViolations(t, "unknown", violations)
	if len(violations) > 0 || copies != 1 {
		t.Errorf("an unknown batch written twice: %d violations, %d copies; want none and 1", len(violations), copies)
	}

	damages := []struct {
		name  string
		h     History
		final map[TopicPartition][]FetchedRecord
	}{
		{"copy after the acknowledged one", History{produced(0, 0, 9, 0, "a"), produced(0, 1, 9, 1, "b")},
			finalOf("a", "b", "a")},
		{"copy of an idempotent producer", History{idempotent(produced(0, 0, 30, 2, "a")), idempotent(produced(0, 5, 20, 1, "b"))},
			finalOf("a", "b", "a")},
		{"torn copy", History{produced(0, 0, 30, 2, "a", "b"), produced(0, 5, 20, 1, "c")},
			finalOf("a", "c", "a", "b")},
		{"copy in another partition", History{produced(0, 0, 9, 0, "a")},
			map[TopicPartition][]FetchedRecord{partitionZero: {{Offset: 0, Value: "a"}}, {Topic: testTopic, Partition: 1}: {{Offset: 0, Value: "a"}}}},
		{"copy of a failed produce", History{producedFailed(0, 0, 9, "a"), produced(0, 1, 9, 1, "b")},
			finalOf("a", "b", "a")},
	}
	for _, damage := range damages {
		if violations, _ := judgeSeparated(t, damage.h, damage.final); len(violations) == 0 {
			t.Errorf("%s: not detected", damage.name)
		}
	}
}

func TestSeparateRetriesLeavesItsInputAlone(t *testing.T) {
	h := History{produced(0, 0, 30, 2, "a"), produced(0, 5, 20, 1, "b"), fetched(1, 10, 15, 0, "a")}
	final := finalOf("a", "b", "a")
	before, beforeFinal := slices.Clone(h), slices.Clone(final[partitionZero])
	SeparateRetries(h, final)
	if len(h) != len(before) || h[2].Records[0].Value != "a" || !slices.Equal(final[partitionZero], beforeFinal) {
		t.Errorf("SeparateRetries changed its input")
	}
}
