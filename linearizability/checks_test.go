package linearizability

import (
	"strings"
	"testing"
)

// A clean history with several producers and two consumer sessions.
func cleanHistory() History {
	return History{
		produced(0, 0, 10, 0, "a0", "a1"),
		produced(1, 5, 15, 2, "b0"),
		producedByLeader(2, 12, 20, 3, "c0", "c1"),
		producedFailed(0, 11, 14, "x0"),
		fetched(3, 16, 18, 0, "a0", "a1", "b0"),
		fetched(3, 19, 25, 3, "c0"),
		fetched(3, 26, 30, 4, "c1"),
		reset(fetched(4, 21, 22, 2, "b0", "c0")),
		fetched(4, 23, 24, 4),
		fetched(4, 27, 29, 4, "c1"),
	}
}

func cleanFinal() map[TopicPartition][]FetchedRecord {
	return map[TopicPartition][]FetchedRecord{partitionZero: fetched(9, 40, 41, 0, "a0", "a1", "b0", "c0", "c1").Records}
}

func TestCleanHistoryPasses(t *testing.T) {
	h := cleanHistory()
	if result := checkLogVerdict(t, h); result.Verdict != VerdictOK {
		t.Fatalf("CheckLog: %v, violations %v", result.Verdict, result.Violations)
	}
	if violations := CheckConsumers(h); len(violations) > 0 {
		t.Fatalf("CheckConsumers: %v", violations)
	}
	if violations := CheckFinalRead(h, cleanFinal()); len(violations) > 0 {
		t.Fatalf("CheckFinalRead: %v", violations)
	}
}

// Each case is a history with one kind of violation, and its clean
// variant, which must pass every check.
type violationCase struct {
	name  string
	kind  string
	bad   History
	clean History
	// final, when set, is checked with CheckFinalRead instead of
	// CheckConsumers; badFinal is the read that shows the violation.
	final, badFinal map[TopicPartition][]FetchedRecord
	// logLegal says CheckLog must accept the bad history: the violation is
	// about consumers, not about the log.
	logLegal bool
}

func finalRead(values ...string) map[TopicPartition][]FetchedRecord {
	return map[TopicPartition][]FetchedRecord{partitionZero: fetched(9, 0, 0, 0, values...).Records}
}

