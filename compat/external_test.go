package compat

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scriptTimeout bounds one python or node client run; the scripts get a
// slightly shorter deadline of their own so they can report how far they got.
const scriptTimeout = 60 * time.Second

func scriptEnv(addr, topic string, extra ...string) []string {
	return append([]string{
		"BOOTSTRAP=" + addr,
		"TOPIC=" + topic,
		fmt.Sprintf("TIMEOUT_S=%d", int(scriptTimeout/time.Second)-10),
	}, extra...)
}

func recordsJSON(t *testing.T, rs []record) []byte {
	t.Helper()
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pythonRoundTrip produces want with a python driver script and applies the
// acknowledgments it prints, then consumes with the same script and checks
// both its read and kgo's.
func pythonRoundTrip(t *testing.T, client, script string, want []record) {
	t.Helper()
	addr := sharedAddr(t)
	topic := uniqueTopic(client)
	createTopic(t, addr, topic, roundTripPartitions)
	path := filepath.Join("testdata", script)

	out := run(t, scriptTimeout, recordsJSON(t, want), scriptEnv(addr, topic), debianPython, pythonIsolated, path, "produce")
	acks := decodeJSON[struct{ Acks []*ack }](t, client+" produce", out).Acks
	if len(acks) != len(want) {
		t.Fatalf("%s produce: %d acknowledgments for %d records", client, len(acks), len(want))
	}
	for i, a := range acks {
		if a == nil {
			t.Fatalf("%s produce: no acknowledgment for record %d", client, i)
		}
		want[i].Partition, want[i].Offset = a.Partition, a.Offset
	}

	out = run(t, scriptTimeout, nil, scriptEnv(addr, topic), debianPython, pythonIsolated, path, "consume")
	got := decodeJSON[struct{ Records []record }](t, client+" consume", out).Records
	verify(t, client+" consumer", want, got)
	verify(t, "kgo read of "+client+"'s records", want, readAll(t, addr, topic, roundTripPartitions))
}

// TestKafkaPython: kafka-python's KafkaProducer (acks='all') and a
// KafkaConsumer without a group (assign + seek_to_beginning).
func TestKafkaPython(t *testing.T) {
	t.Parallel()
	requirePythonModule(t, "kafka", "python3-kafka")
	pythonRoundTrip(t, "kafka-python", "kafka_python_client.py", makeRecords("kafka-python", roundTripRecords, roundTripKeys))
}

// TestConfluentKafkaPython: librdkafka through confluent-kafka-python, its
// Producer (acks=all) and a Consumer on assign() with OFFSET_BEGINNING.
func TestConfluentKafkaPython(t *testing.T) {
	t.Parallel()
	requirePythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	pythonRoundTrip(t, "confluent", "confluent_client.py", makeRecords("confluent", roundTripRecords, roundTripKeys))
}

// TestKcat: kcat -L lists the broker and topic; kcat -P produces keyed
// records with headers from stdin (acks=all); kcat -C reads them back from the
// beginning without a group and exits at the end (-e), printing each record
// through a -f format.
func TestKcat(t *testing.T) {
	t.Parallel()
	kcat := requireTool(t, "kcat")
	addr := sharedAddr(t)
	topic := uniqueTopic("kcat")
	createTopic(t, addr, topic, roundTripPartitions)

	out := string(run(t, 30*time.Second, nil, nil, kcat, "-b", addr, "-L", "-t", topic, "-m", "20"))
	for _, line := range []string{
		fmt.Sprintf("broker 0 at %s", addr),
		fmt.Sprintf("topic %q with %d partitions", topic, roundTripPartitions),
		"partition 0, leader 0",
		"partition 1, leader 0",
		"partition 2, leader 0",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("kcat -L output lacks %q:\n%s", line, out)
		}
	}

	// kcat sets the same headers on every record it produces, and cannot
	// report offsets.
	want := makeRecords("kcat", roundTripRecords, roundTripKeys)
	staticHeaders := []header{{Key: "client", Value: "kcat"}, {Key: "source", Value: "stdin"}}
	var stdin strings.Builder
	for i := range want {
		want[i].Headers = staticHeaders
		fmt.Fprintf(&stdin, "%s|%s\n", want[i].Key, want[i].Value)
	}
	run(t, scriptTimeout, []byte(stdin.String()), nil, kcat,
		"-b", addr, "-P", "-t", topic, "-K", "|",
		"-H", "client=kcat", "-H", "source=stdin",
		"-X", "acks=all", "-X", "message.timeout.ms=30000")

	// Fields are tab-separated; %h prints headers as name=value,... Without
	// -q, kcat reports librdkafka's errors on stderr, which the failure
	// message then shows.
	out = string(run(t, 30*time.Second, nil, nil, kcat,
		"-b", addr, "-C", "-t", topic, "-o", "beginning", "-e",
		"-f", `%p\t%o\t%k\t%h\t%s\n`))
	var got []record
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			t.Fatalf("kcat -C: unexpected line %q", line)
		}
		p, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("kcat -C: unexpected line %q", line)
		}
		r := record{Partition: int32(p), Offset: o, Key: f[2], Value: f[4]}
		for _, h := range strings.Split(f[3], ",") {
			k, v, _ := strings.Cut(h, "=")
			r.Headers = append(r.Headers, header{Key: k, Value: v})
		}
		got = append(got, r)
	}
	verify(t, "kcat -C", want, got)
	verify(t, "kgo read of kcat's records", want, readAll(t, addr, topic, roundTripPartitions))
}

