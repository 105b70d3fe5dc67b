package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func validProduce() ProduceOptions {
	return ProduceOptions{Brokers: []string{"127.0.0.1:9092"}, Topic: "t", Records: 10, RecordBytes: 100, Acks: -1}
}

func TestProduceOptionsValidate(t *testing.T) {
	if err := (&ProduceOptions{Brokers: []string{"b:1"}, Topic: "t", Records: 1}).Validate(); err != nil {
		t.Fatalf("minimal options: %v", err)
	}
	cases := []struct {
		name   string
		change func(*ProduceOptions)
		want   string
	}{
		{"no brokers", func(o *ProduceOptions) { o.Brokers = nil }, "no brokers"},
		{"empty broker", func(o *ProduceOptions) { o.Brokers = []string{" "} }, "empty broker"},
		{"no topic", func(o *ProduceOptions) { o.Topic = "" }, "no topic"},
		{"zero records", func(o *ProduceOptions) { o.Records = 0 }, "records 0"},
		{"negative size", func(o *ProduceOptions) { o.RecordBytes = -1 }, "record size"},
		{"negative rate", func(o *ProduceOptions) { o.RatePerSecond = -1 }, "rate"},
		{"acks 2", func(o *ProduceOptions) { o.Acks = 2 }, "acks 2"},
		{"compression", func(o *ProduceOptions) { o.Compression = "brotli" }, `compression "brotli"`},
		{"partitions", func(o *ProduceOptions) { o.Partitions = -1 }, "partitions"},
		{"replication", func(o *ProduceOptions) { o.ReplicationFactor = -1 }, "replication factor"},
		{"linger", func(o *ProduceOptions) { o.Linger = -time.Second }, "linger"},
		{"long linger", func(o *ProduceOptions) { o.Linger = 2 * time.Minute }, "linger"},
		{"batch bytes", func(o *ProduceOptions) { o.BatchBytesMax = -1 }, "batch bytes"},
		{"small batch", func(o *ProduceOptions) { o.BatchBytesMax = 50 }, "cannot hold"},
		{"duration", func(o *ProduceOptions) { o.DurationMax = -time.Second }, "duration"},
	}
	for _, c := range cases {
		options := validProduce()
		c.change(&options)
		err := options.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	for _, acks := range []int{-1, 0, 1} {
		for _, compression := range append([]string{"", "ZSTD"}, Compressions...) {
			options := validProduce()
			options.Acks, options.Compression = acks, compression
			if err := options.Validate(); err != nil {
				t.Errorf("acks %d compression %q: %v", acks, compression, err)
			}
		}
	}
}

func TestConsumeOptionsValidate(t *testing.T) {
	valid := func() ConsumeOptions { return ConsumeOptions{Brokers: []string{"b:1"}, Topic: "t"} }
	options := valid()
	if err := options.Validate(); err != nil {
		t.Fatalf("minimal options: %v", err)
	}
	cases := []struct {
		name   string
		change func(*ConsumeOptions)
		want   string
	}{
		{"no brokers", func(o *ConsumeOptions) { o.Brokers = nil }, "no brokers"},
		{"no topic", func(o *ConsumeOptions) { o.Topic = "" }, "no topic"},
		{"records", func(o *ConsumeOptions) { o.Records = -1 }, "records"},
		{"fetch bytes", func(o *ConsumeOptions) { o.FetchBytesMax = -1 }, "fetch bytes"},
		{"partition bytes", func(o *ConsumeOptions) { o.FetchPartitionBytesMax = -1 }, "fetch partition bytes"},
		{"fetch wait", func(o *ConsumeOptions) { o.FetchWaitMax = -1 }, "fetch wait"},
		{"idle", func(o *ConsumeOptions) { o.IdleTimeout = -1 }, "idle timeout"},
	}
	for _, c := range cases {
		options := valid()
		c.change(&options)
		err := options.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestResultJSONRoundTrip(t *testing.T) {
	result := newResult(OperationProduce, 1000, 1_024_000, 2*time.Second)
	result.Latency = &LatencySummary{Count: 1000, Mean: 1500 * time.Microsecond, P50: time.Millisecond, P95: 2 * time.Millisecond,
		P99: 3 * time.Millisecond, P999: 4 * time.Millisecond, Max: 5 * time.Millisecond}
	if result.RecordsPerSecond != 500 || result.MegabytesPerSecond != 0.512 {
		t.Fatalf("rates %v records/s %v MB/s", result.RecordsPerSecond, result.MegabytesPerSecond)
	}
	encoded, err := json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"operation":"produce"`, `"elapsed_seconds":2`, `"megabytes_per_second":0.512`, `"p99":3`} {
		if !strings.Contains(string(encoded), field) {
			t.Errorf("%s lacks %s", encoded, field)
		}
	}
	result.Idempotent = true
	encoded, err = json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	var decoded Result
	if err := json.Unmarshal(encoded, &decoded); err != nil {
		t.Fatal(err)
	}
	if !decoded.Idempotent || decoded.Records != result.Records || decoded.Elapsed != result.Elapsed || *decoded.Latency != *result.Latency {
		t.Fatalf("round trip: got %+v %+v, want %+v %+v", decoded, decoded.Latency, result, result.Latency)
	}
	if !strings.Contains(result.String(), "1000 records sent") || !strings.Contains(result.String(), "p99 3.00") {
		t.Errorf("String: %s", result)
	}
}

func TestPayload(t *testing.T) {
	value := payload(1024)
	if len(value) != 1024 || !bytes.Equal(value, payload(1024)) {
		t.Fatal("payload is not a deterministic 1024 bytes")
	}
	if len(payload(0)) != 0 {
		t.Fatal("payload(0) is not empty")
	}
}

// TestProduceConsumeAgainstFake runs a small load through an in-process
// fake cluster: every record is acknowledged and read back.
func TestProduceConsumeAgainstFake(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var progress bytes.Buffer
	produced, err := Produce(ctx, ProduceOptions{
		Brokers: cluster.ListenAddrs(), Topic: "load", Records: 3000, RecordBytes: 200,
		Acks: -1, Partitions: 3, Compression: "lz4", RatePerSecond: 2500, Progress: &progress,
	})
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if produced.Records != 3000 || produced.Bytes != 600_000 {
		t.Fatalf("produced %d records, %d bytes", produced.Records, produced.Bytes)
	}
	if !produced.Idempotent {
		t.Errorf("acks=all against kfake, which grants producer ids, was not idempotent")
	}
	if l := produced.Latency; l == nil || l.Count != 3000 || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
		t.Fatalf("latency %+v", produced.Latency)
	}
	// 3000 records at 2500/s take at least 1.2 s: the rate limit held, and
	// a progress line was written.
	if produced.Elapsed < 1100*time.Millisecond {
		t.Fatalf("rate limit not applied: %v elapsed", produced.Elapsed)
	}
	if !strings.Contains(progress.String(), "records acknowledged") {
		t.Fatalf("no progress line: %q", progress.String())
	}

	consumed, err := Consume(ctx, ConsumeOptions{Brokers: cluster.ListenAddrs(), Topic: "load"})
	if err != nil {
		t.Fatalf("consume to the end: %v", err)
	}
	if consumed.Records != 3000 || consumed.Bytes != 600_000 {
		t.Fatalf("consumed %d records, %d bytes", consumed.Records, consumed.Bytes)
	}
	some, err := Consume(ctx, ConsumeOptions{Brokers: cluster.ListenAddrs(), Topic: "load", Records: 1234})
	if err != nil || some.Records != 1234 {
		t.Fatalf("consume 1234: %d records, %v", some.Records, err)
	}
	_, err = Consume(ctx, ConsumeOptions{Brokers: cluster.ListenAddrs(), Topic: "load", Records: 3001, IdleTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no record for") {
		t.Fatalf("consuming past the end: %v", err)
	}
	_, err = Consume(ctx, ConsumeOptions{Brokers: cluster.ListenAddrs(), Topic: "missing"})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("consuming a missing topic: %v", err)
	}

	// acks=1 with a duration limit stops early without error.
	limited, err := Produce(ctx, ProduceOptions{
		Brokers: cluster.ListenAddrs(), Topic: "load", Records: 1_000_000, RecordBytes: 10,
		Acks: 1, RatePerSecond: 1000, DurationMax: 300 * time.Millisecond,
	})
	if err != nil || limited.Records == 0 || limited.Records > 1000 || limited.Idempotent {
		t.Fatalf("duration-limited acks=1 produce: %d records, idempotent %v, %v", limited.Records, limited.Idempotent, err)
	}
}

func BenchmarkProduceSendPath(b *testing.B) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	b.ReportAllocs()
	_, err = Produce(context.Background(), ProduceOptions{
		Brokers: cluster.ListenAddrs(), Topic: "bench", Records: int64(b.N), RecordBytes: 100, Acks: 1, Partitions: 1,
	})
	if err != nil {
		b.Fatal(err)
	}
}
