// Package natsbench runs NATS JetStream as a peer in the benchmark: a
// server (nats-server embedded, file storage, alone or one of a cluster on
// loopback), a publisher that publishes asynchronously with a bounded number
// of unacknowledged messages and measures each message's time to its
// acknowledgment, and a reader that reads every stream back.
//
// It reports in the same perf.Result as `cairn perf`, so that the benchmark
// tables treat every peer alike. It must never be imported by the broker:
// it exists only to measure a peer.
package natsbench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cairn/perf"
)

// ServerOptions configure one nats-server.
type ServerOptions struct {
	// Name is the server's name, unique in a cluster.
	Name string
	// Port is the client port on 127.0.0.1; 0 picks a free one.
	Port int
	// StoreDir is JetStream's file storage directory.
	StoreDir string
	// SyncAlways sets JetStream's `sync_interval: always` (an fsync after
	// every write); false keeps NATS's default, a background fsync every
	// two minutes.
	SyncAlways bool
	// ClusterPort is the route port on 127.0.0.1 of a clustered server; 0
	// runs the server alone.
	ClusterPort int
	// Routes are the route URLs of every server of the cluster
	// ("nats-route://127.0.0.1:PORT"), this one included.
	Routes []string
}

// readyPollInterval is how often StartServer checks that a clustered
// server's JetStream is current.
const readyPollInterval = 50 * time.Millisecond

// StartServer starts a nats-server with JetStream on file storage and waits
// up to readyTimeout for it to accept connections and, in a cluster, for its
// JetStream meta group to have a leader it is current with.
func StartServer(o ServerOptions, readyTimeout time.Duration) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("natsbench: a store directory is needed")
	}
	options := &server.Options{
		ServerName: o.Name,
		Host:       "127.0.0.1",
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      true,
	}
	if o.Port == 0 {
		options.Port = server.RANDOM_PORT
	}
	if o.SyncAlways {
		options.SyncAlways = true
	}
	if o.ClusterPort != 0 {
		options.Cluster = server.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: o.ClusterPort}
		for _, route := range o.Routes {
			u, err := url.Parse(route)
			if err != nil {
				return nil, fmt.Errorf("natsbench: route %q: %w", route, err)
			}
			options.Routes = append(options.Routes, u)
		}
	}
	s, err := server.NewServer(options)
	if err != nil {
		return nil, fmt.Errorf("natsbench: %w", err)
	}
	s.Start()
	deadline := time.Now().Add(readyTimeout)
	if !s.ReadyForConnections(readyTimeout) {
		s.Shutdown()
		return nil, fmt.Errorf("natsbench: server %s not ready after %v", o.Name, readyTimeout)
	}
	if o.ClusterPort != 0 {
		for !s.JetStreamIsCurrent() {
			if time.Now().After(deadline) {
				s.Shutdown()
				return nil, fmt.Errorf("natsbench: server %s: JetStream cluster not current after %v", o.Name, readyTimeout)
			}
			time.Sleep(readyPollInterval)
		}
	}
	return s, nil
}

// ProduceOptions configure one publishing run.
type ProduceOptions struct {
	// Servers are client URLs ("nats://127.0.0.1:PORT").
	Servers []string
	// Streams is how many streams the records are spread over, round
	// robin (stream i holds subject bench.i), as a Kafka producer spreads
	// them over partitions.
	Streams int
	// Replicas of every stream: 1, or 3 on a cluster of three.
	Replicas int
	// Records and RecordBytes: how many messages of how many bytes.
	Records     int64
	RecordBytes int
	// PendingMax bounds the messages published on one connection but not
	// yet acknowledged.
	PendingMax int
	// Connections is how many connections publish at once, each to its
	// share of the streams; 0 means 1.
	Connections int
	// Duration caps the run; fewer records are sent if it is reached.
	Duration time.Duration
}

