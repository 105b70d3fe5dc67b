package linearizability

import (
	"slices"
	"testing"
)

// The helpers build hand-written histories on topic "t", partition 0,
// unless changed with on().

const testTopic = "t"

var partitionZero = TopicPartition{Topic: testTopic, Partition: 0}

// produced is an acknowledged acks=all produce.
func produced(client int, call, returned, base int64, values ...string) Op {
	return Op{Client: client, Kind: OpProduce, Topic: testTopic, Call: call, Return: returned,
		Outcome: OutcomeOK, Values: values, Acks: AcksAll, BaseOffset: base}
}

// producedByLeader is an acknowledged acks=1 produce.
func producedByLeader(client int, call, returned, base int64, values ...string) Op {
	op := produced(client, call, returned, base, values...)
	op.Acks = AcksLeader
	return op
}

// producedUnknown is a produce whose outcome the client never learned.
func producedUnknown(client int, call int64, values ...string) Op {
	return Op{Client: client, Kind: OpProduce, Topic: testTopic, Call: call, Return: call,
		Outcome: OutcomeUnknown, Values: values, Acks: AcksAll}
}

// producedFailed is a produce that definitely wrote nothing.
func producedFailed(client int, call, returned int64, values ...string) Op {
	return Op{Client: client, Kind: OpProduce, Topic: testTopic, Call: call, Return: returned,
		Outcome: OutcomeFailed, Values: values, Acks: AcksAll}
}

// fetched is an acknowledged fetch in session client returning values at
// consecutive offsets from offset, with the high watermark just past them.
func fetched(client int, call, returned, offset int64, values ...string) Op {
	records := make([]FetchedRecord, len(values))
	for i, value := range values {
		records[i] = FetchedRecord{Offset: offset + int64(i), Value: value}
	}
	return fetchedRecords(client, call, returned, offset, records...)
}

// fetchedRecords is an acknowledged fetch returning exactly records.
func fetchedRecords(client int, call, returned, offset int64, records ...FetchedRecord) Op {
	highWatermark := offset
	for _, record := range records {
		highWatermark = max(highWatermark, record.Offset+1)
	}
	return Op{Client: client, Kind: OpFetch, Topic: testTopic, Call: call, Return: returned,
		Outcome: OutcomeOK, FetchOffset: offset, Records: records, HighWatermark: highWatermark, Session: client}
}

// reset marks a fetch as a seek.
func reset(op Op) Op {
	op.Reset = true
	return op
}

// on moves an operation to another partition.
func on(partition int32, op Op) Op {
	op.Partition = partition
	return op
}

// kinds lists the distinct kinds of violations, sorted.
func kinds(violations []Violation) []string {
	var result []string
	for _, violation := range violations {
		if !slices.Contains(result, violation.Kind) {
			result = append(result, violation.Kind)
		}
	}
	slices.Sort(result)
	return result
}

func hasKind(violations []Violation, kind string) bool {
	return slices.ContainsFunc(violations, func(violation Violation) bool { return violation.Kind == kind })
}

func logViolations(t testing.TB, label string, violations []Violation) {
	t.Helper()
	for _, violation := range violations {
		t.Logf("%s: %s", label, violation)
	}
}

// checkLogVerdict runs CheckLog without a timeout and returns the verdict of
// the one partition the hand-written histories use.
func checkLogVerdict(t *testing.T, h History) PartitionResult {
	t.Helper()
	result := CheckLog(h, 0)
	for _, partition := range result.Partitions {
		if partition.TopicPartition == partitionZero {
			return partition
		}
	}
	t.Fatalf("no result for %s", partitionZero)
	return PartitionResult{}
}
