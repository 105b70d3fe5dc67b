package shell

import (
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/replica"
	"cairn/replica/transport"
)

// Metrics is a broker's Prometheus registry: what the runtime shell counts
// as requests go by (requests, latency, bytes, fsyncs) and what it reads
// from the node when scraped (partitions, controller, brokers).
//
// The request path only touches atomics in arrays indexed by API key,
// resolved once here: no label lookups, no allocation per request. The
// node's state is never copied into gauges as it changes; the collector
// takes the server's lock at scrape time and reads it then.
type Metrics struct {
	registry *prometheus.Registry
	// apis is indexed by API key; keys beyond kmsg.MaxKey count as
	// unknownAPI.
	apis          [kmsg.MaxKey + 1]apiMetrics
	unknownAPI    apiMetrics
	receivedBytes atomic.Uint64
	sentBytes     atomic.Uint64
	fsync         prometheus.Histogram
	fsyncErrors   prometheus.Counter
	// server is read at scrape time; nil until a server is attached.
	server atomic.Pointer[Server]
}

// requestBucketsSeconds bound the request latency histogram: a produce
// acknowledged from the page cache takes tens of microseconds, a fetch
// long-poll up to its wait (500 ms by default, 30 s at most).
var requestBucketsSeconds = [...]float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// fsyncBucketsSeconds bound the fsync latency histogram: from a fast NVMe
// flush to a disk in trouble.
var fsyncBucketsSeconds = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
}

// apiMetrics counts one API's requests and their latency in fixed buckets.
// Bucket counts are per bucket (not cumulative); Collect accumulates them.
type apiMetrics struct {
	requests       atomic.Uint64
	responses      atomic.Uint64
	durationNanos  atomic.Uint64
	bucketCounts   [len(requestBucketsSeconds)]atomic.Uint64
	bucketOverflow atomic.Uint64
}

// observe records one answered request that took d.
func (a *apiMetrics) observe(d time.Duration) {
	a.responses.Add(1)
	a.durationNanos.Add(uint64(max(d, 0)))
	seconds := d.Seconds()
	for i, bound := range requestBucketsSeconds {
		if seconds <= bound {
			a.bucketCounts[i].Add(1)
			return
		}
	}
	a.bucketOverflow.Add(1)
}

// The descriptions of what the collector reads at scrape time.
var (
	descRequests = prometheus.NewDesc("cairn_requests_total",
		"Kafka requests received, by API (inter-broker requests included).", []string{"api"}, nil)
	descRequestDuration = prometheus.NewDesc("cairn_request_duration_seconds",
		"Time from a request's arrival to its response being queued for writing, by API (acks=0 produces have no response and are not timed).", []string{"api"}, nil)
	descReceivedBytes = prometheus.NewDesc("cairn_network_received_bytes_total",
		"Bytes of Kafka request frames received, size prefixes included.", nil, nil)
	descSentBytes = prometheus.NewDesc("cairn_network_sent_bytes_total",
		"Bytes of Kafka response frames queued for writing, size prefixes included.", nil, nil)
	descLogStart = prometheus.NewDesc("cairn_partition_log_start_offset",
		"First offset of a hosted partition's log.", []string{"topic", "partition"}, nil)
	descLogEnd = prometheus.NewDesc("cairn_partition_log_end_offset",
		"Offset the next record appended to a hosted partition would get (LEO).", []string{"topic", "partition"}, nil)
	descHighWatermark = prometheus.NewDesc("cairn_partition_high_watermark",
		"High watermark of a hosted partition: records below it are committed and visible to consumers.", []string{"topic", "partition"}, nil)
	descISRSize = prometheus.NewDesc("cairn_partition_isr_size",
		"Replicas in a hosted partition's in-sync replica set, as this broker knows it.", []string{"topic", "partition"}, nil)
	descReplicas = prometheus.NewDesc("cairn_partition_replicas",
		"Replicas assigned to a hosted partition.", []string{"topic", "partition"}, nil)
	descLeader = prometheus.NewDesc("cairn_partition_leader",
		"1 if this broker leads the hosted partition, else 0.", []string{"topic", "partition"}, nil)
	descUnderReplicated = prometheus.NewDesc("cairn_under_replicated_partitions",
		"Partitions this broker leads whose ISR is smaller than their replica set.", nil, nil)
	descOffline = prometheus.NewDesc("cairn_offline_partitions",
		"Partitions of the cluster without a leader, as this broker's metadata image shows them.", nil, nil)
	descFailed = prometheus.NewDesc("cairn_failed_partitions",
		"Hosted partitions whose log failed (an I/O error); they refuse writes until the broker restarts.", nil, nil)
	descControllerActive = prometheus.NewDesc("cairn_controller_active",
		"1 if this broker is the active controller, else 0.", nil, nil)
	descControllerID = prometheus.NewDesc("cairn_controller_id",
		"The active controller's broker id as this broker knows it; -1 if unknown.", nil, nil)
	descMetadataOffset = prometheus.NewDesc("cairn_metadata_applied_offset",
		"Index of the last metadata log entry this broker applied.", nil, nil)
	descBrokers = prometheus.NewDesc("cairn_brokers",
		"Registered brokers in this broker's metadata image, by state.", []string{"state"}, nil)
	descGroups = prometheus.NewDesc("cairn_consumer_groups",
		"Consumer groups this broker coordinates (of the __consumer_offsets partitions it leads and has loaded).", nil, nil)
	descGroupCommitted = prometheus.NewDesc("cairn_consumer_group_committed_offset",
		"A group's committed offset of a partition, from the group's coordinator.", []string{"group", "topic", "partition"}, nil)
	descGroupLag = prometheus.NewDesc("cairn_consumer_group_lag",
		"A partition's high watermark less the group's committed offset, from the group's coordinator when it also hosts the partition.",
		[]string{"group", "topic", "partition"}, nil)
)

