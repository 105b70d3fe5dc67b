package replica

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/batch"
	"cairn/diskfault"
	"cairn/replica/transport"
)

// harness drives one Node by hand, the way the simulator does: requests are
// encoded to bytes with kmsg, fsyncs run only when the test says so, and
// time moves only when the test moves it.
type harness struct {
	t         testing.TB
	mem       *diskfault.Mem
	config    Config
	node      *Node
	now       time.Time
	rng       *rand.Rand
	syncs     []*SyncTask
	frames    map[ConnID][][]byte
	closed    map[ConnID]bool
	requests  map[int32]kmsg.Request
	nextCorr  int32
	formatter *kmsg.RequestFormatter
	// peerSends and proposals are what a clustered node sent to other
	// brokers and to the metadata log, kept until the test takes them.
	peerSends []PeerMessage
	proposals [][]byte
}

func newHarness(t testing.TB) *harness {
	h := &harness{
		t:         t,
		mem:       diskfault.NewMem(),
		config:    DefaultConfig(),
		now:       time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		rng:       rand.New(rand.NewPCG(1, 2)),
		frames:    map[ConnID][][]byte{},
		closed:    map[ConnID]bool{},
		requests:  map[int32]kmsg.Request{},
		formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID("harness")),
	}
	h.config.DataDir = "/data"
	h.open()
	return h
}

func (h *harness) open() {
	node, err := Open(h.config, Env{FS: h.mem, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Rand: h.rng}, h.now)
	if err != nil {
		h.t.Fatalf("open node: %v", err)
	}
	h.node = node
	h.syncs = nil
}

// crash loses everything unsynced (keeping none of it) and restarts the node.
func (h *harness) crash() {
	h.mem.Crash(h.rng)
	h.open()
}

// send encodes req as a client would and hands the frame to the node.
// A request left at version 0 is sent at the highest version the node
// advertises, as a negotiating client would.
func (h *harness) send(conn ConnID, req kmsg.Request) {
	if req.GetVersion() == 0 {
		if r := apiFor(req.Key()); r != nil {
			req.SetVersion(r.max)
		}
	}
	h.nextCorr++
	h.requests[h.nextCorr] = req
	frame := h.formatter.AppendRequest(nil, req, h.nextCorr)
	h.node.HandleFrame(h.now, conn, frame[transport.FrameSizeBytes:])
	h.drain()
}

func (h *harness) sendRaw(conn ConnID, frame []byte) {
	h.node.HandleFrame(h.now, conn, frame)
	h.drain()
}

func (h *harness) drain() {
	rd := h.node.Ready()
	for _, out := range rd.Outbound {
		h.frames[out.Conn] = append(h.frames[out.Conn], append([]byte(nil), out.Frame...))
	}
	for _, id := range rd.Close {
		h.closed[id] = true
	}
	h.syncs = append(h.syncs, rd.Syncs...)
	for _, m := range rd.PeerSends {
		h.peerSends = append(h.peerSends, PeerMessage{To: m.To, Frame: append([]byte(nil), m.Frame...)})
	}
	for _, entry := range rd.Proposals {
		h.proposals = append(h.proposals, append([]byte(nil), entry...))
	}
	h.node.Advance()
}

// runSyncs completes every fsync the node asked for, until none is left.
func (h *harness) runSyncs() {
	for len(h.syncs) > 0 {
		task := h.syncs[0]
		h.syncs = h.syncs[1:]
		h.node.SyncDone(h.now, task, task.Run())
		h.drain()
	}
}

func (h *harness) tick(d time.Duration) {
	h.now = h.now.Add(d)
	h.node.Tick(h.now)
	h.drain()
}

// take returns and forgets the decoded responses received on conn.
func (h *harness) take(conn ConnID) []kmsg.Response {
	var out []kmsg.Response
	for _, frame := range h.frames[conn] {
		out = append(out, h.decode(frame))
	}
	delete(h.frames, conn)
	return out
}

func (h *harness) decode(frame []byte) kmsg.Response {
	size := int(binary.BigEndian.Uint32(frame))
	if size != len(frame)-transport.FrameSizeBytes {
		h.t.Fatalf("frame size %d, have %d bytes", size, len(frame)-transport.FrameSizeBytes)
	}
	payload := transport.Payload(frame)
	corr := transport.ResponseCorrelation(payload)
	req, ok := h.requests[corr]
	if !ok {
		h.t.Fatalf("response to unknown correlation id %d", corr)
	}
	delete(h.requests, corr)
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	body, err := transport.ResponseBody(payload, resp)
	if err != nil {
		h.t.Fatalf("response header: %v", err)
	}
	if err := resp.ReadFrom(body); err != nil {
		h.t.Fatalf("decode %s response: %v", kmsg.NameForKey(resp.Key()), err)
	}
	return resp
}

