package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Idempotent producers of three client libraries through a leader kill:
// each produces idempotentRecords records, paced so that the kill lands in
// the middle, to a replicated topic of a three-broker cluster; the test
// SIGKILLs the leader of partition 0 (retries then hit the new leader with
// batches the old one may have written), restarts it, and reads
// everything back. Every record must be stored exactly once, at the
// offset it was acknowledged at, in send order per partition.

const (
	idempotentRecords = 1500
	// idempotentPace is the pause after each record (or batch, for
	// kafkajs), so that producing takes a few seconds.
	idempotentPace = 3 * time.Millisecond
	// idempotentKillAfter is when the kill lands after producing starts.
	idempotentKillAfter = 1500 * time.Millisecond
	// idempotentTimeout bounds one producer's whole run.
	idempotentTimeout = 90 * time.Second
)

// produceFunc produces want in order and returns each record's
// acknowledged partition and offset (Partition unacked when the client
// does not say), or an error. It runs on its own goroutine.
type produceFunc func(c *testCluster, topic string, want []record) ([]ack, error)

func TestIdempotentSaramaThroughLeaderKill(t *testing.T) {
	t.Parallel()
	runIdempotentThroughLeaderKill(t, "sarama", clusterPartitions, produceSaramaIdempotent)
}

func TestIdempotentConfluentThroughLeaderKill(t *testing.T) {
	t.Parallel()
	requirePythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	runIdempotentThroughLeaderKill(t, "confluent", clusterPartitions, func(c *testCluster, topic string, want []record) ([]ack, error) {
		path, err := filepath.Abs(filepath.Join("testdata", "confluent_client.py"))
		if err != nil {
			return nil, err
		}
		out, err := runScript(recordsJSONBytes(want), scriptEnv(c.seeds()[0], topic, "IDEMPOTENT=1",
			"PACE_S="+strconv.FormatFloat(idempotentPace.Seconds(), 'f', -1, 64),
			"TIMEOUT_S="+strconv.Itoa(int(idempotentTimeout.Seconds()))), debianPython, pythonIsolated, path, "produce")
		if err != nil {
			return nil, err
		}
		var result struct{ Acks []ack }
		if err := jsonUnmarshal(out, &result); err != nil {
			return nil, err
		}
		return result.Acks, nil
	})
}

// TestIdempotentKafkajsThroughLeaderKill uses a topic of one partition.
// With several, kafkajs (2.2.4) itself loses records across a leader
// move: a send() retry skips every broker that already answered that
// send, so the records of a partition that moved to such a broker are
// never resent, and the send resolves; and it rolls a partition's sequence
// number back after any failed request, also one whose batch was written,
// so different records later reuse those numbers (answered
// OUT_OF_ORDER_SEQUENCE_NUMBER, which it treats as fatal, or, when the
// ranges happen to match, as duplicates). Both show in its
// src/producer/sendMessages.js; a Kafka broker answers them the same way.
func TestIdempotentKafkajsThroughLeaderKill(t *testing.T) {
	t.Parallel()
	node := requireKafkajs(t)
	runIdempotentThroughLeaderKill(t, "kafkajs", 1, func(c *testCluster, topic string, want []record) ([]ack, error) {
		out, err := runScript(recordsJSONBytes(want), scriptEnv(c.seeds()[0], topic, "IDEMPOTENT=1", "BATCH=5", "RETRIES=10",
			"PAUSE_MS="+strconv.Itoa(int(5*idempotentPace/time.Millisecond))), node, filepath.Join("node", "produce.js"))
		if err != nil {
			return nil, err
		}
		var result struct{ Sends []kafkajsSend }
		if err := jsonUnmarshal(out, &result); err != nil {
			return nil, err
		}
		// kafkajs reports a base offset per partition per send, not per
		// record: the read-back check maps records to offsets.
		acks := make([]ack, len(want))
		for i := range acks {
			acks[i] = ack{Partition: unacked, Offset: unacked}
		}
		sent := 0
		for _, s := range result.Sends {
			sent += s.Count
		}
		if sent != len(want) {
			return nil, fmt.Errorf("kafkajs reported %d records sent, want %d", sent, len(want))
		}
		return acks, nil
	})
}

func produceSaramaIdempotent(c *testCluster, topic string, want []record) ([]ack, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "cairn-compat-idempotent"
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // sarama's requirement for idempotence
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 100
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	cfg.Producer.Timeout = 10 * time.Second
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	cfg.Metadata.Retry.Max = 100
	cfg.Metadata.Retry.Backoff = 250 * time.Millisecond
	producer, err := sarama.NewSyncProducer(c.seeds(), cfg)
	if err != nil {
		return nil, fmt.Errorf("sarama.NewSyncProducer: %w", err)
	}
	defer producer.Close()
	acks := make([]ack, len(want))
	for i, r := range want {
		m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value)}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: []byte(h.Value)})
		}
		partition, offset, err := producer.SendMessage(m)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		acks[i] = ack{Partition: partition, Offset: offset}
		time.Sleep(idempotentPace)
	}
	return acks, nil
}

