package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const consumeUsage = `usage: cairn consume TOPIC... [flags]

Prints records as they arrive, one per --format, until interrupted, until
--count records, or (with --exit-at-end) once it has read up to where each
partition ended when it started.

--offset picks where to start: start (the default), end (only records
produced from now on), an offset (42), the last N
records of each partition (-10), or the first record at or after a time
(@2026-01-02T15:04:05Z, @1767366245000 in Unix milliseconds, or @-1h for an
hour ago). With --group, the group's committed offsets win and --offset
applies only to partitions without one; read records are committed.

--format is a template: %t topic, %p partition, %o offset, %k key, %v value,
%h headers (k=v,k=v), %T timestamp (Unix ms), %d timestamp (RFC 3339),
%K key length, %S value length, %% a percent sign, \n newline, \t tab.
--format json prints each record as one JSON object (topic, partition,
offset, timestamp_ms, key, value, headers); a key, value or header value
that is not valid UTF-8 is printed in base64, with key_encoding,
value_encoding or the header's encoding "base64" (otherwise "utf8").

Groups: --group joins a consumer group (Cairn and any Kafka cluster serve
them); a broker without groups is named as such.

examples:
  cairn consume demo --offset start --exit-at-end
  cairn consume demo --offset -5 --format '%p/%o %k=%v\n'
  cairn consume demo --offset @-10m --format json
  cairn consume demo --group billing --count 100
`

func runConsume(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	return consume(ctx, args, standardStreams())
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func consume(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("consume", consumeUsage, std)
	cf := addClientFlags(fs)
	offsetText := fs.String("offset", "start", "where to start: start, end, N, -N or @time (see above)")
	fs.StringVar(offsetText, "o", "start", "short for --offset")
	group := fs.String("group", "", "consume as this consumer group, committing what was printed")
	fs.StringVar(group, "g", "", "short for --group")
	count := fs.Int64("count", 0, "stop after this many records; 0 is no limit")
	fs.Int64Var(count, "n", 0, "short for --count")
	exitAtEnd := fs.Bool("exit-at-end", false, "stop once every partition is read up to its end as of the start")
	fs.BoolVar(exitAtEnd, "e", false, "short for --exit-at-end")
	format := fs.String("format", `%v\n`, "output template (see above), or json")
	fs.StringVar(format, "f", `%v\n`, "short for --format")
	var partitionList stringList
	fs.Var(&partitionList, "partition", "read only this partition (repeat or comma-separate); not with --group")
	topics, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return errors.New("give at least one topic: cairn consume TOPIC")
	}
	start, err := parseStartOffset(*offsetText, time.Now())
	if err != nil {
		return err
	}
	printer, err := compileFormat(*format)
	if err != nil {
		return err
	}
	partitions, err := parsePartitionList(partitionList)
	if err != nil {
		return err
	}
	if *group != "" && len(partitions) > 0 {
		return errors.New("--partition and --group do not go together: a group assigns partitions to its members")
	}
	if *count < 0 {
		return fmt.Errorf("--count %d: want 0 (no limit) or more", *count)
	}

	options := []kgo.Opt{kgo.ConsumeResetOffset(start.offset), kgo.FetchMaxWait(time.Second)}
	if *group != "" {
		options = append(options, kgo.ConsumerGroup(*group), kgo.ConsumeTopics(topics...), kgo.AutoCommitMarks())
	} else if len(partitions) > 0 {
		assigned := map[string]map[int32]kgo.Offset{}
		for _, topic := range topics {
			assigned[topic] = map[int32]kgo.Offset{}
			for _, p := range partitions {
				assigned[topic][p] = start.offset
			}
		}
		options = append(options, kgo.ConsumePartitions(assigned))
	} else {
		options = append(options, kgo.ConsumeTopics(topics...))
	}
	// The admin client is a separate client: the consuming one joins the
	// group as soon as it is created, before the checks below.
	adminClient, admin, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer adminClient.Close()
	if err := topicsExist(ctx, admin, topics); err != nil {
		return err
	}
	if *group != "" {
		coordinators := admin.FindGroupCoordinators(ctx, *group)
		if err := coordinators.Error(); err != nil {
			return explainGroups(fmt.Errorf("find the coordinator of group %s: %w", *group, err))
		}
	}
	if start.kind == "exact" {
		if err := warnOutOfRange(ctx, admin, topics, partitions, *group, start.value, std); err != nil {
			return err
		}
	}
	var remaining map[string]map[int32]int64
	if *exitAtEnd {
		remaining, err = offsetsToReach(ctx, admin, topics, partitions, *group, start)
		if err != nil {
			return err
		}
		if len(remaining) == 0 {
			return nil
		}
	}
	client, _, err := cf.connect(ctx, options...)
	if err != nil {
		return err
	}
	defer client.Close()
	if *group != "" {
		defer func() {
			commitCtx, cancel := context.WithTimeout(context.Background(), *cf.timeout)
			defer cancel()
			if err := client.CommitMarkedOffsets(commitCtx); err != nil {
				fmt.Fprintf(std.err, "committing the group's offsets: %v\n", err)
			}
		}()
	}

	var printed int64
	buffer := make([]byte, 0, 4096)
	for {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil // interrupted: a normal way to stop
		}
		var fetchErr error
		fetches.EachError(func(topic string, partition int32, err error) {
			if fetchErr == nil {
				fetchErr = fmt.Errorf("%s/%d: %w", topic, partition, err)
			}
		})
		if fetchErr != nil {
			if *group != "" {
				fetchErr = explainGroups(fetchErr)
			}
			return fetchErr
		}
		for iter := fetches.RecordIter(); !iter.Done(); {
			record := iter.Next()
			buffer = printer(buffer[:0], record)
			if _, err := std.out.Write(buffer); err != nil {
				return err
			}
			if *group != "" {
				client.MarkCommitRecords(record)
			}
			printed++
			if remaining != nil {
				if ends, ok := remaining[record.Topic]; ok {
					if end, ok := ends[record.Partition]; ok && record.Offset+1 >= end {
						delete(ends, record.Partition)
						if len(ends) == 0 {
							delete(remaining, record.Topic)
						}
					}
				}
			}
			if (*count > 0 && printed >= *count) || (remaining != nil && len(remaining) == 0) {
				return nil
			}
		}
	}
}

