package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// record is one record as a test produces it and as a client reads it back.
// The JSON form is what the python and node scripts read and print.
type record struct {
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Key       string   `json:"key"`
	Value     string   `json:"value"`
	Headers   []header `json:"headers"`
}

type header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ack is where the broker said it stored a produced record.
type ack struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// unacked marks a record whose producer does not report its offset (kcat).
const unacked = -1

// makeRecords returns n records for client to produce, in order. Keys repeat
// (keys distinct values) so that per-key order is observable; every value is
// unique and carries the record's sequence number, so a record read back can
// be matched to the one sent. Values include non-ASCII text to catch clients
// or a broker that mangle bytes. Each record has two headers: its sequence
// number and the producing client.
func makeRecords(client string, n, keys int) []record {
	rs := make([]record, n)
	for i := range rs {
		rs[i] = record{
			Partition: unacked,
			Offset:    unacked,
			Key:       fmt.Sprintf("key-%02d", i%keys),
			Value:     fmt.Sprintf("%s-%05d-värde-ü", client, i),
			Headers: []header{
				{Key: "seq", Value: fmt.Sprint(i)},
				{Key: "client", Value: client},
			},
		}
	}
	return rs
}

var topicSeq atomic.Int64

// uniqueTopic names a topic that no other test, nor an earlier -count
// iteration against the same shared broker, uses.
func uniqueTopic(name string) string {
	return fmt.Sprintf("compat-%s-%d", name, topicSeq.Add(1))
}

// verify fails the test with every discrepancy checkRecords finds.
func verify(t *testing.T, who string, want, got []record) {
	t.Helper()
	if errs := checkRecords(want, got); len(errs) > 0 {
		if len(errs) > 15 {
			errs = append(errs[:15], fmt.Sprintf("... and %d more", len(errs)-15))
		}
		t.Errorf("%s: %d records produced, %d read back:\n  %s", who, len(want), len(got), strings.Join(errs, "\n  "))
	}
}

// checkRecords compares records read back (got, in the order the consumer
// delivered them) with those produced (want, in the order they were sent):
// every produced record is there exactly once with its key, value and
// headers intact; it is where its producer was told it was stored; each
// partition's offsets strictly increase; within a partition records appear in
// the order they were sent (so per key too); and each key stays on one
// partition.
func checkRecords(want, got []record) []string {
	var errs []string
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	seqOf := seqOfValue(want)
	seen := make(map[int]record, len(want))
	lastOffset := map[int32]int64{}
	lastSeq := map[int32]int{}
	keyPartition := map[string]int32{}
	for _, r := range got {
		i, ok := seqOf[r.Value]
		if !ok {
			fail("p%d@%d: unexpected record key=%q value=%q", r.Partition, r.Offset, r.Key, r.Value)
			continue
		}
		if prev, dup := seen[i]; dup {
			fail("record %d read twice: p%d@%d and p%d@%d", i, prev.Partition, prev.Offset, r.Partition, r.Offset)
			continue
		}
		seen[i] = r
		w := want[i]
		if r.Key != w.Key {
			fail("record %d at p%d@%d: key %q, want %q", i, r.Partition, r.Offset, r.Key, w.Key)
		}
		if !equalHeaders(r.Headers, w.Headers) {
			fail("record %d at p%d@%d: headers %v, want %v", i, r.Partition, r.Offset, r.Headers, w.Headers)
		}
		if w.Offset != unacked && (r.Partition != w.Partition || r.Offset != w.Offset) {
			fail("record %d acknowledged at p%d@%d, read at p%d@%d", i, w.Partition, w.Offset, r.Partition, r.Offset)
		}
		if last, ok := lastOffset[r.Partition]; ok && r.Offset <= last {
			fail("p%d: offset %d delivered after %d", r.Partition, r.Offset, last)
		}
		lastOffset[r.Partition] = r.Offset
		if last, ok := lastSeq[r.Partition]; ok && i < last {
			fail("p%d: record %d (offset %d) stored after record %d, though sent before it", r.Partition, i, r.Offset, last)
		}
		lastSeq[r.Partition] = i
		if p, ok := keyPartition[r.Key]; ok && p != r.Partition {
			fail("key %q on partitions %d and %d", r.Key, p, r.Partition)
		}
		keyPartition[r.Key] = r.Partition
	}
	for i := range want {
		if _, ok := seen[i]; !ok {
			fail("record %d (key %q value %q) missing", i, want[i].Key, want[i].Value)
		}
	}
	return errs
}

// seqOfValue maps each produced value (unique by construction) to its
// position in want.
func seqOfValue(want []record) map[string]int {
	m := make(map[string]int, len(want))
	for i, r := range want {
		m[r.Value] = i
	}
	return m
}

func equalHeaders(a, b []header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func decodeJSON[T any](t *testing.T, what string, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: bad JSON (%v): %s", what, err, lastBytes(b, 2000))
	}
	return v
}

// franz-go helpers, used by every test to set up topics and to read back
// what other clients wrote.