func violationCases() []violationCase {
	return []violationCase{{
		name: "lost-write: a fetch after the acknowledgement reads another value",
		kind: KindLostWrite,
		bad: History{
			produced(0, 0, 10, 0, "a"), producedUnknown(1, 0, "b"),
			fetched(2, 20, 30, 0, "b"),
		},
		clean: History{
			produced(0, 0, 10, 0, "a"), producedUnknown(1, 0, "b"),
			fetched(2, 20, 30, 0, "a", "b"),
		},
	}, {
		name:     "lost-write: the final read lacks an acknowledged value",
		kind:     KindLostWrite,
		bad:      History{produced(0, 0, 10, 0, "a", "b")},
		clean:    History{produced(0, 0, 10, 0, "a", "b")},
		final:    finalRead("a", "b"),
		badFinal: finalRead("a"),
	}, {
		name:     "lost-write: the final read lacks a value a fetch returned",
		kind:     KindLostWrite,
		bad:      History{producedUnknown(0, 0, "a"), fetched(1, 5, 6, 0, "a")},
		clean:    History{producedUnknown(0, 0, "a"), fetched(1, 5, 6, 0, "a")},
		final:    finalRead("a"),
		badFinal: finalRead(),
	}, {
		name: "duplicate: one value at two offsets",
		kind: KindDuplicate,
		bad: History{
			produced(0, 0, 10, 0, "a"), produced(0, 11, 20, 1, "b"),
			fetched(1, 21, 22, 0, "a", "b"), fetched(1, 23, 24, 2, "a"),
		},
		clean: History{
			produced(0, 0, 10, 0, "a"), produced(0, 11, 20, 1, "b"),
			fetched(1, 21, 22, 0, "a", "b"), fetched(1, 23, 24, 2),
		},
	}, {
		name:     "duplicate: the final read has one value twice",
		kind:     KindDuplicate,
		bad:      History{produced(0, 0, 10, 0, "a"), producedUnknown(0, 11, "b")},
		clean:    History{produced(0, 0, 10, 0, "a"), producedUnknown(0, 11, "b")},
		final:    finalRead("a", "b"),
		badFinal: finalRead("a", "b", "a"),
	}, {
		name: "inconsistent-offsets: two fetches read different values at one offset",
		kind: KindInconsistentOffsets,
		bad: History{
			producedUnknown(0, 0, "a"), producedUnknown(1, 0, "b"),
			fetched(2, 10, 11, 0, "a"), fetched(3, 12, 13, 0, "b"),
		},
		clean: History{
			producedUnknown(0, 0, "a"), producedUnknown(1, 0, "b"),
			fetched(2, 10, 11, 0, "a"), fetched(3, 12, 13, 0, "a", "b"),
		},
	}, {
		name: "inconsistent-offsets: two acks=all acknowledgements of one offset",
		kind: KindInconsistentOffsets,
		bad:  History{produced(0, 0, 10, 0, "a"), produced(1, 0, 10, 0, "b")},
		clean: History{
			produced(0, 0, 10, 0, "a"), produced(1, 0, 10, 1, "b"),
		},
	}, {
		name: "batch-order: a batch read out of order",
		kind: KindBatchOrder,
		bad: History{
			producedUnknown(0, 0, "a", "b"),
			fetchedRecords(1, 10, 11, 0, FetchedRecord{0, "b"}, FetchedRecord{1, "a"}),
		},
		clean: History{
			producedUnknown(0, 0, "a", "b"),
			fetchedRecords(1, 10, 11, 0, FetchedRecord{0, "a"}, FetchedRecord{1, "b"}),
		},
	}, {
		name: "nonmonotonic-poll: offsets go backwards inside one poll",
		kind: KindNonmonotonicPoll,
		bad: History{
			produced(0, 0, 10, 0, "a", "b"),
			fetchedRecords(1, 11, 12, 0, FetchedRecord{0, "a"}, FetchedRecord{1, "b"}, FetchedRecord{0, "a"}),
		},
		clean: History{
			produced(0, 0, 10, 0, "a", "b"),
			fetchedRecords(1, 11, 12, 0, FetchedRecord{0, "a"}, FetchedRecord{1, "b"}),
		},
	}, {
		name: "nonmonotonic-poll: a session's poll begins before the previous end",
		kind: KindNonmonotonicPoll,
		bad: History{
			produced(0, 0, 10, 0, "a", "b"),
			fetched(1, 11, 12, 0, "a", "b"), fetched(1, 13, 14, 1, "b"),
		},
		clean: History{
			produced(0, 0, 10, 0, "a", "b"),
			fetched(1, 11, 12, 0, "a", "b"), reset(fetched(1, 13, 14, 1, "b")),
		},
		logLegal: true,
	}, {
		name: "poll-skip: a gap inside one poll",
		kind: KindPollSkip,
		bad: History{
			produced(0, 0, 10, 0, "a", "b", "c"),
			fetchedRecords(1, 11, 12, 0, FetchedRecord{0, "a"}, FetchedRecord{2, "c"}),
		},
		clean: History{
			produced(0, 0, 10, 0, "a", "b", "c"),
			fetched(1, 11, 12, 0, "a", "b", "c"),
		},
	}, {
		name: "poll-skip: a session's poll begins after the previous end",
		kind: KindPollSkip,
		bad: History{
			produced(0, 0, 10, 0, "a", "b", "c"),
			fetched(1, 11, 12, 0, "a"), fetched(1, 13, 14, 2, "c"),
		},
		clean: History{
			produced(0, 0, 10, 0, "a", "b", "c"),
			fetched(1, 11, 12, 0, "a"), fetched(1, 13, 14, 1, "b", "c"),
		},
		logLegal: true,
	}, {
		name:  "failed-write-read: a fetch reads a failed write",
		kind:  KindFailedWriteRead,
		bad:   History{producedFailed(0, 0, 10, "x"), fetched(1, 11, 12, 0, "x")},
		clean: History{producedFailed(0, 0, 10, "x"), fetched(1, 11, 12, 0)},
	}, {
		name:     "failed-write-read: the final read has a failed write",
		kind:     KindFailedWriteRead,
		bad:      History{producedFailed(0, 0, 10, "x")},
		clean:    History{producedFailed(0, 0, 10, "x")},
		final:    finalRead(),
		badFinal: finalRead("x"),
	}, {
		name:  "unproduced-read: a fetch reads a value nobody wrote",
		kind:  KindUnproducedRead,
		bad:   History{producedUnknown(0, 0, "a"), fetched(1, 11, 12, 0, "ghost")},
		clean: History{producedUnknown(0, 0, "a"), fetched(1, 11, 12, 0, "a")},
	}, {
		name:  "unproduced-read: a fetch reads a value written to another partition",
		kind:  KindUnproducedRead,
		bad:   History{on(1, produced(0, 0, 10, 0, "a")), fetched(1, 11, 12, 0, "a")},
		clean: History{on(1, produced(0, 0, 10, 0, "a")), on(1, fetched(1, 11, 12, 0, "a")), fetched(1, 13, 14, 0)},
	}, {
		name: "uncommitted-read: a record at the high watermark",
		kind: KindUncommittedRead,
		bad: func() History {
			read := fetched(1, 11, 12, 0, "a", "b")
			read.HighWatermark = 1
			return History{produced(0, 0, 10, 0, "a", "b"), read}
		}(),
		clean:    History{produced(0, 0, 10, 0, "a", "b"), fetched(1, 11, 12, 0, "a", "b")},
		logLegal: true,
	}, {
		name:  "real-time-order: a fetch reads a value before its produce was called",
		kind:  KindRealTimeOrder,
		bad:   History{fetched(1, 0, 5, 0, "a"), produced(0, 10, 20, 0, "a")},
		clean: History{fetched(1, 0, 15, 0, "a"), produced(0, 10, 20, 0, "a")},
	}}
}