// kafkajsSend is one producer.send() call as produce.js reports it.
type kafkajsSend struct {
	First   int `json:"first"`
	Count   int `json:"count"`
	Results []struct {
		Partition  int32 `json:"partition"`
		BaseOffset int64 `json:"baseOffset"`
	} `json:"results"`
}

// TestKafkajs produces with kafkajs (acks -1, default partitioner) in sends of
// 50 records and reads back with kgo: kafkajs's consumer needs consumer
// groups, which the broker lacks.
func TestKafkajs(t *testing.T) {
	t.Parallel()
	node := requireKafkajs(t)
	addr := sharedAddr(t)
	topic := uniqueTopic("kafkajs")
	createTopic(t, addr, topic, roundTripPartitions)
	want := makeRecords("kafkajs", roundTripRecords, roundTripKeys)

	out := run(t, scriptTimeout, recordsJSON(t, want), scriptEnv(addr, topic, "BATCH=50", "KAFKAJS_NO_PARTITIONER_WARNING=1"), node, filepath.Join("node", "produce.js"))
	sends := decodeJSON[struct{ Sends []kafkajsSend }](t, "kafkajs produce", out).Sends
	got := readAll(t, addr, topic, roundTripPartitions)
	verify(t, "kgo read of kafkajs's records", want, got)

	// kafkajs reports a base offset per partition per send: the records of
	// that send on that partition must sit at consecutive offsets from it.
	seqOf := seqOfValue(want)
	sent := 0
	for _, s := range sends {
		sent += s.Count
		onPartition := map[int32][]record{}
		for _, r := range got {
			if i, ok := seqOf[r.Value]; ok && i >= s.First && i < s.First+s.Count {
				onPartition[r.Partition] = append(onPartition[r.Partition], r)
			}
		}
		if len(onPartition) != len(s.Results) {
			t.Errorf("kafkajs send of records %d..%d: acknowledged on %d partitions, read back from %d", s.First, s.First+s.Count-1, len(s.Results), len(onPartition))
		}
		for _, res := range s.Results {
			rs := onPartition[res.Partition]
			sort.Slice(rs, func(i, j int) bool { return rs[i].Offset < rs[j].Offset })
			for k, r := range rs {
				if r.Offset != res.BaseOffset+int64(k) {
					t.Errorf("kafkajs send of records %d..%d: partition %d acknowledged at base offset %d, but its record %d is at offset %d", s.First, s.First+s.Count-1, res.Partition, res.BaseOffset, k, r.Offset)
					break
				}
			}
		}
	}
	if sent != len(want) {
		t.Errorf("kafkajs reported %d records sent, want %d", sent, len(want))
	}
}
