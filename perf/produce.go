package perf

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// clientID names the load generator to brokers.
const clientID = "cairn-perf"

// failureFlushTimeout bounds the wait for outstanding records after one
// failed.
const failureFlushTimeout = 10 * time.Second

// sendContext travels with one record through the client: it carries the
// moment the record was handed over, and points back at the pooled entry so
// the acknowledgment can return it to the pool. It embeds the run's context,
// which the client consults for cancellation.
type sendContext struct {
	context.Context
	sentAt time.Time
	entry  *pendingRecord
}

// pendingRecord is one pooled record and its context, reused once the
// client acknowledges it, so the send loop does not allocate.
type pendingRecord struct {
	record  kgo.Record
	context sendContext
}

// producer is the shared state of one Produce run.
type producer struct {
	options ProduceOptions
	pool    sync.Pool

	mu                 sync.Mutex
	latency            *Histogram // every acknowledgment, nanoseconds
	window             *Histogram // acknowledgments since the last progress line
	acknowledged       int64
	acknowledgedBytes  int64
	windowRecords      int64
	windowBytes        int64
	lastAcknowledgedAt time.Time
	failures           int64
	firstFailure       error
	failed             chan struct{} // closed on the first failure
}

// Produce sends opts.Records records of opts.RecordBytes bytes to opts.Topic
// and waits for every acknowledgment, then returns the throughput and the
// per-record acknowledgment latency. It stops early, returning what was
// acknowledged so far together with an error, when a record fails, when
// ctx is done, or (without error) when opts.DurationMax has passed.
func Produce(ctx context.Context, opts ProduceOptions) (Result, error) {
	if err := opts.Validate(); err != nil {
		return Result{}, err
	}
	codec, _ := CompressionCodec(opts.Compression)
	clientOptions := []kgo.Opt{
		kgo.SeedBrokers(opts.Brokers...),
		kgo.ClientID(clientID),
		kgo.DefaultProduceTopic(opts.Topic),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(opts.Linger),
	}
	switch opts.Acks {
	case -1:
		clientOptions = append(clientOptions, kgo.RequiredAcks(kgo.AllISRAcks()))
	case 1:
		clientOptions = append(clientOptions, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case 0:
		clientOptions = append(clientOptions, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	}
	if opts.BatchBytesMax > 0 {
		clientOptions = append(clientOptions, kgo.ProducerBatchMaxBytes(opts.BatchBytesMax))
	}
	client, err := kgo.NewClient(clientOptions...)
	if err != nil {
		return Result{}, fmt.Errorf("starting the client: %w", err)
	}
	defer client.Close()

	if opts.Partitions > 0 {
		if err := createTopic(ctx, client, opts.Topic, opts.Partitions, opts.ReplicationFactor); err != nil {
			return Result{}, err
		}
	}
	if _, err := topicPartitions(ctx, client, opts.Topic, true); err != nil {
		return Result{}, err
	}

	p := &producer{
		options: opts,
		latency: NewHistogram(),
		window:  NewHistogram(),
		failed:  make(chan struct{}),
	}
	return p.run(ctx, client)
}

// payload returns one value for every record: printable pseudo-random
// bytes, so compression has something to do without the test paying to
// generate data per record.
func payload(size int) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	random := rand.New(rand.NewPCG(uint64(size), 0x63616972))
	value := make([]byte, size)
	for i := range value {
		value[i] = alphabet[random.IntN(len(alphabet))]
	}
	return value
}

func (p *producer) run(ctx context.Context, client *kgo.Client) (Result, error) {
	runContext, cancel := context.WithCancel(ctx)
	defer cancel()
	value := payload(p.options.RecordBytes)
	p.pool.New = func() any {
		entry := &pendingRecord{}
		// Set once and never changed: the client may consult a
		// record's context from its own goroutines.
		entry.context.Context = runContext
		entry.context.entry = entry
		return entry
	}
	promise := p.acknowledge

	start := time.Now()
	p.lastAcknowledgedAt = start
	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go func() {
		defer close(progressDone)
		p.reportProgress(start, stopProgress)
	}()

	var deadline <-chan time.Time
	if p.options.DurationMax > 0 {
		timer := time.NewTimer(p.options.DurationMax)
		defer timer.Stop()
		deadline = timer.C
	}
	var nanosecondsPerRecord float64
	if p.options.RatePerSecond > 0 {
		nanosecondsPerRecord = float64(time.Second) / p.options.RatePerSecond
	}

	var stopErr error
send:
	for sent := int64(0); sent < p.options.Records; sent++ {
		select {
		case <-runContext.Done():
			stopErr = ctx.Err()
			break send
		case <-p.failed:
			break send
		case <-deadline:
			break send
		default:
		}
		if nanosecondsPerRecord > 0 {
			due := start.Add(time.Duration(float64(sent) * nanosecondsPerRecord))
			if wait := time.Until(due); wait > time.Millisecond {
				select {
				case <-time.After(wait):
				case <-runContext.Done():
				}
			}
		}
		entry := p.pool.Get().(*pendingRecord)
		entry.record = kgo.Record{Value: value, Context: &entry.context}
		entry.context.sentAt = time.Now()
		client.Produce(runContext, &entry.record, promise)
	}
	// Wait for every record handed over. After a failure, cancelling
	// runContext fails the records not yet sent, and the wait is bounded:
	// a broker that stopped answering must not hang the report.
	flushContext := ctx
	select {
	case <-p.failed:
		cancel()
		var cancelFlush context.CancelFunc
		flushContext, cancelFlush = context.WithTimeout(ctx, failureFlushTimeout)
		defer cancelFlush()
	default:
	}
	flushErr := client.Flush(flushContext)
	close(stopProgress)
	<-progressDone

	idempotent := false
	if p.options.Acks == -1 && flushErr == nil {
		idContext, cancelID := context.WithTimeout(ctx, 5*time.Second)
		id, _, err := client.ProducerID(idContext)
		cancelID()
		idempotent = err == nil && id >= 0
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	result := newResult(OperationProduce, p.acknowledged, p.acknowledgedBytes, p.lastAcknowledgedAt.Sub(start))
	result.Latency = summarize(p.latency)
	result.Idempotent = idempotent
	switch {
	case p.firstFailure != nil:
		return result, fmt.Errorf("%d records failed; the first: %w", p.failures, p.firstFailure)
	case stopErr != nil:
		return result, stopErr
	case flushErr != nil:
		return result, fmt.Errorf("waiting for acknowledgments: %w", flushErr)
	}
	return result, nil
}

// acknowledge is the client's callback for every record.
func (p *producer) acknowledge(record *kgo.Record, err error) {
	sendContext := record.Context.(*sendContext)
	now := time.Now()
	latency := int64(now.Sub(sendContext.sentAt))
	bytes := int64(len(record.Key) + len(record.Value))
	p.mu.Lock()
	if err != nil {
		p.failures++
		if p.firstFailure == nil && !errors.Is(err, context.Canceled) {
			p.firstFailure = err
			close(p.failed)
		}
	} else {
		p.latency.Record(latency)
		p.window.Record(latency)
		p.acknowledged++
		p.acknowledgedBytes += bytes
		p.windowRecords++
		p.windowBytes += bytes
		p.lastAcknowledgedAt = now
	}
	p.mu.Unlock()
	p.pool.Put(sendContext.entry)
}

// reportProgress writes one line per second until stop is closed.
func (p *producer) reportProgress(start time.Time, stop <-chan struct{}) {
	if p.options.Progress == nil {
		return
	}
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	windowStart := start
	for {
		select {
		case <-stop:
			return
		case now := <-ticker.C:
			p.mu.Lock()
			records, bytes := p.windowRecords, p.windowBytes
			p50, p99, maximum := p.window.ValueAtQuantile(0.5), p.window.ValueAtQuantile(0.99), p.window.Max()
			total := p.acknowledged
			p.windowRecords, p.windowBytes = 0, 0
			p.window.Reset()
			p.mu.Unlock()
			seconds := now.Sub(windowStart).Seconds()
			windowStart = now
			fmt.Fprintf(p.options.Progress, "%d records acknowledged, %.1f records/s (%.2f MB/s), latency ms: p50 %s, p99 %s, max %s; %d of %d in total\n",
				records, float64(records)/seconds, float64(bytes)/bytesPerMegabyte/seconds,
				milliseconds(time.Duration(p50)), milliseconds(time.Duration(p99)), milliseconds(time.Duration(maximum)),
				total, p.options.Records)
		}
	}
}