func TestViolationKinds(t *testing.T) {
	for _, test := range violationCases() {
		t.Run(test.name, func(t *testing.T) {
			var bad, clean []Violation
			if test.final != nil {
				bad, clean = CheckFinalRead(test.bad, test.badFinal), CheckFinalRead(test.clean, test.final)
			} else {
				bad, clean = CheckConsumers(test.bad), CheckConsumers(test.clean)
			}
			logViolations(t, "bad", bad)
			if !hasKind(bad, test.kind) {
				t.Errorf("want a %s violation, got kinds %v", test.kind, kinds(bad))
			}
			if len(clean) > 0 {
				t.Errorf("clean variant: %v", clean)
			}
			if result := checkLogVerdict(t, test.clean); result.Verdict != VerdictOK {
				t.Errorf("CheckLog on the clean variant: %v %v", result.Verdict, result.Violations)
			}
			if test.final != nil {
				return
			}
			result := checkLogVerdict(t, test.bad)
			switch {
			case test.logLegal && result.Verdict != VerdictOK:
				t.Errorf("CheckLog on the bad variant: %v %v, want ok: the log is fine", result.Verdict, result.Violations)
			case !test.logLegal && result.Verdict != VerdictIllegal:
				t.Errorf("CheckLog on the bad variant: %v, want illegal", result.Verdict)
			case !test.logLegal && result.SearchVerdict != VerdictIllegal:
				t.Errorf("the pre-check found %v but the search says %v", result.Violations, result.SearchVerdict)
			}
		})
	}
}

