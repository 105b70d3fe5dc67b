package compat

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawTimeout bounds every raw read: a broker that neither answers nor
// closes within it is treated as hung on that connection.
const rawTimeout = 5 * time.Second

var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("cairn-compat-raw"))

// frame is a request as it goes on the wire: size prefix, header, body.
func frame(req kmsg.Request, correlationID int32) []byte {
	return formatter.AppendRequest(nil, req, correlationID)
}

// sized returns the size prefix of a frame carrying payload; the size
// counts only the bytes after it.
func sized(payload []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, rawTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func send(t *testing.T, conn net.Conn, b []byte) {
	t.Helper()
	conn.SetWriteDeadline(time.Now().Add(rawTimeout))
	if _, err := conn.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// readResponse reads one response frame and returns its correlation ID and
// the rest (response header tags, if any, and body).
func readResponse(conn net.Conn) (int32, []byte, error) {
	conn.SetReadDeadline(time.Now().Add(rawTimeout))
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 64<<20 {
		return 0, nil, fmt.Errorf("response frame of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

// expectClosed requires the broker to close conn without answering, as
// Kafka does on a request it cannot parse.
func expectClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(rawTimeout))
	b, err := io.ReadAll(io.LimitReader(conn, 1<<20))
	switch {
	case err != nil && !isClosed(err):
		t.Errorf("broker neither answered nor closed the connection within %v (%v)", rawTimeout, err)
	case len(b) > 0:
		t.Errorf("broker sent %d bytes (%x...) instead of closing the connection", len(b), b[:min(len(b), 32)])
	}
}

// expectHandled requires the broker either to answer with the given
// correlation ID or to close conn, promptly: both are sane reactions to a
// request it does not know, and only hanging or crashing is wrong.
func expectHandled(t *testing.T, conn net.Conn, correlationID int32) {
	t.Helper()
	corr, _, err := readResponse(conn)
	switch {
	case err == nil && corr != correlationID:
		t.Errorf("answered with correlation ID %d, want %d", corr, correlationID)
	case err == nil:
		t.Logf("broker answered with an error response")
	case !isClosed(err):
		t.Errorf("broker neither answered nor closed the connection: %v", err)
	}
}

// apiVersionsOK checks that conn gets a normal ApiVersions v3 answer.
func apiVersionsOK(conn net.Conn, correlationID int32) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "cairn-compat"
	req.ClientSoftwareVersion = "1"
	conn.SetWriteDeadline(time.Now().Add(rawTimeout))
	if _, err := conn.Write(frame(req, correlationID)); err != nil {
		return err
	}
	corr, body, err := readResponse(conn)
	if err != nil {
		return err
	}
	if corr != correlationID {
		return fmt.Errorf("correlation ID %d, want %d", corr, correlationID)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("decode ApiVersions v3 response: %w", err)
	}
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		return fmt.Errorf("ApiVersions v3: error code %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	return nil
}

// liveLoad is a well-behaved franz-go client producing and consuming one
// record at a time while the bad input goes on, counting round trips.
type liveLoad struct {
	rounds             atomic.Int64
	mu                 sync.Mutex
	failures           []string
	producer, consumer *kgo.Client
	cancel             context.CancelFunc
	done               chan struct{}
}

// stop ends the load and returns its failures. Closing the clients fails
// whatever they still buffer, which bounds the wait even if the broker died.
func (l *liveLoad) stop() []string {
	l.cancel()
	select {
	case <-l.done:
	case <-time.After(15 * time.Second):
	}
	l.producer.Close()
	l.consumer.Close()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures
}

func startLiveLoad(t *testing.T, addr string) *liveLoad {
	topic := uniqueTopic("badinput-live")
	createTopic(t, addr, topic, 1)
	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		producer.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &liveLoad{producer: producer, consumer: consumer, cancel: cancel, done: make(chan struct{})}
	fail := func(format string, args ...any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.failures = append(l.failures, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
	go func() {
		defer close(l.done)
		for i := 0; ctx.Err() == nil; i++ {
			value := fmt.Sprintf("live-%d", i)
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			err := producer.ProduceSync(pctx, &kgo.Record{Value: []byte(value)}).FirstErr()
			pcancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				fail("produce %s: %v", value, err)
				continue
			}
			cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
			seen := false
			for !seen && cctx.Err() == nil {
				fs := consumer.PollFetches(cctx)
				fs.EachError(func(_ string, _ int32, err error) {
					if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
						fail("fetch: %v", err)
					}
				})
				fs.EachRecord(func(r *kgo.Record) { seen = seen || string(r.Value) == value })
			}
			ccancel()
			if ctx.Err() != nil {
				return
			}
			if !seen {
				fail("record %s produced but not fetched within 10s", value)
				continue
			}
			l.rounds.Add(1)
		}
	}()
	return l
}

// TestBadInput sends malformed and hostile traffic over raw TCP. After each
// case the broker process must still be running, a fresh connection must get
// a normal ApiVersions answer, and the concurrent franz-go client must have
// completed more produce-then-fetch round trips without any error.
func TestBadInput(t *testing.T) {
	t.Parallel()
	addr := sharedAddr(t)
	load := startLiveLoad(t, addr)
	defer func() {
		if failures := load.stop(); len(failures) > 0 {
			t.Errorf("the well-behaved client failed during the bad input:\n%s", strings.Join(failures, "\n"))
		}
	}()
	if !waitFor(20*time.Second, func() bool { return load.rounds.Load() >= 2 }) {
		t.Fatalf("the well-behaved client made no progress before any bad input")
	}

	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"http request", func(t *testing.T) {
			// "GET " read as a size is about 1.2 GB: beyond any sane
			// request size, so it must be refused outright.
			conn := dialRaw(t, addr)
			send(t, conn, []byte("GET / HTTP/1.1\r\nHost: cairn\r\n\r\n"))
			expectClosed(t, conn)
		}},
		{"random bytes in a frame", func(t *testing.T) {
			// Seeded so a failure reproduces.
			rng := rand.New(rand.NewPCG(1, 2))
			payload := make([]byte, 64)
			for i := range payload {
				payload[i] = byte(rng.UintN(256))
			}
			payload[0] = 0x7f // an API key no broker has
			conn := dialRaw(t, addr)
			send(t, conn, append(sized(payload), payload...))
			expectHandled(t, conn, int32(binary.BigEndian.Uint32(payload[4:])))
		}},
		{"frame claiming 2 GiB", func(t *testing.T) {
			conn := dialRaw(t, addr)
			send(t, conn, []byte{0x7f, 0xff, 0xff, 0xff, 0, 18, 0, 0})
			expectClosed(t, conn)
		}},
		{"negative frame size", func(t *testing.T) {
			conn := dialRaw(t, addr)
			send(t, conn, []byte{0x80, 0, 0, 0, 0, 18, 0, 0})
			expectClosed(t, conn)
		}},
		{"empty frame", func(t *testing.T) {
			conn := dialRaw(t, addr)
			send(t, conn, []byte{0, 0, 0, 0})
			expectClosed(t, conn)
		}},
		{"unknown api key", func(t *testing.T) {
			// A well-formed v0 header for key 9999. Kafka closes the
			// connection.
			var hdr []byte
			hdr = binary.BigEndian.AppendUint16(hdr, 9999)
			hdr = binary.BigEndian.AppendUint16(hdr, 0)
			hdr = binary.BigEndian.AppendUint32(hdr, 77)
			hdr = binary.BigEndian.AppendUint16(hdr, 6)
			hdr = append(hdr, "compat"...)
			hdr = append(hdr, 1, 2, 3, 4)
			conn := dialRaw(t, addr)
			send(t, conn, append(sized(hdr), hdr...))
			expectHandled(t, conn, 77)
		}},
		{"metadata body cut short within its frame", func(t *testing.T) {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 9
			for _, name := range []string{"some-topic-name", "another-topic"} {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(name)
				req.Topics = append(req.Topics, rt)
			}
			full := frame(req, 5)[4:]
			// Keep the header (key, version, correlation ID, client ID,
			// tags) and a few bytes of the body; the size prefix claims
			// exactly what is sent.
			cut := full[:10+len("cairn-compat-raw")+1+5]
			conn := dialRaw(t, addr)
			send(t, conn, append(sized(cut), cut...))
			expectClosed(t, conn)
		}},
		{"frame larger than what is sent, then close", func(t *testing.T) {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 9
			full := frame(req, 6)
			conn := dialRaw(t, addr)
			send(t, conn, append(binary.BigEndian.AppendUint32(nil, 1000), full[4:]...))
			time.Sleep(50 * time.Millisecond)
			conn.Close()
		}},
		{"disconnect in the middle of a header", func(t *testing.T) {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 9
			full := frame(req, 7)
			conn := dialRaw(t, addr)
			send(t, conn, full[:7])
			time.Sleep(50 * time.Millisecond)
			conn.Close()
		}},
		{"disconnect while a fetch waits", func(t *testing.T) {
			// A long-poll fetch at the end of a partition, abandoned: the
			// broker later has a response for a connection that is gone.
			req := kmsg.NewPtrFetchRequest()
			req.Version = 11
			req.ReplicaID = -1
			req.MaxWaitMillis = 1000
			req.MinBytes = 1
			req.MaxBytes = 1 << 20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "compat-no-such-topic-ever"
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			conn := dialRaw(t, addr)
			send(t, conn, frame(req, 8))
			conn.Close()
		}},
		{"disconnect before an acks=all produce is answered", func(t *testing.T) {
			topic := uniqueTopic("badinput-produce")
			createTopic(t, addr, topic, 1)
			req := kmsg.NewPtrProduceRequest()
			req.Version = 7
			req.Acks = -1
			req.TimeoutMillis = 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = recordBatch([]byte("abandoned"))
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			conn := dialRaw(t, addr)
			send(t, conn, frame(req, 9))
			conn.Close()
			// The write itself is valid; like Kafka, the broker should
			// still append it though nobody waits for the answer. This
			// also shows the hand-built batch is well formed, so the case
			// tests the disconnect and not a decode error.
			cl := newKgo(t, addr)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var last string
			if !waitFor(10*time.Second, func() bool {
				_, end, err := endOffsets(ctx, cl, topic, 1)
				last = fmt.Sprintf("end offsets %v, err %v", end, err)
				return err == nil && end[0] == 1
			}) {
				t.Errorf("the abandoned produce was not appended: %s", last)
			}
		}},
		{"ApiVersions v99", func(t *testing.T) {
			// A client newer than the broker: Kafka answers with
			// UNSUPPORTED_VERSION (35) in a v0 body that lists what it
			// supports, and keeps the connection open for the retry.
			req := kmsg.NewPtrApiVersionsRequest()
			req.Version = 99
			req.ClientSoftwareName = "cairn-compat"
			req.ClientSoftwareVersion = "99"
			conn := dialRaw(t, addr)
			send(t, conn, frame(req, 10))
			corr, body, err := readResponse(conn)
			if err != nil {
				t.Fatalf("no response to ApiVersions v99: %v", err)
			}
			if corr != 10 {
				t.Errorf("correlation ID %d, want 10", corr)
			}
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.Version = 0
			if err := resp.ReadFrom(body); err != nil {
				t.Fatalf("response is not an ApiVersions v0 body (%v): %x", err, body)
			}
			if resp.ErrorCode != 35 {
				t.Errorf("error code %d, want 35 (UNSUPPORTED_VERSION)", resp.ErrorCode)
			}
			var apiVersions *kmsg.ApiVersionsResponseApiKey
			for i := range resp.ApiKeys {
				if resp.ApiKeys[i].ApiKey == 18 {
					apiVersions = &resp.ApiKeys[i]
				}
			}
			if apiVersions == nil || apiVersions.MaxVersion < 3 {
				t.Errorf("the v0 body does not list ApiVersions up to v3 among its %d keys: %+v", len(resp.ApiKeys), resp.ApiKeys)
			}
			if err := apiVersionsOK(conn, 11); err != nil {
				t.Errorf("the connection is not usable for the retry with v3: %v", err)
			}
		}},
	}
	for _, c := range cases {
		before := load.rounds.Load()
		t.Run(c.name, c.run)
		// Whatever the case did, the broker must carry on serving.
		if !shared.proc.alive() {
			t.Fatalf("after %q the broker process exited: %v\n%s", c.name, shared.proc.exitErr, tailFile(shared.proc.logPath, 30))
		}
		conn, err := net.DialTimeout("tcp", addr, rawTimeout)
		if err == nil {
			err = apiVersionsOK(conn, 1)
			conn.Close()
		}
		if err != nil {
			t.Errorf("after %q a new connection gets no ApiVersions answer: %v", c.name, err)
		}
		if !waitFor(20*time.Second, func() bool { return load.rounds.Load() >= before+2 }) {
			t.Errorf("after %q the well-behaved client stopped making progress", c.name)
		}
	}
}

// recordBatch encodes a v2 record batch holding one record with value v, as
// a producer would send it.
func recordBatch(v []byte) []byte {
	var rec []byte
	rec = append(rec, 0)               // attributes
	rec = binary.AppendVarint(rec, 0)  // timestamp delta
	rec = binary.AppendVarint(rec, 0)  // offset delta
	rec = binary.AppendVarint(rec, -1) // key: null
	rec = binary.AppendVarint(rec, int64(len(v)))
	rec = append(rec, v...)
	rec = binary.AppendVarint(rec, 0) // headers
	rec = append(binary.AppendVarint(nil, int64(len(rec))), rec...)

	b := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		FirstTimestamp:       time.Now().UnixMilli(),
		MaxTimestamp:         time.Now().UnixMilli(),
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           1,
		Records:              rec,
	}
	raw := b.AppendTo(nil)
	// Length counts from after itself; CRC-32C covers attributes onward.
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32c(raw[21:]))
	return raw
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