// topicsExist fails naming the topics the cluster does not have: consuming
// one would otherwise wait, silently, for it to appear.
func topicsExist(ctx context.Context, admin *kadm.Client, topics []string) error {
	details, err := admin.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("read the topics' metadata: %w", err)
	}
	var missing []string
	for _, topic := range topics {
		if t, ok := details[topic]; !ok || t.Err != nil {
			missing = append(missing, topic)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no topic %s in the cluster: cairn topic list shows what exists, cairn topic create %s makes it", strings.Join(missing, ", "), missing[0])
	}
	return nil
}

// warnOutOfRange says on stderr, as kcat does, which partitions an exact
// --offset is outside of, and where consume starts instead: the client
// bounds the offset within the log, so past the end it waits at the end
// for new records, and below the log start it starts at the log start.
// Partitions whose group commit wins over --offset are not warned about.
func warnOutOfRange(ctx context.Context, admin *kadm.Client, topics []string, partitions []int32, group string, offset int64, std streams) error {
	starts, err := admin.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list log start offsets: %w", err)
	}
	ends, err := admin.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	var committed kadm.OffsetResponses
	if group != "" {
		if committed, err = admin.FetchOffsets(ctx, group); err != nil {
			return explainGroups(fmt.Errorf("fetch the offsets of group %s: %w", group, err))
		}
	}
	wanted := map[int32]bool{}
	for _, p := range partitions {
		wanted[p] = true
	}
	for _, end := range sortedListedOffsets(ends) {
		if end.Err != nil || (len(wanted) > 0 && !wanted[end.Partition]) {
			continue
		}
		if c, ok := committed.Lookup(end.Topic, end.Partition); ok && c.Err == nil && c.At >= 0 {
			continue
		}
		first, ok := starts.Lookup(end.Topic, end.Partition)
		switch {
		case offset > end.Offset:
			fmt.Fprintf(std.err, "cairn consume: --offset %d is past the end of %s/%d (offset %d): starting at the end, %d, and waiting for new records\n",
				offset, end.Topic, end.Partition, end.Offset, end.Offset)
		case ok && first.Err == nil && offset < first.Offset:
			fmt.Fprintf(std.err, "cairn consume: --offset %d is below the log start of %s/%d (offset %d): starting at the log start\n",
				offset, end.Topic, end.Partition, first.Offset)
		}
	}
	return nil
}

