package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"cairn/perf"
)

const produceUsage = `usage: cairn produce TOPIC [flags]

Sends one record per line of standard input (the newline is not part of the
record) and reports how many were acknowledged. By default the value is the
whole line, with no key. A keyed record's partition is chosen by hashing
its key (Kafka's murmur2, as the Java client does); unkeyed records are
sticky, as the Java client's are since Kafka 3.3 (KIP-794): they go to one
partition until about 64 KiB have gone to it, then to another, so a few
lines all land in one partition. --partitioner round-robin sends each
record to the next partition instead, keys or not.

--timeout bounds both the connection and each record's delivery: a broker
that cannot be reached, or does not answer, fails the records after it
rather than leaving produce waiting.

Line format, when the separators are given:

  [HEADERS<header-delimiter>][KEY<key-delimiter>]VALUE

where HEADERS is k=v pairs separated by commas. --header adds a header to
every record.

examples:
  echo hello | cairn produce demo
  printf 'user-1:signed up\nuser-2:paid\n' | cairn produce demo --key-delimiter :
  printf 'trace=abc,source=web|user-1:clicked\n' | cairn produce demo --header-delimiter '|' --key-delimiter :
  seq 1 1000 | cairn produce demo --partition 2 --acks 1 --header origin=seq
  seq 1 6 | cairn produce demo --partitioner round-robin
`

// produceLineBytesMax is the longest line produce accepts: Kafka's default
// max.message.bytes is a little over 1 MB.
const produceLineBytesMax = 1 << 20

func runProduce(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	return produce(ctx, args, standardStreams())
}

func produce(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("produce", produceUsage, std)
	cf := addClientFlags(fs)
	keyDelimiter := fs.String("key-delimiter", "", "split each line at the first of these into key and value; empty: no key")
	headerDelimiter := fs.String("header-delimiter", "", "split each line at the first of these into headers (k=v,k=v) and the rest; empty: no headers in lines")
	var headers stringList
	fs.Var(&headers, "header", "k=v header added to every record; repeat for more")
	partition := fs.Int("partition", -1, "send every record to this partition; -1 chooses by key")
	acks := fs.String("acks", "all", "acknowledgment: all (-1), 1 (leader) or 0 (none)")
	compression := fs.String("compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	partitioner := fs.String("partitioner", "sticky", "how records without --partition are spread: sticky (keyed records by key hash, unkeyed ones about 64 KiB per partition in turn) or round-robin (each record to the next partition)")
	positional, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return errors.New("give exactly one topic: cairn produce TOPIC < lines")
	}
	topic := positional[0]
	staticHeaders, err := parseHeaders("--header", headers)
	if err != nil {
		return err
	}
	acksValue, err := parseAcks(*acks)
	if err != nil {
		return err
	}
	// Like kcat, ask the broker to create a missing topic (it does if its
	// auto-create-topics setting allows).
	options := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(requiredAcks(acksValue)), kgo.AllowAutoTopicCreation(),
		kgo.RecordDeliveryTimeout(*cf.timeout)}
	if acksValue != -1 {
		options = append(options, kgo.DisableIdempotentWrite())
	}
	codec, err := perf.CompressionCodec(*compression)
	if err != nil {
		return fmt.Errorf("--%w", err)
	}
	options = append(options, kgo.ProducerBatchCompression(codec))
	switch {
	case *partition > 1<<31-1:
		return fmt.Errorf("--partition %d: too large", *partition)
	case *partition >= 0:
		options = append(options, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	case *partitioner == "round-robin":
		options = append(options, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	case *partitioner != "sticky":
		return fmt.Errorf("--partitioner %q: want sticky or round-robin", *partitioner)
	}
	client, _, err := cf.connect(ctx, options...)
	if err != nil {
		return err
	}
	defer client.Close()

	var (
		mu       sync.Mutex
		acked    int64
		firstErr error
		failed   int64
	)
	done := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		acked++
	}
	scanner := bufio.NewScanner(std.in)
	scanner.Buffer(make([]byte, 64<<10), produceLineBytesMax)
	line := 0
	for scanner.Scan() {
		line++
		record, err := parseLine(scanner.Text(), *keyDelimiter, *headerDelimiter)
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		record.Headers = append(record.Headers, staticHeaders...)
		if *partition >= 0 {
			record.Partition = int32(*partition)
		}
		client.Produce(ctx, record, done)
	}
	scanErr := scanner.Err()
	if err := client.Flush(ctx); err != nil && scanErr == nil {
		scanErr = err
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(std.err, "%s produced to %s", plural(acked, "record"), topic)
	if failed > 0 {
		fmt.Fprintf(std.err, ", %d failed", failed)
	}
	fmt.Fprintln(std.err)
	switch {
	case errors.Is(scanErr, bufio.ErrTooLong):
		return fmt.Errorf("line %d is longer than %d bytes", line+1, produceLineBytesMax)
	case scanErr != nil:
		return scanErr
	case errors.Is(firstErr, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("topic %s does not exist and the broker did not create it: create it with cairn topic create %s (or check --partition)", topic, topic)
	case acked == 0 && noBrokerAnswered(firstErr):
		return fmt.Errorf("no broker of %s answered within --timeout %v, so no record was delivered: is the broker up, and is the address it advertises reachable from here? (%w)", *cf.brokers, *cf.timeout, firstErr)
	case firstErr != nil:
		return fmt.Errorf("%d of %d records failed, the first with: %w", failed, line, firstErr)
	}
	return nil
}

// noBrokerAnswered reports whether a record failed for want of a broker
// (its delivery timed out, or every connection failed) rather than because
// a broker refused it.
func noBrokerAnswered(err error) bool {
	var netErr net.Error
	return errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr)
}

// parseLine splits one input line into a record.
func parseLine(line, keyDelimiter, headerDelimiter string) (*kgo.Record, error) {
	record := &kgo.Record{}
	if headerDelimiter != "" {
		headerText, rest, ok := strings.Cut(line, headerDelimiter)
		if !ok {
			return nil, fmt.Errorf("no header delimiter %q (a line without headers starts with the delimiter)", headerDelimiter)
		}
		if headerText != "" {
			headers, err := parseHeaders("headers", strings.Split(headerText, ","))
			if err != nil {
				return nil, err
			}
			record.Headers = headers
		}
		line = rest
	}
	if keyDelimiter != "" {
		key, value, ok := strings.Cut(line, keyDelimiter)
		if !ok {
			return nil, fmt.Errorf("no key delimiter %q", keyDelimiter)
		}
		record.Key = []byte(key)
		line = value
	}
	record.Value = []byte(line)
	return record, nil
}

func parseHeaders(what string, pairs []string) ([]kgo.RecordHeader, error) {
	var headers []kgo.RecordHeader
	for _, pair := range pairs {
		key, value, ok := strings.Cut(pair, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("%s: %q is not k=v", what, pair)
		}
		headers = append(headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
	}
	return headers, nil
}

func requiredAcks(acks int) kgo.Acks {
	switch acks {
	case 0:
		return kgo.NoAck()
	case 1:
		return kgo.LeaderAck()
	}
	return kgo.AllISRAcks()
}
