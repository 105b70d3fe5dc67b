package compat

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	partitionerKeys       = 50
	partitionerPartitions = 7
)

// partitionerKeySet returns keys of assorted lengths (every length mod 4, so
// each murmur2 tail case) including multi-byte UTF-8, whose bytes >= 0x80
// catch an implementation that hashes signed bytes.
func partitionerKeySet() []string {
	keys := make([]string, partitionerKeys)
	for i := range keys {
		switch i % 5 {
		case 0:
			keys[i] = fmt.Sprintf("k%d", i)
		case 1:
			keys[i] = fmt.Sprintf("customer-%d", i*7919)
		case 2:
			keys[i] = fmt.Sprintf("order/%d/line-item-%d", i, i*i)
		case 3:
			keys[i] = fmt.Sprintf("ключ-%d", i)
		case 4:
			keys[i] = strings.Repeat("x", i)
		}
	}
	return keys
}

// TestPartitionerAgreement checks that clients whose partitioner is Kafka's
// (murmur2 of the key, positive, modulo the partition count) put each key on
// the same partition, so that keyed data written by a mix of clients stays
// together. Each client writes every key once to one shared 7-partition
// topic; kgo then reads it all and each key must be on a single partition.
//
// Included: kgo, kafka-python and kafkajs 2.x by default (kafkajs's
// DefaultPartitioner became the Java-compatible one in 2.0; its
// LegacyPartitioner is not), librdkafka with partitioner=murmur2_random and
// kafka-go with its Murmur2Balancer, both opt-in since those clients default
// to other hashes. sarama is left out: its partitioners hash with FNV-1a or
// a caller-supplied hash.Hash32 and it ships no murmur2.
func TestPartitionerAgreement(t *testing.T) {
	t.Parallel()
	addr := sharedAddr(t)
	topic := uniqueTopic("partitioner")
	createTopic(t, addr, topic, partitionerPartitions)
	keys := partitionerKeySet()
	recordsFor := func(client string) []record {
		rs := make([]record, len(keys))
		for i, k := range keys {
			rs[i] = record{Key: k, Value: fmt.Sprintf("%s:%d", client, i), Headers: []header{{Key: "client", Value: client}}}
		}
		return rs
	}

	t.Run("produce", func(t *testing.T) {
		t.Run("kgo", func(t *testing.T) {
			t.Parallel()
			cl := newKgo(t, addr, kgo.DefaultProduceTopic(topic))
			ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
			defer cancel()
			var mu sync.Mutex
			var errs []error
			var wg sync.WaitGroup
			for _, r := range recordsFor("kgo") {
				wg.Add(1)
				cl.Produce(ctx, toKgo(r), func(_ *kgo.Record, err error) {
					defer wg.Done()
					mu.Lock()
					defer mu.Unlock()
					errs = append(errs, err)
				})
			}
			waitGroup(t, &wg, clientTimeout, "kgo produce")
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("kgo produce: %v", err)
			}
		})
		t.Run("kafka-go", func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
			defer cancel()
			w := &kafka.Writer{
				Addr:         kafka.TCP(addr),
				Transport:    newKafkaGoTransport(t),
				Topic:        topic,
				Balancer:     kafka.Murmur2Balancer{},
				RequiredAcks: kafka.RequireAll,
				BatchTimeout: 10 * time.Millisecond,
				WriteTimeout: 20 * time.Second,
			}
			var msgs []kafka.Message
			for _, r := range recordsFor("kafka-go") {
				msgs = append(msgs, kafka.Message{Key: []byte(r.Key), Value: []byte(r.Value), Headers: []kafka.Header{{Key: "client", Value: []byte("kafka-go")}}})
			}
			err := w.WriteMessages(ctx, msgs...)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatalf("kafka-go produce: %v", err)
			}
		})
		t.Run("kafka-python", func(t *testing.T) {
			t.Parallel()
			requirePythonModule(t, "kafka", "python3-kafka")
			run(t, scriptTimeout, recordsJSON(t, recordsFor("kafka-python")), scriptEnv(addr, topic),
				debianPython, pythonIsolated, filepath.Join("testdata", "kafka_python_client.py"), "produce")
		})
		t.Run("confluent", func(t *testing.T) {
			t.Parallel()
			requirePythonModule(t, "confluent_kafka", "python3-confluent-kafka")
			run(t, scriptTimeout, recordsJSON(t, recordsFor("confluent")), scriptEnv(addr, topic, "PARTITIONER=murmur2_random"),
				debianPython, pythonIsolated, filepath.Join("testdata", "confluent_client.py"), "produce")
		})
		t.Run("kafkajs", func(t *testing.T) {
			t.Parallel()
			node := requireKafkajs(t)
			run(t, scriptTimeout, recordsJSON(t, recordsFor("kafkajs")), scriptEnv(addr, topic, "BATCH=50", "KAFKAJS_NO_PARTITIONER_WARNING=1"),
				node, filepath.Join("node", "produce.js"))
		})
	})
	if t.Failed() {
		return
	}

	// placed[key][client] = partition
	placed := map[string]map[string]int32{}
	for _, r := range readAll(t, addr, topic, partitionerPartitions) {
		client, _, _ := strings.Cut(r.Value, ":")
		if placed[r.Key] == nil {
			placed[r.Key] = map[string]int32{}
		}
		if p, dup := placed[r.Key][client]; dup {
			t.Errorf("key %q from %s stored twice (partitions %d and %d)", r.Key, client, p, r.Partition)
		}
		placed[r.Key][client] = r.Partition
	}
	clients := []string{"kgo", "kafka-go", "kafka-python", "confluent", "kafkajs"}
	for _, k := range keys {
		byClient := placed[k]
		ref, ok := byClient["kgo"]
		if !ok {
			t.Errorf("key %q: no record from kgo", k)
			continue
		}
		for _, c := range clients {
			p, ok := byClient[c]
			switch {
			case !ok:
				t.Errorf("key %q: no record from %s", k, c)
			case p != ref:
				t.Errorf("key %q: %s put it on partition %d, kgo on %d", k, c, p, ref)
			}
		}
	}
	// Clients that all put every key on one partition (say, because they
	// saw a single partition in Metadata) would agree trivially; make sure
	// the keys really spread.
	used := map[int32]bool{}
	for _, byClient := range placed {
		used[byClient["kgo"]] = true
	}
	if len(used) < partitionerPartitions-2 {
		var ps []int
		for p := range used {
			ps = append(ps, int(p))
		}
		sort.Ints(ps)
		t.Errorf("%d keys landed on only partitions %v of %d", len(keys), ps, partitionerPartitions)
	}
}
