package shell

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/diskfault"
	"cairn/replica"
)

// TestMetricsOfARunningBroker produces to a real standalone server with
// metrics attached and reads them back as a scrape would.
func TestMetricsOfARunningBroker(t *testing.T) {
	config := replica.DefaultConfig()
	config.DataDir = t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := replica.Open(config, replica.Env{FS: diskfault.OS{}, Logger: logger, Rand: rand.New(rand.NewPCG(1, 2))}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(node, logger)
	metrics := NewMetrics()
	s.AttachMetrics(metrics)
	go s.Serve(l)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	// The broker advertises 127.0.0.1:9092 by default; point the client
	// at the real listener whatever Metadata says.
	address := l.Addr().String()
	client, err := kgo.NewClient(kgo.SeedBrokers(address), kgo.DefaultProduceTopic("metered"),
		kgo.AllowAutoTopicCreation(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, address)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const records = 5
	for i := 0; i < records; i++ {
		if err := client.ProduceSync(ctx, &kgo.Record{Value: []byte("value")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// A group commits offset 2 of the 5 records: its lag is 3.
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: "metered", Partition: 0, At: 2, LeaderEpoch: -1})
	if err := kadm.NewClient(client).CommitAllOffsets(ctx, "lagging", commit); err != nil {
		t.Fatalf("commit: %v", err)
	}

	families := gather(t, metrics)
	if got := gaugeValue(t, families, "cairn_consumer_group_committed_offset", "group", "lagging"); got != 2 {
		t.Errorf("committed offset %v, want 2", got)
	}
	if got := gaugeValue(t, families, "cairn_consumer_group_lag", "group", "lagging"); got != records-2 {
		t.Errorf("group lag %v, want %d", got, records-2)
	}
	if got := gaugeValue(t, families, "cairn_consumer_groups", "", ""); got != 1 {
		t.Errorf("consumer groups %v, want 1", got)
	}
	if got := counterValue(t, families, "cairn_requests_total", "api", "Produce"); got != records {
		t.Errorf("Produce requests %v, want %d", got, records)
	}
	produceLatency := histogram(t, families, "cairn_request_duration_seconds", "api", "Produce")
	if produceLatency.GetSampleCount() != records || produceLatency.GetSampleSum() <= 0 {
		t.Errorf("Produce latency: %d samples summing to %v s, want %d samples and a positive sum",
			produceLatency.GetSampleCount(), produceLatency.GetSampleSum(), records)
	}
	if histogram(t, families, "cairn_request_duration_seconds", "api", "Metadata").GetSampleCount() == 0 {
		t.Error("no Metadata request timed")
	}
	if got := gaugeValue(t, families, "cairn_partition_log_end_offset", "topic", "metered"); got != records {
		t.Errorf("log end offset %v, want %d", got, records)
	}
	if got := gaugeValue(t, families, "cairn_partition_high_watermark", "topic", "metered"); got != records {
		t.Errorf("high watermark %v, want %d", got, records)
	}
	if got := gaugeValue(t, families, "cairn_partition_isr_size", "topic", "metered"); got != 1 {
		t.Errorf("ISR size %v, want 1", got)
	}
	if got := gaugeValue(t, families, "cairn_controller_active", "", ""); got != 1 {
		t.Errorf("controller active %v: a standalone broker is its own controller", got)
	}
	for _, name := range []string{"cairn_under_replicated_partitions", "cairn_offline_partitions"} {
		if got := gaugeValue(t, families, name, "", ""); got != 0 {
			t.Errorf("%s %v, want 0", name, got)
		}
	}
	if got := histogram(t, families, "cairn_fsync_duration_seconds", "", "").GetSampleCount(); got == 0 {
		t.Error("no fsync timed, though acks=all in durable mode waits for one")
	}
	if in, out := counterValue(t, families, "cairn_network_received_bytes_total", "", ""), counterValue(t, families, "cairn_network_sent_bytes_total", "", ""); in < records*5 || out == 0 {
		t.Errorf("bytes in %v, out %v: want at least the records' values in and something out", in, out)
	}

	// And over HTTP, as Prometheus scrapes it.
	recorder := httptest.NewRecorder()
	metrics.Handler().ServeHTTP(recorder, httptest.NewRequest("GET", "/metrics", nil))
	body := recorder.Body.String()
	for _, want := range []string{`cairn_requests_total{api="Produce"} 5`, `cairn_partition_log_end_offset{partition="0",topic="metered"} 5`, "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestResponseTimerSkipsUnanswered: a request without a response (acks=0)
// is passed over when the next response arrives, and the queue is bounded.
func TestResponseTimerSkipsUnanswered(t *testing.T) {
	var timer responseTimer
	start := time.Now()
	timer.requested(1, kmsg.Produce.Int16(), start) // acks=0: never answered
	timer.requested(2, kmsg.Metadata.Int16(), start)
	frame := []byte{0, 0, 0, 8, 0, 0, 0, 2, 0, 0, 0, 0}
	got, ok := timer.responded(frame)
	if !ok || got.apiKey != kmsg.Metadata.Int16() {
		t.Fatalf("response to correlation 2 matched %+v, %v; want the Metadata request", got, ok)
	}
	if _, ok := timer.responded(frame); ok {
		t.Error("one request matched two responses")
	}
	for i := 0; i < 10*pendingMax; i++ {
		timer.requested(int32(i), kmsg.Produce.Int16(), start)
	}
	if pending := len(timer.pending) - timer.head; pending > pendingMax {
		t.Errorf("%d requests pending, want at most %d", pending, pendingMax)
	}
	if cap(timer.pending) > 4*pendingMax {
		t.Errorf("queue capacity grew to %d", cap(timer.pending))
	}
}

// TestRequestCountingDoesNotAllocate: the request path's metrics are
// atomics resolved by API key.
func TestRequestCountingDoesNotAllocate(t *testing.T) {
	metrics := NewMetrics()
	var timer responseTimer
	frame := []byte{0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 0}
	now := time.Now()
	allocations := testing.AllocsPerRun(1000, func() {
		metrics.requestReceived(kmsg.Produce.Int16(), 100)
		timer.requested(7, kmsg.Produce.Int16(), now)
		if request, ok := timer.responded(frame); ok {
			metrics.responseSent(len(frame))
			metrics.api(request.apiKey).observe(time.Since(request.received))
		}
	})
	if allocations != 0 {
		t.Errorf("%v allocations per request, want 0", allocations)
	}
}

func gather(t *testing.T, metrics *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	return byName
}

// find returns the family's metric whose label has value (any metric when
// label is empty).
func find(t *testing.T, families map[string]*dto.MetricFamily, name, label, value string) *dto.Metric {
	t.Helper()
	family, ok := families[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range family.GetMetric() {
		if label == "" {
			return m
		}
		for _, pair := range m.GetLabel() {
			if pair.GetName() == label && pair.GetValue() == value {
				return m
			}
		}
	}
	t.Fatalf("no %s with %s=%q", name, label, value)
	return nil
}

func counterValue(t *testing.T, families map[string]*dto.MetricFamily, name, label, value string) float64 {
	return find(t, families, name, label, value).GetCounter().GetValue()
}

func gaugeValue(t *testing.T, families map[string]*dto.MetricFamily, name, label, value string) float64 {
	return find(t, families, name, label, value).GetGauge().GetValue()
}

func histogram(t *testing.T, families map[string]*dto.MetricFamily, name, label, value string) *dto.Histogram {
	return find(t, families, name, label, value).GetHistogram()
}

// TestMetricsAfterClose: a scrape of a closed server still answers, without
// the node's state.
func TestMetricsAfterClose(t *testing.T) {
	config := replica.DefaultConfig()
	config.DataDir = t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := replica.Open(config, replica.Env{FS: diskfault.OS{}, Logger: logger, Rand: rand.New(rand.NewPCG(1, 2))}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(node, logger)
	metrics := NewMetrics()
	s.AttachMetrics(metrics)
	if _, ok := gather(t, metrics)["cairn_controller_active"]; !ok {
		t.Fatal("no controller state from an open server")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	families := gather(t, metrics)
	if _, ok := families["cairn_controller_active"]; ok {
		t.Error("node state reported from a closed server")
	}
	if _, ok := families["cairn_consumer_groups"]; !ok {
		t.Error("a closed server's scrape lost its own metrics")
	}
}