func TestAcksLeaderWritesMayBeLost(t *testing.T) {
	// An acks=1 write acknowledged at offset 0, then lost when leadership
	// moved; offset 0 was reused. Kafka allows this.
	h := History{
		producedByLeader(0, 0, 10, 0, "a"),
		produced(1, 20, 30, 0, "b"),
		fetched(2, 31, 32, 0, "b"),
	}
	if result := checkLogVerdict(t, h); result.Verdict != VerdictOK {
		t.Errorf("CheckLog: %v %v", result.Verdict, result.Violations)
	}
	if violations := CheckConsumers(h); len(violations) > 0 {
		t.Errorf("CheckConsumers: %v", violations)
	}
	if violations := CheckFinalRead(h, finalRead("b")); len(violations) > 0 {
		t.Errorf("CheckFinalRead: %v", violations)
	}
	// But once read, it was committed: losing it then is a lost write.
	h = append(h[:1:1], fetched(2, 11, 12, 0, "a"), produced(1, 20, 30, 1, "b"))
	violations := CheckFinalRead(h, finalRead("b"))
	if !hasKind(violations, KindLostWrite) {
		t.Errorf("CheckFinalRead after the acks=1 write was read: %v", violations)
	}
}

func TestUnknownProduces(t *testing.T) {
	cases := []struct {
		name  string
		h     History
		legal bool
	}{{
		name:  "took effect and was read",
		h:     History{producedUnknown(0, 0, "a"), fetched(1, 5, 6, 0, "a")},
		legal: true,
	}, {
		name:  "took effect unread, filling the offset below an acknowledged write",
		h:     History{producedUnknown(0, 0, "a"), produced(1, 5, 10, 1, "b"), fetched(2, 11, 12, 1, "b")},
		legal: true,
	}, {
		name: "two unknowns fill a gap of three in the only order that fits",
		h: History{
			producedUnknown(0, 0, "a"), producedUnknown(1, 0, "b", "c"),
			produced(2, 5, 10, 3, "d"),
		},
		legal: true,
	}, {
		name:  "did not take effect",
		h:     History{producedUnknown(0, 0, "a"), produced(1, 5, 10, 0, "b"), fetched(2, 11, 12, 0, "b")},
		legal: true,
	}, {
		name: "did not take effect, several of them concurrently",
		h: History{
			producedUnknown(0, 0, "a"), producedUnknown(1, 0, "b"), producedUnknown(2, 0, "c"), producedUnknown(3, 0, "d"),
			produced(4, 5, 10, 0, "e"), produced(4, 11, 20, 1, "f"), fetched(5, 21, 22, 0, "e", "f"),
		},
		legal: true,
	}, {
		name:  "nothing can fill the offset below an acknowledged write",
		h:     History{produced(1, 5, 10, 1, "b")},
		legal: false,
	}, {
		name:  "an unknown batch too large for the gap",
		h:     History{producedUnknown(0, 0, "a", "z"), produced(1, 5, 10, 1, "b")},
		legal: false,
	}, {
		name: "the only unknown that could fill the gap was called too late",
		// No direct check sees this: only the search does.
		h:     History{produced(1, 0, 10, 1, "b"), producedUnknown(0, 50, "a")},
		legal: false,
	}, {
		name:  "a failed write cannot fill the gap",
		h:     History{producedFailed(0, 0, 4, "a"), produced(1, 5, 10, 1, "b")},
		legal: false,
	}, {
		name:  "an acks=1 write unread fills its own offset",
		h:     History{producedByLeader(0, 0, 4, 0, "a"), produced(1, 5, 10, 1, "b")},
		legal: true,
	}}
	for _, test := range cases {
		t.Run(test.name, func(t *testing.T) {
			result := checkLogVerdict(t, test.h)
			want := VerdictIllegal
			if test.legal {
				want = VerdictOK
			}
			if result.Verdict != want {
				t.Fatalf("verdict %v, want %v; violations %v", result.Verdict, want, result.Violations)
			}
			if result.SearchVerdict != want {
				t.Fatalf("search verdict %v, want %v", result.SearchVerdict, want)
			}
		})
	}
}

