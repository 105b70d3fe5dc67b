package replica

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestScenarios runs the protocol transcripts in testdata/scenarios. Each
// reads like a story of requests, fsyncs, clock ticks and crashes; rewrite
// the expected output with `go test ./replica -run TestScenarios -rewrite`.
//
//	create-topic name=T [partitions=N] [config=k=v,...]
//	produce [conn=C] topic=T [partition=P] [acks=A] [producer-id=I epoch=E seq=S] values=a,b,c
//	init-producer-id      an idempotent producer's id and epoch
//	fetch [conn=C] topic=T [partition=P] offset=O [wait-ms=W] [min-bytes=B]
//	list-offsets topic=T [partition=P] ts=TS
//	metadata [topics=a,b]
//	delete-topic name=T
//	sync          run every fsync the node asked for
//	tick ms=N     move the clock
//	crash         lose what is unsynced, restart the node
//	raw [conn=C] hex=...   hand the node raw frame bytes
//	responses [conn=C]     print what arrived (every command prints its own)
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		h := newHarness(t)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return runScenarioCommand(t, h, d)
		})
	})
}

func runScenarioCommand(t *testing.T, h *harness, d *datadriven.TestData) string {
	arg := func(key, fallback string) string {
		for _, a := range d.CmdArgs {
			if a.Key == key {
				return strings.Join(a.Vals, ",")
			}
		}
		return fallback
	}
	integer := func(key string, fallback int64) int64 {
		v, err := strconv.ParseInt(arg(key, strconv.FormatInt(fallback, 10)), 10, 64)
		if err != nil {
			t.Fatalf("%s: %s is not an integer", d.Pos, key)
		}
		return v
	}
	conn := ConnID(integer("conn", 1))
	switch d.Cmd {
	case "create-topic":
		configs := map[string]string{}
		for _, kv := range strings.Split(arg("config", ""), ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				configs[k] = v
			}
		}
		return describe(h.createTopic(arg("name", ""), int32(integer("partitions", 1)), configs)) + "\n"
	case "produce":
		values := strings.Split(arg("values", ""), ",")
		req := produceRequest(arg("topic", ""), int32(integer("partition", 0)), int16(integer("acks", -1)), values)
		if id := integer("producer-id", -1); id >= 0 {
			idempotent := idempotentProduce(arg("topic", ""), id, int16(integer("epoch", 0)), int32(integer("seq", 0)), values...)
			req.Topics[0].Partitions[0].Records = idempotent.Topics[0].Partitions[0].Records
		}
		h.send(conn, req)
	case "init-producer-id":
		r := h.request(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
		return fmt.Sprintf("init-producer-id: id=%d epoch=%d %s\n", r.ProducerID, r.ProducerEpoch, errName(r.ErrorCode))
	case "fetch":
		h.send(conn, fetchRequest(arg("topic", ""), int32(integer("partition", 0)), integer("offset", 0),
			time.Duration(integer("wait-ms", 0))*time.Millisecond, int32(integer("min-bytes", 1))))
	case "list-offsets":
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = arg("topic", "")
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = int32(integer("partition", 0))
		rp.Timestamp = integer("ts", -1)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		h.send(conn, req)
	case "metadata":
		req := kmsg.NewPtrMetadataRequest()
		if names := arg("topics", ""); names != "" {
			for _, name := range strings.Split(names, ",") {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(name)
				req.Topics = append(req.Topics, rt)
			}
		}
		req.AllowAutoTopicCreation = arg("auto-create", "false") == "true"
		h.send(conn, req)
	case "delete-topic":
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TopicNames = []string{arg("name", "")}
		req.SetVersion(5)
		h.send(conn, req)
	case "sync":
		n := len(h.syncs)
		h.runSyncs()
		return fmt.Sprintf("ran %d fsync(s)\n", n) + h.printResponses()
	case "tick":
		h.tick(time.Duration(integer("ms", 0)) * time.Millisecond)
	case "crash":
		h.crash()
		return "crashed and restarted\n"
	case "raw":
		frame, err := hex.DecodeString(arg("hex", ""))
		if err != nil {
			t.Fatalf("%s: bad hex: %v", d.Pos, err)
		}
		h.sendRaw(conn, frame)
	case "responses":
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	return h.printResponses()
}

// printResponses describes every response received, by connection.
func (h *harness) printResponses() string {
	var b strings.Builder
	for conn := ConnID(0); conn < 16; conn++ {
		for _, resp := range h.take(conn) {
			fmt.Fprintf(&b, "conn %d: %s\n", conn, describe(resp))
		}
		if h.closed[conn] {
			fmt.Fprintf(&b, "conn %d: closed\n", conn)
			delete(h.closed, conn)
		}
	}
	if b.Len() == 0 {
		return "(no responses)\n"
	}
	return b.String()
}