func runIdempotentThroughLeaderKill(t *testing.T, client string, partitions int32, produce produceFunc) {
	c := startCluster(t)
	admin := newKgo(t, c.brokers[0].addr, kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(250*time.Millisecond))
	topic := uniqueTopic("idempotent-" + client)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	requestTopic(ctx, t, admin, topic, partitions, clusterRF)
	cancel()
	states := waitTopicPartitions(t, admin, topic, partitions, "every partition led with a full ISR", fullISR)
	want := makeRecords(client, idempotentRecords, roundTripKeys)

	var (
		wg   sync.WaitGroup
		acks []ack
		err  error
	)
	start := time.Now()
	wg.Go(func() { acks, err = produce(c, topic, want) })
	time.Sleep(idempotentKillAfter)
	victim := c.broker(states[0].leader)
	victim.proc.kill()
	t.Logf("%s: killed broker %d (leader of partition 0) %v after producing started", client, victim.id, time.Since(start).Round(time.Millisecond))
	waitTopicPartitions(t, admin, topic, partitions, "leaders moved off the killed broker", func(m map[int32]partitionState) bool {
		for _, s := range m {
			if s.leader < 0 || s.leader == victim.id {
				return false
			}
		}
		return true
	})
	if err := c.start(victim); err != nil {
		t.Fatalf("restart: %v", err)
	}
	wg.Wait()
	if err != nil {
		t.Fatalf("%s producer: %v", client, err)
	}
	t.Logf("%s: %d records produced in %v", client, len(want), time.Since(start).Round(time.Millisecond))
	for i := range want {
		if i < len(acks) {
			want[i].Partition, want[i].Offset = acks[i].Partition, acks[i].Offset
		}
	}
	// Every record was acknowledged, so the high watermarks reach their
	// count; a leader elected a moment ago may still be catching its own
	// up (its followers tell it), so wait for that before reading, and
	// read anyway if it never comes: the check then names what is missing.
	waitFor(30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start, end, err := endOffsets(ctx, admin, topic, partitions)
		total := int64(0)
		for p := range partitions {
			total += end[p] - start[p]
		}
		return err == nil && total >= int64(len(want))
	})
	got := readAll(t, c.brokers[0].addr, topic, partitions)
	// checkRecords fails a record read twice (a duplicate), one missing,
	// one away from its acknowledged offset, and send order broken.
	verify(t, client+" idempotent producer through a leader kill", want, got)
	if len(got) != len(want) {
		t.Errorf("%d records in the log, %d produced", len(got), len(want))
	}
	// The client really was idempotent: every batch carries a producer id.
	if ids, plain := producerIDsIn(t, c.brokers[0].addr, topic, partitions); plain > 0 || len(ids) == 0 {
		t.Errorf("%s: %d records without a producer id, producer ids %v", client, plain, ids)
	} else {
		t.Logf("%s: producer ids in the log: %v", client, ids)
	}
}

// producerIDsIn reads a topic and returns the producer ids of its records
// and how many records have none.
func producerIDsIn(t *testing.T, addr, topic string, partitions int32) (ids []int64, plain int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start, end, err := endOffsets(ctx, newKgo(t, addr), topic, partitions)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	assign := map[int32]kgo.Offset{}
	remaining := int64(0)
	for p := int32(0); p < partitions; p++ {
		if end[p] > start[p] {
			assign[p] = kgo.NewOffset().At(start[p])
			remaining += end[p] - start[p]
		}
	}
	cl := newKgo(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}))
	seen := map[int64]bool{}
	for remaining > 0 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if r.Offset >= end[r.Partition] {
				return
			}
			remaining--
			if r.ProducerID < 0 {
				plain++
			} else if !seen[r.ProducerID] {
				seen[r.ProducerID] = true
				ids = append(ids, r.ProducerID)
			}
		})
	}
	if remaining > 0 {
		t.Fatalf("read %s: %d records short", topic, remaining)
	}
	return ids, plain
}

// runScript runs a client script to completion; unlike run it may be called
// off the test's goroutine.
func runScript(stdin []byte, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), idempotentTimeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\nstderr:\n%s", filepath.Base(name), err, lastBytes(stderr.Bytes(), 3000))
	}
	return stdout.Bytes(), nil
}

func recordsJSONBytes(rs []record) []byte {
	b, err := json.Marshal(rs)
	if err != nil {
		panic(err) // records are plain strings and numbers
	}
	return b
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %q: %w", lastBytes(b, 300), err)
	}
	return nil
}

// waitTopicPartitions is waitPartitions for a topic of any partition count.
func waitTopicPartitions(t *testing.T, cl *kgo.Client, topic string, partitions int32, what string, want func(map[int32]partitionState) bool) map[int32]partitionState {
	t.Helper()
	var last map[int32]partitionState
	var lastErr error
	ok := waitFor(clusterPhaseTimeout, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		last, _, _, lastErr = clusterMetadata(ctx, cl, topic)
		return lastErr == nil && len(last) == int(partitions) && want(last)
	})
	if !ok {
		t.Fatalf("%s: not within %v; last metadata %v (err %v)", what, clusterPhaseTimeout, last, lastErr)
	}
	return last
}