func newKgo(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates topic with CreateTopics and waits until Metadata shows
// every partition with a leader, so clients started next find it usable.
func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	cl := newKgo(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	requestTopic(ctx, t, cl, topic, partitions, 1)
	var last string
	ok := waitFor(15*time.Second, func() bool {
		n, err := leaderPartitions(ctx, cl, topic)
		last = fmt.Sprintf("%d partitions with leaders, err %v", n, err)
		return err == nil && n == int(partitions)
	})
	if !ok {
		t.Fatalf("topic %s created but Metadata never showed %d partitions with leaders: %s", topic, partitions, last)
	}
}

// requestTopic sends one CreateTopics and fails the test unless it succeeds.
func requestTopic(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, partitions int32, replicationFactor int16) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, replicationFactor
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 15000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("CreateTopics %s: %d topics in response", topic, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("CreateTopics %s: %v (message %v)", topic, err, deref(resp.Topics[0].ErrorMessage))
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// leaderPartitions returns how many partitions of topic Metadata lists with a
// leader.
func leaderPartitions(ctx context.Context, cl *kgo.Client, topic string) (int, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	for _, mt := range resp.Topics {
		if mt.Topic == nil || *mt.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
			return 0, err
		}
		n := 0
		for _, p := range mt.Partitions {
			if p.ErrorCode == 0 && p.Leader >= 0 {
				n++
			}
		}
		return n, nil
	}
	return 0, fmt.Errorf("topic %s not in metadata response", topic)
}

// endOffsets returns each partition's log start and high watermark, from
// ListOffsets.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string, partitions int32) (start, end map[int32]int64, err error) {
	start, end = map[int32]int64{}, map[int32]int64{}
	for _, ts := range []int64{-2, -1} { // earliest, latest
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := int32(0); p < partitions; p++ {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p
			rp.Timestamp = ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, nil, fmt.Errorf("ListOffsets: %w", err)
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, nil, fmt.Errorf("ListOffsets %s[%d] timestamp %d: %w", topic, p.Partition, ts, err)
				}
				if ts == -2 {
					start[p.Partition] = p.Offset
				} else {
					end[p.Partition] = p.Offset
				}
			}
		}
	}
	if len(end) != int(partitions) {
		return nil, nil, fmt.Errorf("ListOffsets answered for %d of %d partitions", len(end), partitions)
	}
	return start, end, nil
}

// readAll reads every record of topic's partitions from the log start to the
// high watermark with kgo, in the order kgo delivers them.
func readAll(t *testing.T, addr, topic string, partitions int32) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := newKgo(t, addr)
	start, end, err := endOffsets(ctx, admin, topic, partitions)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	assign := map[int32]kgo.Offset{}
	remaining := 0
	for p := int32(0); p < partitions; p++ {
		if end[p] > start[p] {
			assign[p] = kgo.NewOffset().At(start[p])
			remaining++
		}
	}
	if remaining == 0 {
		return nil
	}
	cl := newKgo(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}))
	var out []record
	next := map[int32]int64{}
	for remaining > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: timed out with %d partitions short of the high watermark %v; next offsets %v", topic, remaining, end, next)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Errorf("read %s[%d]: fetch error: %v", topic, p, err)
		})
		if t.Failed() {
			t.FailNow()
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end[r.Partition] {
				return // produced after we looked at the end
			}
			out = append(out, fromKgo(r))
			next[r.Partition] = r.Offset + 1
			if r.Offset == end[r.Partition]-1 {
				remaining--
			}
		})
	}
	return out
}

func fromKgo(r *kgo.Record) record {
	out := record{Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: string(r.Value)}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, header{Key: h.Key, Value: string(h.Value)})
	}
	return out
}

func toKgo(r record) *kgo.Record {
	out := &kgo.Record{Key: []byte(r.Key), Value: []byte(r.Value)}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
	}
	return out
}

// TestCheckRecords makes sure the checker every client test relies on
// notices each kind of damage, so that a passing client test means something.
func TestCheckRecords(t *testing.T) {
	t.Parallel()
	want := makeRecords("check", 6, 2)
	for i := range want {
		want[i].Partition, want[i].Offset = int32(i%2), int64(i/2)
	}
	good := func() []record {
		var rs []record
		for p := int32(0); p < 2; p++ {
			for i := range want {
				if want[i].Partition == p {
					rs = append(rs, want[i])
				}
			}
		}
		return rs
	}
	if errs := checkRecords(want, good()); len(errs) > 0 {
		t.Fatalf("intact records reported as damaged: %v", errs)
	}
	damages := map[string]func([]record) []record{
		"missing":        func(rs []record) []record { return rs[1:] },
		"duplicated":     func(rs []record) []record { return append(rs, rs[0]) },
		"unknown":        func(rs []record) []record { rs[0].Value = "stranger"; return rs },
		"key changed":    func(rs []record) []record { rs[0].Key = "other"; return rs },
		"header changed": func(rs []record) []record { rs[0].Headers = []header{{Key: "seq", Value: "x"}}; return rs },
		"header dropped": func(rs []record) []record { rs[0].Headers = rs[0].Headers[:1]; return rs },
		"headers reordered": func(rs []record) []record {
			rs[0].Headers = []header{rs[0].Headers[1], rs[0].Headers[0]}
			return rs
		},
		"not at acked offset": func(rs []record) []record { rs[0].Offset = 7; return rs },
		"offsets not increasing": func(rs []record) []record {
			rs[0], rs[1] = rs[1], rs[0]
			return rs
		},
		"stored out of send order": func(rs []record) []record {
			rs[0].Value, rs[1].Value = rs[1].Value, rs[0].Value
			return rs
		},
		"key on two partitions": func(rs []record) []record { rs[3].Key = rs[0].Key; return rs },
	}
	for name, damage := range damages {
		if errs := checkRecords(want, damage(good())); len(errs) == 0 {
			t.Errorf("%s: not detected", name)
		}
	}
}