// NewMetrics returns a registry with the broker's metrics and the Go
// runtime's and process's.
func NewMetrics() *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.fsync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cairn_fsync_duration_seconds",
		Help:    "Time one fsync of a partition log took (one group commit: it may cover many produces).",
		Buckets: fsyncBucketsSeconds,
	})
	m.fsyncErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cairn_fsync_errors_total",
		Help: "fsyncs of a partition log that failed; the partition then refuses writes.",
	})
	m.registry.MustRegister(m.fsync, m.fsyncErrors, metricsCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the underlying registry, for tests and for callers that add
// metrics of their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

func (m *Metrics) api(key int16) *apiMetrics {
	if key >= 0 && int(key) < len(m.apis) {
		return &m.apis[key]
	}
	return &m.unknownAPI
}

// requestReceived counts one request frame of frameBytes (size prefix
// excluded) for API key.
func (m *Metrics) requestReceived(key int16, frameBytes int) {
	m.api(key).requests.Add(1)
	m.receivedBytes.Add(uint64(frameBytes + transport.FrameSizeBytes))
}

// responseSent counts one response frame (size prefix included).
func (m *Metrics) responseSent(frameBytes int) { m.sentBytes.Add(uint64(frameBytes)) }

// fsyncDone records one fsync.
func (m *Metrics) fsyncDone(d time.Duration, err error) {
	m.fsync.Observe(d.Seconds())
	if err != nil {
		m.fsyncErrors.Inc()
	}
}

func apiName(key int) string {
	if name := kmsg.NameForKey(int16(key)); name != "" {
		return name
	}
	return "Unknown"
}

// metricsCollector reads request counters and the node's state at scrape
// time.
type metricsCollector struct{ m *Metrics }

func (c metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descRequests, descRequestDuration, descReceivedBytes, descSentBytes,
		descLogStart, descLogEnd, descHighWatermark, descISRSize, descReplicas, descLeader,
		descUnderReplicated, descOffline, descFailed,
		descControllerActive, descControllerID, descMetadataOffset, descBrokers, descGroups, descGroupCommitted, descGroupLag,
	} {
		ch <- d
	}
}

func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	// Only APIs that were asked for appear: a broker answers a dozen of the
	// ~90 Kafka APIs, and the rest would be noise.
	for key := range m.apis {
		collectAPI(ch, apiName(key), &m.apis[key])
	}
	collectAPI(ch, "Unknown", &m.unknownAPI)
	ch <- prometheus.MustNewConstMetric(descReceivedBytes, prometheus.CounterValue, float64(m.receivedBytes.Load()))
	ch <- prometheus.MustNewConstMetric(descSentBytes, prometheus.CounterValue, float64(m.sentBytes.Load()))
	groups := 0
	if s := m.server.Load(); s != nil {
		s.mu.Lock()
		closed := s.closed // a closing node's logs may already be closed
		var state replica.NodeState
		if !closed {
			state = s.node.State()
		}
		s.mu.Unlock()
		if !closed {
			collectNodeState(state, ch)
			groups = state.Groups
		}
	}
	ch <- prometheus.MustNewConstMetric(descGroups, prometheus.GaugeValue, float64(groups))
}