// sortedListedOffsets orders listed offsets by topic and partition, so
// that warnings come in a stable order.
func sortedListedOffsets(listed kadm.ListedOffsets) []kadm.ListedOffset {
	var all []kadm.ListedOffset
	listed.Each(func(o kadm.ListedOffset) { all = append(all, o) })
	sort.Slice(all, func(i, j int) bool {
		if all[i].Topic != all[j].Topic {
			return all[i].Topic < all[j].Topic
		}
		return all[i].Partition < all[j].Partition
	})
	return all
}

// startOffset is where consume starts, as franz-go's Offset and as what
// offsetsToReach needs to know.
type startOffset struct {
	offset kgo.Offset
	kind   string // start, end, exact, relative, time
	value  int64  // the exact offset, the relative count, or Unix ms
}

func parseStartOffset(text string, now time.Time) (startOffset, error) {
	switch {
	case text == "start" || text == "beginning" || text == "oldest":
		return startOffset{kgo.NewOffset().AtStart(), "start", 0}, nil
	case text == "end" || text == "newest":
		return startOffset{kgo.NewOffset().AtEnd(), "end", 0}, nil
	case strings.HasPrefix(text, "@"):
		at := text[1:]
		if ago, err := time.ParseDuration(strings.TrimPrefix(at, "-")); err == nil && strings.HasPrefix(at, "-") {
			ms := now.Add(-ago).UnixMilli()
			return startOffset{kgo.NewOffset().AfterMilli(ms), "time", ms}, nil
		}
		if ms, err := strconv.ParseInt(at, 10, 64); err == nil && ms >= 0 {
			return startOffset{kgo.NewOffset().AfterMilli(ms), "time", ms}, nil
		}
		if t, err := time.Parse(time.RFC3339, at); err == nil {
			return startOffset{kgo.NewOffset().AfterMilli(t.UnixMilli()), "time", t.UnixMilli()}, nil
		}
		return startOffset{}, fmt.Errorf("--offset %q: after @ want an RFC 3339 time (2026-01-02T15:04:05Z), Unix milliseconds, or -DURATION (-1h)", text)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return startOffset{}, fmt.Errorf("--offset %q: want start, end, an offset (42), the last N records (-10) or @time", text)
	}
	if n < 0 {
		return startOffset{kgo.NewOffset().AtEnd().Relative(n), "relative", -n}, nil
	}
	return startOffset{kgo.NewOffset().At(n), "exact", n}, nil
}

func parsePartitionList(list []string) ([]int32, error) {
	var partitions []int32
	for _, item := range list {
		for _, text := range strings.Split(item, ",") {
			p, err := strconv.ParseInt(strings.TrimSpace(text), 10, 32)
			if err != nil || p < 0 {
				return nil, fmt.Errorf("--partition %q: want a partition number", text)
			}
			partitions = append(partitions, int32(p))
		}
	}
	return partitions, nil
}

// offsetsToReach returns, per topic and partition, the offset consume must
// read up to for --exit-at-end: each partition's end as it is now, for the
// partitions where the starting position is before it.
func offsetsToReach(ctx context.Context, admin *kadm.Client, topics []string, partitions []int32, group string, start startOffset) (map[string]map[int32]int64, error) {
	ends, err := admin.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("list end offsets: %w (does the topic exist? cairn topic list)", err)
	}
	var starts kadm.ListedOffsets
	switch start.kind {
	case "start", "relative":
		starts, err = admin.ListStartOffsets(ctx, topics...)
	case "time":
		starts, err = admin.ListOffsetsAfterMilli(ctx, start.value, topics...)
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	var committed kadm.OffsetResponses
	if group != "" {
		committed, err = admin.FetchOffsets(ctx, group)
		if err != nil {
			return nil, explainGroups(fmt.Errorf("fetch the offsets of group %s: %w", group, err))
		}
	}
	wanted := map[int32]bool{}
	for _, p := range partitions {
		wanted[p] = true
	}
	remaining := map[string]map[int32]int64{}
	ends.Each(func(end kadm.ListedOffset) {
		if len(wanted) > 0 && !wanted[end.Partition] {
			return
		}
		from := end.Offset
		switch start.kind {
		case "exact":
			from = start.value
		case "start", "time":
			if o, ok := starts.Lookup(end.Topic, end.Partition); ok && o.Offset >= 0 {
				from = o.Offset
			}
		case "relative":
			from = end.Offset - start.value
			if o, ok := starts.Lookup(end.Topic, end.Partition); ok && from < o.Offset {
				from = o.Offset
			}
		}
		if c, ok := committed.Lookup(end.Topic, end.Partition); ok && c.Err == nil && c.At >= 0 {
			from = c.At
		}
		if from < end.Offset {
			if remaining[end.Topic] == nil {
				remaining[end.Topic] = map[int32]int64{}
			}
			remaining[end.Topic][end.Partition] = end.Offset
		}
	})
	return remaining, nil
}

