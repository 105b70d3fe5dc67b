package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// idleTimeoutDefault is ConsumeOptions.IdleTimeout when it is 0.
const idleTimeoutDefault = 10 * time.Second

// Consume reads opts.Topic from the start of every partition, without a
// consumer group, until opts.Records records were read or, with Records 0,
// until every partition's high watermark as of the start. It returns the
// throughput; the clock runs from the first fetch to the last record read.
func Consume(ctx context.Context, opts ConsumeOptions) (Result, error) {
	if err := opts.Validate(); err != nil {
		return Result{}, err
	}
	idleTimeout := opts.IdleTimeout
	if idleTimeout == 0 {
		idleTimeout = idleTimeoutDefault
	}
	clientOptions := []kgo.Opt{
		kgo.SeedBrokers(opts.Brokers...),
		kgo.ClientID(clientID),
	}
	if opts.FetchBytesMax > 0 {
		clientOptions = append(clientOptions, kgo.FetchMaxBytes(opts.FetchBytesMax))
	}
	if opts.FetchPartitionBytesMax > 0 {
		clientOptions = append(clientOptions, kgo.FetchMaxPartitionBytes(opts.FetchPartitionBytesMax))
	}
	if opts.FetchWaitMax > 0 {
		clientOptions = append(clientOptions, kgo.FetchMaxWait(opts.FetchWaitMax))
	}
	client, err := kgo.NewClient(clientOptions...)
	if err != nil {
		return Result{}, fmt.Errorf("starting the client: %w", err)
	}
	defer client.Close()

	partitions, err := topicPartitions(ctx, client, opts.Topic, false)
	if err != nil {
		return Result{}, err
	}
	ranges, err := partitionOffsets(ctx, client, opts.Topic, partitions)
	if err != nil {
		return Result{}, err
	}
	// Reading to the end, a partition is finished once a record at its end
	// offset minus one arrives; unfinished counts the others.
	var available int64
	starts := make(map[int32]kgo.Offset, len(ranges))
	unfinished := 0
	for partition, r := range ranges {
		starts[partition] = kgo.NewOffset().At(r.start)
		available += r.end - r.start
		if r.end > r.start {
			unfinished++
		}
	}
	wanted := opts.Records
	if wanted == 0 && unfinished == 0 {
		return newResult(OperationConsume, 0, 0, 0), nil
	}

	var records, bytes atomic.Int64
	start := time.Now()
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		reportConsumeProgress(opts.Progress, start, &records, &bytes, wanted, available, stopProgress)
	}()
	defer func() {
		close(stopProgress)
		<-progressDone
	}()

	client.AddConsumePartitions(map[string]map[int32]kgo.Offset{opts.Topic: starts})
	lastRecordAt := start
	var readRecords, readBytes int64
	done := false
	for !done {
		pollContext, cancelPoll := context.WithTimeout(ctx, idleTimeout)
		fetches := client.PollFetches(pollContext)
		pollErr := pollContext.Err()
		cancelPoll()
		if err := ctx.Err(); err != nil {
			return newResult(OperationConsume, readRecords, readBytes, lastRecordAt.Sub(start)), err
		}
		var fetchErr error
		fetches.EachError(func(topic string, partition int32, err error) {
			if fetchErr == nil && !errors.Is(err, context.DeadlineExceeded) {
				fetchErr = fmt.Errorf("fetching %s partition %d: %w", topic, partition, err)
			}
		})
		if fetchErr != nil {
			return newResult(OperationConsume, readRecords, readBytes, lastRecordAt.Sub(start)), fetchErr
		}
		before := readRecords
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if done {
				return
			}
			r := ranges[p.Partition]
			for _, record := range p.Records {
				if wanted == 0 && record.Offset >= r.end {
					break
				}
				readRecords++
				readBytes += int64(len(record.Key) + len(record.Value))
				if wanted > 0 && readRecords >= wanted {
					done = true
					break
				}
			}
			if wanted == 0 && len(p.Records) > 0 {
				last := p.Records[len(p.Records)-1].Offset
				if last+1 >= r.end && r.start < r.end {
					r.start = r.end // mark the partition finished
					ranges[p.Partition] = r
					unfinished--
					if unfinished == 0 {
						done = true
					}
				}
			}
		})
		if readRecords > before {
			lastRecordAt = time.Now()
			records.Store(readRecords)
			bytes.Store(readBytes)
		} else if pollErr != nil {
			return newResult(OperationConsume, readRecords, readBytes, lastRecordAt.Sub(start)),
				fmt.Errorf("no record for %v after reading %d (expected %s)", idleTimeout, readRecords, expectation(wanted, available))
		}
	}
	return newResult(OperationConsume, readRecords, readBytes, lastRecordAt.Sub(start)), nil
}

func expectation(wanted, available int64) string {
	if wanted > 0 {
		return fmt.Sprintf("%d", wanted)
	}
	return fmt.Sprintf("%d, the records below the high watermarks", available)
}

// reportConsumeProgress writes one line per second until stop is closed.
func reportConsumeProgress(progress io.Writer, start time.Time, records, bytes *atomic.Int64, wanted, available int64, stop <-chan struct{}) {
	if progress == nil {
		return
	}
	total := wanted
	if total == 0 {
		total = available
	}
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	windowStart := start
	var lastRecords, lastBytes int64
	for {
		select {
		case <-stop:
			return
		case now := <-ticker.C:
			currentRecords, currentBytes := records.Load(), bytes.Load()
			seconds := now.Sub(windowStart).Seconds()
			windowStart = now
			fmt.Fprintf(progress, "%d records read, %.1f records/s (%.2f MB/s); %d of %d in total\n",
				currentRecords-lastRecords, float64(currentRecords-lastRecords)/seconds,
				float64(currentBytes-lastBytes)/bytesPerMegabyte/seconds, currentRecords, total)
			lastRecords, lastBytes = currentRecords, currentBytes
		}
	}
}