// Validate reports the first invalid option.
func (o ProduceOptions) Validate() error {
	switch {
	case len(o.Servers) == 0:
		return errors.New("natsbench: no servers")
	case o.Streams <= 0 || o.Replicas <= 0 || o.Records <= 0 || o.RecordBytes <= 0 || o.PendingMax <= 0 || o.Duration <= 0:
		return errors.New("natsbench: streams, replicas, records, record bytes, pending max and duration must be positive")
	case o.Connections < 0 || o.Connections > o.Streams:
		return errors.New("natsbench: connections must be at most the streams")
	}
	return nil
}

// streamName and subject name stream i and the subject it captures.
func streamName(i int) string { return fmt.Sprintf("bench-%d", i) }
func subject(i int) string    { return fmt.Sprintf("bench.%d", i) }

// streamCreateTimeout bounds creating the streams (a cluster may still be
// placing its first ones).
const streamCreateTimeout = 30 * time.Second

// createStreams creates the benchmark's streams on file storage, retrying
// while a cluster is not yet ready to place them.
func createStreams(ctx context.Context, js jetstream.JetStream, streams, replicas int) error {
	ctx, cancel := context.WithTimeout(ctx, streamCreateTimeout)
	defer cancel()
	for i := range streams {
		config := jetstream.StreamConfig{
			Name:      streamName(i),
			Subjects:  []string{subject(i)},
			Storage:   jetstream.FileStorage,
			Replicas:  replicas,
			Retention: jetstream.LimitsPolicy,
		}
		for {
			_, err := js.CreateOrUpdateStream(ctx, config)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("natsbench: creating stream %s: %w", config.Name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// slot is one message that may be in flight; the publisher reuses slots
// once their acknowledgment (or error) arrives.
type slot struct {
	message nats.Msg
	sentAt  time.Time
}

// publisher is the state of one Produce run shared with the ack callbacks.
type publisher struct {
	slots         []slot
	slotOfMessage map[*nats.Msg]int
	free          chan int
	latency       *perf.Histogram // nanoseconds, touched only by the ack goroutine
	acknowledged  atomic.Int64
	lastAck       atomic.Int64 // unix nanoseconds
	failure       atomic.Pointer[error]
	done          chan struct{} // closed once every published message is answered
	answered      atomic.Int64
	published     atomic.Int64
	finished      atomic.Bool // no more messages will be published
	doneOnce      sync.Once
}

func (p *publisher) maybeDone() {
	if p.finished.Load() && p.answered.Load() == p.published.Load() {
		p.doneOnce.Do(func() { close(p.done) })
	}
}

func (p *publisher) onAck(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
	now := time.Now()
	i := p.slotOfMessage[m]
	p.latency.Record(int64(now.Sub(p.slots[i].sentAt)))
	p.acknowledged.Add(1)
	p.lastAck.Store(now.UnixNano())
	p.answered.Add(1)
	p.free <- i
	p.maybeDone()
}

func (p *publisher) onError(_ jetstream.JetStream, m *nats.Msg, err error) {
	p.failure.CompareAndSwap(nil, &err)
	p.answered.Add(1)
	p.free <- p.slotOfMessage[m]
	p.maybeDone()
}

// newPublisher prepares a publisher of payload with at most pendingMax
// messages in flight.
func newPublisher(pendingMax int, payload []byte) *publisher {
	p := &publisher{
		slots:         make([]slot, pendingMax),
		slotOfMessage: make(map[*nats.Msg]int, pendingMax),
		free:          make(chan int, pendingMax),
		latency:       perf.NewHistogram(),
		done:          make(chan struct{}),
	}
	for i := range p.slots {
		p.slots[i].message.Data = payload
		p.slotOfMessage[&p.slots[i].message] = i
		p.free <- i
	}
	return p
}

// connect opens the publisher's own connection and JetStream context.
func (p *publisher) connect(servers []string, pendingMax int) (*nats.Conn, jetstream.JetStream, error) {
	connection, err := nats.Connect(strings.Join(servers, ","), nats.Name("cairn-bench"))
	if err != nil {
		return nil, nil, fmt.Errorf("natsbench: connecting: %w", err)
	}
	// The client's own bound is the same as ours, so it never stalls;
	// ours is what limits the messages in flight.
	js, err := jetstream.New(connection,
		jetstream.WithPublishAsyncMaxPending(pendingMax),
		jetstream.WithPublishAsyncAckHandler(p.onAck),
		jetstream.WithPublishAsyncErrHandler(p.onError))
	if err != nil {
		connection.Close()
		return nil, nil, err
	}
	return connection, js, nil
}

// unansweredWaitMax bounds the wait for acknowledgments after the last
// publish.
const unansweredWaitMax = time.Minute

// publish sends records messages round robin over subjects until
// runContext ends, then waits for every answer.
func (p *publisher) publish(ctx, runContext context.Context, js jetstream.JetStream, subjects []string, records int64) error {
	var sent int64
publishing:
	for sent < records && p.failure.Load() == nil {
		sentAt := time.Now()
		var i int
		select {
		case i = <-p.free:
		case <-runContext.Done():
			break publishing
		}
		s := &p.slots[i]
		s.sentAt = sentAt
		s.message.Subject = subjects[sent%int64(len(subjects))]
		s.message.Header = nil
		p.published.Add(1)
		if _, err := js.PublishMsgAsync(&s.message); err != nil {
			p.published.Add(-1)
			p.free <- i
			p.failure.CompareAndSwap(nil, &err)
			break
		}
		sent++
	}
	p.finished.Store(true)
	p.maybeDone()
	select {
	case <-p.done:
	case <-time.After(unansweredWaitMax):
		return fmt.Errorf("natsbench: %d of %d messages unanswered %v after the last publish", p.published.Load()-p.answered.Load(), p.published.Load(), unansweredWaitMax)
	case <-ctx.Done():
		return ctx.Err()
	}
	if failure := p.failure.Load(); failure != nil {
		return fmt.Errorf("natsbench: publishing: %w", *failure)
	}
	return nil
}

// Produce creates o.Streams streams and publishes o.Records messages of
// o.RecordBytes bytes round robin over them, each asynchronously, with at
// most o.PendingMax unacknowledged at once on each of o.Connections
// connections (each with its share of the streams and the records). A
// message's latency runs from just before the publisher waits for a free
// slot (the moment it is handed to the client, as in `cairn perf
// produce`) to its acknowledgment.
func Produce(ctx context.Context, o ProduceOptions) (perf.Result, error) {
	if err := o.Validate(); err != nil {
		return perf.Result{}, err
	}
	connections := max(o.Connections, 1)
	payload := make([]byte, o.RecordBytes)
	rand.Read(payload)
	publishers := make([]*publisher, connections)
	contexts := make([]jetstream.JetStream, connections)
	pendingMax := o.PendingMax
	for k := range publishers {
		publishers[k] = newPublisher(pendingMax, payload)
		connection, js, err := publishers[k].connect(o.Servers, pendingMax)
		if err != nil {
			return perf.Result{}, err
		}
		defer connection.Close()
		contexts[k] = js
	}
	if err := createStreams(ctx, contexts[0], o.Streams, o.Replicas); err != nil {
		return perf.Result{}, err
	}

	runContext, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	errs := make([]error, connections)
	start := time.Now()
	var wg sync.WaitGroup
	for k, p := range publishers {
		var subjects []string
		for i := k; i < o.Streams; i += connections {
			subjects = append(subjects, subject(i))
		}
		records := o.Records / int64(connections)
		if int64(k) < o.Records%int64(connections) {
			records++
		}
		wg.Go(func() { errs[k] = p.publish(ctx, runContext, contexts[k], subjects, records) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return perf.Result{}, err
	}
	latency := perf.NewHistogram()
	var records, lastAck int64
	for _, p := range publishers {
		latency.Merge(p.latency)
		records += p.acknowledged.Load()
		lastAck = max(lastAck, p.lastAck.Load())
	}
	result := rates(perf.OperationProduce, records, records*int64(o.RecordBytes), time.Duration(lastAck-start.UnixNano()))
	result.Latency = summarize(latency)
	return result, nil
}

// ConsumeOptions configure reading the streams back.
type ConsumeOptions struct {
	Servers []string
	Streams int
}

// ConsumeBatchMax is how many messages the reader asks for at once.
const ConsumeBatchMax = 10_000

// Consume reads every stream from its first message to its last as of the
// start, one ordered consumer per stream, all at once, and returns the
// rate from the start to the last message read.
func Consume(ctx context.Context, o ConsumeOptions) (perf.Result, error) {
	if len(o.Servers) == 0 || o.Streams <= 0 {
		return perf.Result{}, errors.New("natsbench: servers and a positive stream count are needed")
	}
	connection, err := nats.Connect(strings.Join(o.Servers, ","), nats.Name("cairn-bench-reader"))
	if err != nil {
		return perf.Result{}, fmt.Errorf("natsbench: connecting: %w", err)
	}
	defer connection.Close()
	js, err := jetstream.New(connection)
	if err != nil {
		return perf.Result{}, err
	}
	var records, bytes atomic.Int64
	errs := make([]error, o.Streams)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.Streams {
		wg.Go(func() {
			n, b, err := consumeStream(ctx, js, streamName(i))
			records.Add(n)
			bytes.Add(b)
			errs[i] = err
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return perf.Result{}, err
	}
	return rates(perf.OperationConsume, records.Load(), bytes.Load(), elapsed), nil
}

// consumeStream reads one stream's messages up to its last sequence as of
// the call, returning how many messages and data bytes it read.
func consumeStream(ctx context.Context, js jetstream.JetStream, name string) (int64, int64, error) {
	stream, err := js.Stream(ctx, name)
	if err != nil {
		return 0, 0, fmt.Errorf("natsbench: stream %s: %w", name, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	want := int64(info.State.Msgs)
	if want == 0 {
		return 0, 0, nil
	}
	consumer, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, 0, err
	}
	messages, err := consumer.Messages(jetstream.PullMaxMessages(ConsumeBatchMax))
	if err != nil {
		return 0, 0, err
	}
	defer messages.Stop()
	var records, bytes int64
	for records < want {
		message, err := messages.Next()
		if err != nil {
			return records, bytes, fmt.Errorf("natsbench: reading %s after %d of %d messages: %w", name, records, want, err)
		}
		records++
		bytes += int64(len(message.Data()))
	}
	return records, bytes, nil
}

// rates fills in a perf.Result's rates as `cairn perf` does (MB/s in 10^6
// bytes per second).
func rates(operation perf.Operation, records, bytes int64, elapsed time.Duration) perf.Result {
	result := perf.Result{Operation: operation, Records: records, Bytes: bytes, Elapsed: elapsed}
	if seconds := elapsed.Seconds(); seconds > 0 {
		result.RecordsPerSecond = float64(records) / seconds
		result.MegabytesPerSecond = float64(bytes) / 1e6 / seconds
	}
	return result
}

// summarize returns the latency summary of a histogram of nanoseconds.
func summarize(h *perf.Histogram) *perf.LatencySummary {
	return &perf.LatencySummary{
		Count: h.Count(),
		Mean:  time.Duration(h.Mean()),
		P50:   time.Duration(h.ValueAtQuantile(0.50)),
		P95:   time.Duration(h.ValueAtQuantile(0.95)),
		P99:   time.Duration(h.ValueAtQuantile(0.99)),
		P999:  time.Duration(h.ValueAtQuantile(0.999)),
		Max:   time.Duration(h.Max()),
	}
}

// ServerVersion is the version of the embedded nats-server.
const ServerVersion = server.VERSION
