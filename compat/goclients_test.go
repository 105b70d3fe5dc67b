package compat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	roundTripRecords    = 200
	roundTripKeys       = 10
	roundTripPartitions = 3
	clientTimeout       = 60 * time.Second
)

// TestKgo produces with franz-go's default producer configuration (acks=all;
// idempotent where the broker offers InitProducerId, plain otherwise) and
// reads back with franz-go's direct partition consumer.
func TestKgo(t *testing.T) {
	t.Parallel()
	addr := sharedAddr(t)
	topic := uniqueTopic("kgo")
	createTopic(t, addr, topic, roundTripPartitions)
	want := makeRecords("kgo", roundTripRecords, roundTripKeys)

	cl := newKgo(t, addr, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i := range want {
		wg.Add(1)
		cl.Produce(ctx, toKgo(want[i]), func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("record %d: %w", i, err))
				mu.Unlock()
				return
			}
			// Each callback writes only its own element.
			want[i].Partition, want[i].Offset = r.Partition, r.Offset
		})
	}
	waitGroup(t, &wg, clientTimeout, "kgo produce")
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("kgo produce: %v", err)
	}
	verify(t, "kgo", want, readAll(t, addr, topic, roundTripPartitions))
}

// TestSarama produces with sarama's SyncProducer (acks=all, default hash
// partitioner) and reads back with one sarama partition consumer per
// partition, up to the newest offset sarama's client reports.
func TestSarama(t *testing.T) {
	t.Parallel()
	addr := sharedAddr(t)
	topic := uniqueTopic("sarama")
	createTopic(t, addr, topic, roundTripPartitions)
	want := makeRecords("sarama", roundTripRecords, roundTripKeys)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "cairn-compat"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Timeout = 10 * time.Second
	cfg.Net.DialTimeout = 10 * time.Second
	cfg.Net.ReadTimeout = 20 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 10

	producer, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewSyncProducer: %v", err)
	}
	msgs := make([]*sarama.ProducerMessage, len(want))
	for i, r := range want {
		m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value)}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: []byte(h.Value)})
		}
		msgs[i] = m
	}
	// SendMessages batches per partition and returns once every message is
	// acknowledged, filling in Partition and Offset.
	if err := producer.SendMessages(msgs); err != nil {
		producer.Close()
		t.Fatalf("sarama SendMessages: %v", err)
	}
	for i, m := range msgs {
		want[i].Partition, want[i].Offset = m.Partition, m.Offset
	}
	if err := producer.Close(); err != nil {
		t.Errorf("sarama producer close: %v", err)
	}

	client, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewClient: %v", err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatalf("sarama.NewConsumerFromClient: %v", err)
	}
	defer consumer.Close()
	var got []record
	for p := int32(0); p < roundTripPartitions; p++ {
		newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("sarama GetOffset %s[%d] newest: %v", topic, p, err)
		}
		if newest == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama ConsumePartition %s[%d]: %v", topic, p, err)
		}
		timeout := time.After(clientTimeout)
	read:
		for {
			select {
			case m := <-pc.Messages():
				r := record{Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Value: string(m.Value)}
				for _, h := range m.Headers {
					r.Headers = append(r.Headers, header{Key: string(h.Key), Value: string(h.Value)})
				}
				got = append(got, r)
				if m.Offset >= newest-1 {
					break read
				}
			case err := <-pc.Errors():
				t.Fatalf("sarama consume %s[%d]: %v", topic, p, err)
			case <-timeout:
				t.Fatalf("sarama consume %s[%d]: no record at offset %d after %v", topic, p, newest-1, clientTimeout)
			}
		}
		pc.Close()
	}
	verify(t, "sarama consumer", want, got)
	verify(t, "kgo read of sarama's records", want, readAll(t, addr, topic, roundTripPartitions))
}