func collectAPI(ch chan<- prometheus.Metric, name string, a *apiMetrics) {
	requests := a.requests.Load()
	if requests == 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(requests), name)
	buckets := make(map[float64]uint64, len(requestBucketsSeconds))
	var cumulative uint64
	for i, bound := range requestBucketsSeconds {
		cumulative += a.bucketCounts[i].Load()
		buckets[bound] = cumulative
	}
	// The count is the buckets' total rather than responses, which another
	// goroutine may have advanced between the loads: the exposition must
	// stay consistent (count >= every bucket).
	count := cumulative + a.bucketOverflow.Load()
	sum := float64(a.durationNanos.Load()) / float64(time.Second)
	ch <- prometheus.MustNewConstHistogram(descRequestDuration, count, sum, buckets, name)
}

func collectNodeState(s replica.NodeState, ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, value float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, value, labels...)
	}
	for _, p := range s.Partitions {
		gauge(descLogStart, float64(p.LogStart), p.Topic, p.Partition)
		gauge(descLogEnd, float64(p.LogEnd), p.Topic, p.Partition)
		gauge(descHighWatermark, float64(p.HighWatermark), p.Topic, p.Partition)
		gauge(descISRSize, float64(p.ISRSize), p.Topic, p.Partition)
		gauge(descReplicas, float64(p.Replicas), p.Topic, p.Partition)
		gauge(descLeader, boolValue(p.Leader), p.Topic, p.Partition)
	}
	gauge(descUnderReplicated, float64(s.UnderReplicated))
	gauge(descOffline, float64(s.Offline))
	gauge(descFailed, float64(s.Failed))
	gauge(descControllerActive, boolValue(s.ControllerActive))
	gauge(descControllerID, float64(s.ControllerID))
	gauge(descMetadataOffset, float64(min(s.MetadataApplied, math.MaxInt64)))
	gauge(descBrokers, float64(s.BrokersLive), "unfenced")
	gauge(descBrokers, float64(s.BrokersFenced), "fenced")
	for _, g := range s.GroupOffsets {
		gauge(descGroupCommitted, float64(g.Committed), g.Group, g.Topic, g.Partition)
		if g.Lag >= 0 {
			gauge(descGroupLag, float64(g.Lag), g.Group, g.Topic, g.Partition)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// pendingResponse is a request whose response the server still waits for,
// to time it.
type pendingResponse struct {
	correlationID int32
	apiKey        int16
	received      time.Time
}

// responseTimer matches a connection's responses to its requests by
// correlation id. Responses leave in request order (conn.go), so the match
// is at the head of the queue; requests that get no response (acks=0
// produces) are passed over when a later one's response arrives. Guarded
// by the server's mu.
type responseTimer struct {
	pending []pendingResponse
	head    int
}

// AttachMetrics makes the server count into m and m read the server's node
// when scraped. Call it before Serve.
func (s *Server) AttachMetrics(m *Metrics) {
	s.metrics = m
	m.server.Store(s)
}

// pendingMax bounds the queue: a client pipelining acks=0 produces on a
// connection that never gets a response would otherwise grow it forever.
const pendingMax = 1024

func (t *responseTimer) requested(correlationID int32, key int16, now time.Time) {
	if t.head > 0 && t.head == len(t.pending) {
		t.pending, t.head = t.pending[:0], 0
	}
	if len(t.pending)-t.head >= pendingMax {
		t.head++ // forget the oldest; its response, if any, goes untimed
	}
	if t.head > len(t.pending)/2 && t.head > 64 {
		t.pending = append(t.pending[:0], t.pending[t.head:]...)
		t.head = 0
	}
	t.pending = append(t.pending, pendingResponse{correlationID: correlationID, apiKey: key, received: now})
}

// responded finds the request answered by frame (size prefix included)
// and returns it.
func (t *responseTimer) responded(frame []byte) (pendingResponse, bool) {
	if len(frame) < transport.FrameSizeBytes+4 {
		return pendingResponse{}, false
	}
	id := int32(uint32(frame[4])<<24 | uint32(frame[5])<<16 | uint32(frame[6])<<8 | uint32(frame[7]))
	for i := t.head; i < len(t.pending); i++ {
		if t.pending[i].correlationID == id {
			found := t.pending[i]
			t.head = i + 1
			return found, true
		}
	}
	return pendingResponse{}, false
}