// request sends req on a fresh connection and returns its one response,
// running fsyncs as needed.
func (h *harness) request(req kmsg.Request) kmsg.Response {
	conn := ConnID(1_000_000 + h.nextCorr)
	h.send(conn, req)
	h.runSyncs()
	got := h.take(conn)
	if len(got) != 1 {
		h.t.Fatalf("%s: %d responses, want 1", kmsg.NameForKey(req.Key()), len(got))
	}
	return got[0]
}

func (h *harness) createTopic(name string, partitions int32, configs map[string]string) *kmsg.CreateTopicsResponse {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions = partitions
	rt.ReplicationFactor = 1
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name = k
		v := configs[k]
		c.Value = &v
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	return h.request(req).(*kmsg.CreateTopicsResponse)
}

func produceRequest(topic string, partition int32, acks int16, values []string) *kmsg.ProduceRequest {
	records := make([]batch.Record, len(values))
	for i, v := range values {
		records[i] = batch.Record{Value: []byte(v)}
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch.Build(batch.BuildOptions{ProducerID: -1, FirstTimestamp: 1000}, records)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchRequest(topic string, partition int32, offset int64, maxWait time.Duration, minBytes int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(maxWait / time.Millisecond)
	req.MinBytes = minBytes
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// describe renders a response as one stable line for transcripts.
func describe(resp kmsg.Response) string {
	var b strings.Builder
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		b.WriteString("produce:")
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(&b, " %s[%d] offset=%d %s", t.Topic, p.Partition, p.BaseOffset, errName(p.ErrorCode))
			}
		}
	case *kmsg.FetchResponse:
		b.WriteString("fetch:")
		if r.ErrorCode != 0 {
			fmt.Fprintf(&b, " %s", errName(r.ErrorCode))
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(&b, " %s[%d] hw=%d %s", t.Topic, p.Partition, p.HighWatermark, errName(p.ErrorCode))
				for _, rec := range fetchedValues(p.RecordBatches) {
					fmt.Fprintf(&b, " %s", rec)
				}
			}
		}
	case *kmsg.ListOffsetsResponse:
		b.WriteString("list-offsets:")
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(&b, " %s[%d] offset=%d %s", t.Topic, p.Partition, p.Offset, errName(p.ErrorCode))
			}
		}
	case *kmsg.CreateTopicsResponse:
		b.WriteString("create-topics:")
		for _, t := range r.Topics {
			fmt.Fprintf(&b, " %s %s", t.Topic, errName(t.ErrorCode))
		}
	case *kmsg.DeleteTopicsResponse:
		b.WriteString("delete-topics:")
		for _, t := range r.Topics {
			name := "<nil>"
			if t.Topic != nil {
				name = *t.Topic
			}
			fmt.Fprintf(&b, " %s %s", name, errName(t.ErrorCode))
		}
	case *kmsg.MetadataResponse:
		b.WriteString("metadata:")
		for _, t := range r.Topics {
			name := "<nil>"
			if t.Topic != nil {
				name = *t.Topic
			}
			fmt.Fprintf(&b, " %s(%d) %s", name, len(t.Partitions), errName(t.ErrorCode))
		}
	default:
		fmt.Fprintf(&b, "%s", kmsg.NameForKey(resp.Key()))
	}
	return b.String()
}

// fetchedValues decodes record batches into "offset:value" strings.
func fetchedValues(b []byte) []string {
	var out []string
	for len(b) > 0 {
		total, complete, err := batch.Frame(b)
		if err != nil || !complete {
			return append(out, "<partial batch>")
		}
		one := b[:total]
		b = b[total:]
		h, err := batch.Validate(one)
		if err != nil {
			return append(out, "<corrupt batch>")
		}
		records, err := batch.Records(one)
		if err != nil {
			return append(out, "<bad records>")
		}
		for i, r := range records {
			out = append(out, fmt.Sprintf("%d:%s", h.BaseOffset+int64(i), r.Value))
		}
	}
	return out
}

func errName(code int16) string {
	if code == 0 {
		return "OK"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return ke.Message
		}
	}
	return fmt.Sprintf("ERROR_%d", code)
}