func TestConcurrentProducesLinearizableInOneOrderOnly(t *testing.T) {
	// p1 and p2 overlap in [5, 10]; p2 took offset 0 and p1 offset 1, so
	// p2 must be linearized first, inside the overlap. The fetch in the
	// middle sees p2 only.
	legal := History{
		produced(0, 0, 10, 1, "p1"),
		produced(1, 5, 15, 0, "p2"),
		fetched(2, 6, 9, 0, "p2"),
		fetched(2, 16, 17, 1, "p1"),
	}
	if result := checkLogVerdict(t, legal); result.Verdict != VerdictOK {
		t.Fatalf("verdict %v, violations %v", result.Verdict, result.Violations)
	}
	// Without the overlap p1 must come first, yet it sits after p2.
	illegal := History{
		produced(0, 0, 4, 1, "p1"),
		produced(1, 5, 15, 0, "p2"),
	}
	result := checkLogVerdict(t, illegal)
	if result.Verdict != VerdictIllegal || result.SearchVerdict != VerdictIllegal {
		t.Fatalf("verdict %v (search %v), want illegal", result.Verdict, result.SearchVerdict)
	}
	if !hasKind(result.Violations, KindRealTimeOrder) {
		t.Errorf("pre-check: %v, want real-time-order", result.Violations)
	}
	// Overlapping, but the fetch saw p1 at offset 1 before p2 could have
	// been applied at offset 0 ... which is fine only if p2 was applied
	// first; here p2 is called after the fetch returned.
	illegal = History{
		produced(0, 0, 10, 1, "p1"),
		fetched(2, 1, 3, 1, "p1"),
		produced(1, 5, 15, 0, "p2"),
	}
	if result := checkLogVerdict(t, illegal); result.Verdict != VerdictIllegal || result.SearchVerdict != VerdictIllegal {
		t.Fatalf("verdict %v (search %v), want illegal", result.Verdict, result.SearchVerdict)
	}
}

func TestViolationOrderAndString(t *testing.T) {
	h := History{
		producedFailed(0, 0, 1, "x"),
		on(1, fetched(1, 2, 3, 0, "ghost")),
		fetched(1, 2, 3, 0, "x"),
	}
	violations := CheckConsumers(h)
	if len(violations) != 2 {
		t.Fatalf("violations %v", violations)
	}
	if violations[0].Partition != 0 || violations[1].Partition != 1 {
		t.Errorf("not sorted by partition: %v", violations)
	}
	text := violations[0].String()
	if !strings.HasPrefix(text, "failed-write-read t/0@0: ") || !strings.Contains(text, "op #0") {
		t.Errorf("String() = %q", text)
	}
	for range 5 {
		again := CheckConsumers(h)
		for i := range again {
			if again[i] != violations[i] {
				t.Fatalf("not deterministic: %v then %v", violations, again)
			}
		}
	}
}

func TestMalformedHistoryPanics(t *testing.T) {
	h := History{produced(0, 0, 1, 0, "a"), producedUnknown(1, 0, "a")}
	if err := Validate(h); err == nil {
		t.Fatal("Validate accepted a value produced twice")
	}
	defer func() {
		if recover() == nil {
			t.Error("CheckLog did not panic on a malformed history")
		}
	}()
	CheckLog(h, 0)
}

func TestMissingFinalReadFailsLoudly(t *testing.T) {
	violations := CheckFinalRead(History{produced(0, 0, 1, 0, "a")}, nil)
	if !hasKind(violations, KindLostWrite) || !strings.Contains(violations[0].Detail, "no final read") {
		t.Errorf("violations %v", violations)
	}
}

func TestAppendFinalRead(t *testing.T) {
	h := History{produced(3, 0, 10, 0, "a"), producedUnknown(1, 50, "b")}
	final := map[TopicPartition][]FetchedRecord{
		{Topic: testTopic, Partition: 1}: nil,
		partitionZero:                    fetched(0, 0, 0, 0, "a", "b").Records,
	}
	extended := AppendFinalRead(h, final)
	if len(h) != 2 || len(extended) != 4 {
		t.Fatalf("lengths %d and %d", len(h), len(extended))
	}
	read := extended[2]
	if read.Partition != 0 || read.Client != 4 || read.Call != 51 || read.Session != NoSession ||
		read.HighWatermark != 2 || len(read.Records) != 2 || !read.readRecords() {
		t.Errorf("final read of partition 0: %+v", read)
	}
	if extended[3].Partition != 1 || len(extended[3].Records) != 0 {
		t.Errorf("final read of partition 1: %+v", extended[3])
	}
	if result := CheckLog(extended, 0); !result.OK() {
		t.Errorf("CheckLog: %v", result.Violations())
	}
}
