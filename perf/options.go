package perf

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProduceOptions configure a produce load test.
type ProduceOptions struct {
	// Brokers are the seed brokers, host:port each.
	Brokers []string
	// Topic receives the records.
	Topic string
	// Records is how many records to send (> 0).
	Records int64
	// RecordBytes is the size of each record's value; records have no key.
	RecordBytes int
	// RatePerSecond caps the send rate in records per second; 0 sends as
	// fast as the client and broker allow.
	RatePerSecond float64
	// Acks is the acknowledgment level: -1 (all in-sync replicas), 1
	// (leader only) or 0 (none). With -1 the client is idempotent when the
	// broker supports it.
	Acks int
	// Compression is the batch codec: none, gzip, snappy, lz4 or zstd
	// (empty means none).
	Compression string
	// Partitions, when > 0, creates the topic with this many partitions if
	// it does not exist. With 0 the topic must exist or be auto-created by
	// the broker.
	Partitions int32
	// ReplicationFactor of a topic created because of Partitions; 0 leaves
	// it to the broker's default.
	ReplicationFactor int16
	// Linger is how long a partition's batch may wait for more records
	// before it is sent; 0 sends as soon as possible.
	Linger time.Duration
	// BatchBytesMax caps one record batch's size; 0 keeps the client's
	// default (1,000,012 bytes, Kafka's max.message.bytes).
	BatchBytesMax int32
	// DurationMax, when > 0, stops sending after this long even if fewer
	// than Records were sent; the result covers what was acknowledged.
	DurationMax time.Duration
	// Progress, when not nil, receives one line per second with the last
	// second's throughput and latency.
	Progress io.Writer
}

// ConsumeOptions configure a consume load test. It reads the topic's
// partitions directly from their earliest offsets, without a consumer group.
type ConsumeOptions struct {
	// Brokers are the seed brokers, host:port each.
	Brokers []string
	// Topic is read from every partition's start.
	Topic string
	// Records, when > 0, stops after this many records; 0 reads until every
	// partition's high watermark as it was when the test started.
	Records int64
	// FetchBytesMax caps one fetch response's size; 0 keeps the client's
	// default (50 MiB).
	FetchBytesMax int32
	// FetchPartitionBytesMax caps the bytes of one partition in a fetch
	// response; 0 keeps the client's default (1 MiB).
	FetchPartitionBytesMax int32
	// FetchWaitMax is how long the broker may hold a fetch waiting for
	// data; 0 keeps the client's default (5 s).
	FetchWaitMax time.Duration
	// IdleTimeout fails the test when no record arrives for this long
	// while records are still expected; 0 means 10 s.
	IdleTimeout time.Duration
	// Progress, when not nil, receives one line per second with the last
	// second's throughput.
	Progress io.Writer
}

// LingerDefault is the linger the command line uses unless told otherwise:
// the client library's own default.
const LingerDefault = 10 * time.Millisecond

// Compressions lists the accepted values of ProduceOptions.Compression.
var Compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// CompressionCodec returns the codec one of Compressions names.
func CompressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want one of %s", name, strings.Join(Compressions, ", "))
}

func validateBrokersAndTopic(brokers []string, topic string) error {
	if len(brokers) == 0 {
		return errors.New("no brokers: give at least one host:port")
	}
	for _, broker := range brokers {
		if strings.TrimSpace(broker) == "" {
			return errors.New("empty broker address")
		}
	}
	if topic == "" {
		return errors.New("no topic")
	}
	return nil
}

// Validate reports the first problem with the options, or nil.
func (o *ProduceOptions) Validate() error {
	if err := validateBrokersAndTopic(o.Brokers, o.Topic); err != nil {
		return err
	}
	if o.Records <= 0 {
		return fmt.Errorf("records %d: want at least 1", o.Records)
	}
	if o.RecordBytes < 0 {
		return fmt.Errorf("record size %d: want 0 or more bytes", o.RecordBytes)
	}
	if o.RatePerSecond < 0 || o.RatePerSecond != o.RatePerSecond {
		return fmt.Errorf("rate %v: want 0 (unlimited) or more records per second", o.RatePerSecond)
	}
	if o.Acks != -1 && o.Acks != 0 && o.Acks != 1 {
		return fmt.Errorf("acks %d: want -1 (all), 0 or 1", o.Acks)
	}
	if _, err := CompressionCodec(o.Compression); err != nil {
		return err
	}
	if o.Partitions < 0 {
		return fmt.Errorf("partitions %d: want 0 (use the existing topic) or more", o.Partitions)
	}
	if o.ReplicationFactor < 0 {
		return fmt.Errorf("replication factor %d: want 0 (broker default) or more", o.ReplicationFactor)
	}
	if o.Linger < 0 || o.Linger > time.Minute {
		return fmt.Errorf("linger %v: want 0 to 1m", o.Linger)
	}
	if o.BatchBytesMax < 0 {
		return fmt.Errorf("batch bytes %d: want 0 (client default) or more", o.BatchBytesMax)
	}
	if o.BatchBytesMax > 0 && int64(o.BatchBytesMax) < int64(o.RecordBytes)+64 {
		return fmt.Errorf("batch bytes %d cannot hold one %d-byte record", o.BatchBytesMax, o.RecordBytes)
	}
	if o.DurationMax < 0 {
		return fmt.Errorf("duration %v: want 0 (no limit) or more", o.DurationMax)
	}
	return nil
}

// Validate reports the first problem with the options, or nil.
func (o *ConsumeOptions) Validate() error {
	if err := validateBrokersAndTopic(o.Brokers, o.Topic); err != nil {
		return err
	}
	if o.Records < 0 {
		return fmt.Errorf("records %d: want 0 (until the end) or more", o.Records)
	}
	if o.FetchBytesMax < 0 {
		return fmt.Errorf("fetch bytes %d: want 0 (client default) or more", o.FetchBytesMax)
	}
	if o.FetchPartitionBytesMax < 0 {
		return fmt.Errorf("fetch partition bytes %d: want 0 (client default) or more", o.FetchPartitionBytesMax)
	}
	if o.FetchWaitMax < 0 {
		return fmt.Errorf("fetch wait %v: want 0 (client default) or more", o.FetchWaitMax)
	}
	if o.IdleTimeout < 0 {
		return fmt.Errorf("idle timeout %v: want 0 (10s) or more", o.IdleTimeout)
	}
	return nil
}