// TestKafkaGo produces with segmentio/kafka-go's Writer (acks=all, hash
// balancer so keys keep their partition) and reads back with one Reader per
// partition, up to the last offset a kafka-go Conn reports.
func TestKafkaGo(t *testing.T) {
	t.Parallel()
	addr := sharedAddr(t)
	topic := uniqueTopic("kafkago")
	createTopic(t, addr, topic, roundTripPartitions)
	want := makeRecords("kafkago", roundTripRecords, roundTripKeys)
	seqOf := seqOfValue(want)

	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	var mu sync.Mutex
	var completionErrs []error
	w := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Transport:    newKafkaGoTransport(t),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		WriteTimeout: 20 * time.Second,
		// Completion is kafka-go's only report of where each message was
		// stored.
		Completion: func(msgs []kafka.Message, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				completionErrs = append(completionErrs, err)
				return
			}
			for _, m := range msgs {
				i, ok := seqOf[string(m.Value)]
				if !ok {
					completionErrs = append(completionErrs, fmt.Errorf("completion for unknown value %q", m.Value))
					continue
				}
				want[i].Partition, want[i].Offset = int32(m.Partition), m.Offset
			}
		},
	}
	msgs := make([]kafka.Message, len(want))
	for i, r := range want {
		msgs[i] = kafka.Message{Key: []byte(r.Key), Value: []byte(r.Value)}
		for _, h := range r.Headers {
			msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: h.Key, Value: []byte(h.Value)})
		}
	}
	err := w.WriteMessages(ctx, msgs...)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("kafka-go WriteMessages: %v", err)
	}
	if err := errors.Join(completionErrs...); err != nil {
		t.Fatalf("kafka-go completion: %v", err)
	}
	for i, r := range want {
		if r.Offset == unacked {
			t.Fatalf("kafka-go: no completion for record %d", i)
		}
	}

	var got []record
	for p := 0; p < roundTripPartitions; p++ {
		conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, p)
		if err != nil {
			t.Fatalf("kafka-go DialLeader %s[%d]: %v", topic, p, err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatalf("kafka-go ReadLastOffset %s[%d]: %v", topic, p, err)
		}
		if last == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   []string{addr},
			Topic:     topic,
			Partition: p,
			MinBytes:  1,
			MaxBytes:  1 << 20,
			MaxWait:   200 * time.Millisecond,
		})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			t.Fatalf("kafka-go SetOffset: %v", err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("kafka-go ReadMessage %s[%d] (last offset %d): %v", topic, p, last, err)
			}
			rec := record{Partition: int32(m.Partition), Offset: m.Offset, Key: string(m.Key), Value: string(m.Value)}
			for _, h := range m.Headers {
				rec.Headers = append(rec.Headers, header{Key: h.Key, Value: string(h.Value)})
			}
			got = append(got, rec)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	verify(t, "kafka-go reader", want, got)
	verify(t, "kgo read of kafka-go's records", want, readAll(t, addr, topic, roundTripPartitions))
}

// waitGroup waits for wg, failing the test after timeout: a client's
// promises may never complete if the broker stops answering, and the test
// must then fail rather than hang (the clients' cleanup fails what remains).
func waitGroup(t *testing.T, wg *sync.WaitGroup, timeout time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("%s: not finished after %v", what, timeout)
	}
}

// TestCompressedBatches produces with franz-go using each compression codec
// Kafka defines and reads back with franz-go: the broker must store and
// serve compressed batches intact and count their records into offsets.
func TestCompressedBatches(t *testing.T) {
	t.Parallel()
	addr := sharedAddr(t)
	for _, codec := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	} {
		t.Run(codec.name, func(t *testing.T) {
			t.Parallel()
			topic := uniqueTopic("compressed-" + codec.name)
			createTopic(t, addr, topic, roundTripPartitions)
			want := makeRecords(codec.name, roundTripRecords, roundTripKeys)
			cl := newKgo(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec.codec))
			ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
			defer cancel()
			var recs []*kgo.Record
			for _, r := range want {
				recs = append(recs, toKgo(r))
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			var errs []error
			for i, r := range recs {
				wg.Add(1)
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					defer wg.Done()
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					want[i].Partition, want[i].Offset = r.Partition, r.Offset
				})
			}
			waitGroup(t, &wg, clientTimeout, codec.name+" produce")
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("kgo %s produce: %v", codec.name, err)
			}
			verify(t, "kgo read of "+codec.name+" batches", want, readAll(t, addr, topic, roundTripPartitions))
		})
	}
}

// newKafkaGoTransport gives a kafka-go Writer a transport of its own.
// kafka-go's shared DefaultTransport answers the Writer's Metadata requests
// from a cache refreshed every few seconds, so a topic created after another
// test filled that cache looks unknown and the write fails.
func newKafkaGoTransport(t *testing.T) *kafka.Transport {
	tr := &kafka.Transport{DialTimeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}