// recordPrinter appends one record's output to a buffer.
type recordPrinter func(buffer []byte, r *kgo.Record) []byte

// compileFormat turns a --format template into a printer, refusing
// unknown % directives.
func compileFormat(format string) (recordPrinter, error) {
	if format == "json" {
		return printJSON, nil
	}
	type piece struct {
		literal   string
		directive byte
	}
	var pieces []piece
	var literal strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c == '\\' && i+1 < len(format) {
			switch format[i+1] {
			case 'n':
				literal.WriteByte('\n')
				i++
				continue
			case 't':
				literal.WriteByte('\t')
				i++
				continue
			case '\\':
				literal.WriteByte('\\')
				i++
				continue
			}
		}
		if c != '%' {
			literal.WriteByte(c)
			continue
		}
		if i+1 == len(format) {
			return nil, fmt.Errorf("--format %q ends with a lone %%; write %%%% for a percent sign", format)
		}
		i++
		switch d := format[i]; d {
		case '%':
			literal.WriteByte('%')
		case 't', 'p', 'o', 'k', 'v', 'h', 'T', 'd', 'K', 'S':
			pieces = append(pieces, piece{literal: literal.String()})
			literal.Reset()
			pieces = append(pieces, piece{directive: d})
		default:
			return nil, fmt.Errorf("--format %q: unknown directive %%%c; the directives are %%t %%p %%o %%k %%v %%h %%T %%d %%K %%S %%%%", format, d)
		}
	}
	pieces = append(pieces, piece{literal: literal.String()})
	return func(b []byte, r *kgo.Record) []byte {
		for _, p := range pieces {
			switch p.directive {
			case 0:
				b = append(b, p.literal...)
			case 't':
				b = append(b, r.Topic...)
			case 'p':
				b = strconv.AppendInt(b, int64(r.Partition), 10)
			case 'o':
				b = strconv.AppendInt(b, r.Offset, 10)
			case 'k':
				b = append(b, r.Key...)
			case 'v':
				b = append(b, r.Value...)
			case 'h':
				for i, h := range r.Headers {
					if i > 0 {
						b = append(b, ',')
					}
					b = append(b, h.Key...)
					b = append(b, '=')
					b = append(b, h.Value...)
				}
			case 'T':
				b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
			case 'd':
				b = r.Timestamp.UTC().AppendFormat(b, time.RFC3339Nano)
			case 'K':
				b = strconv.AppendInt(b, int64(len(r.Key)), 10)
			case 'S':
				b = strconv.AppendInt(b, int64(len(r.Value)), 10)
			}
		}
		return b
	}, nil
}

// jsonRecord is --format json's shape. Keys, values and header values are
// strings when they are valid UTF-8 (their encoding "utf8") and otherwise
// standard base64 (encoding "base64"), as rpk prints bytes that are not
// text: nothing is replaced by U+FFFD, so every byte survives. Headers keep
// their order.
type jsonRecord struct {
	Topic         string       `json:"topic"`
	Partition     int32        `json:"partition"`
	Offset        int64        `json:"offset"`
	Timestamp     int64        `json:"timestamp_ms"`
	Key           *string      `json:"key"`
	KeyEncoding   *string      `json:"key_encoding,omitempty"`
	Value         string       `json:"value"`
	ValueEncoding string       `json:"value_encoding"`
	Headers       []jsonHeader `json:"headers,omitempty"`
}

type jsonHeader struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Encoding string `json:"encoding"`
}

// jsonBytes is b as JSON text and the encoding it is in.
func jsonBytes(b []byte) (text, encoding string) {
	if utf8.Valid(b) {
		return string(b), "utf8"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

func printJSON(b []byte, r *kgo.Record) []byte {
	out := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	out.Value, out.ValueEncoding = jsonBytes(r.Value)
	if r.Key != nil {
		key, encoding := jsonBytes(r.Key)
		out.Key, out.KeyEncoding = &key, &encoding
	}
	for _, h := range r.Headers {
		value, encoding := jsonBytes(h.Value)
		out.Headers = append(out.Headers, jsonHeader{h.Key, value, encoding})
	}
	encoded, _ := json.Marshal(out) // cannot fail: strings and numbers only
	b = append(b, encoded...)
	return append(b, '\n')
}
