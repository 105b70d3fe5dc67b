package replica

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/replica/transport"
)

// fuzzSeeds are well-formed requests of every kind the node answers, at
// their lowest and highest versions, for the fuzzer to mutate.
func fuzzSeeds() [][]byte {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	var out [][]byte
	add := func(req kmsg.Request) {
		if r := apiFor(req.Key()); r != nil {
			for _, v := range []int16{r.min, r.max} {
				req.SetVersion(v)
				frame := formatter.AppendRequest(nil, req, 7)
				out = append(out, frame[transport.FrameSizeBytes:])
			}
		}
	}
	add(kmsg.NewPtrApiVersionsRequest())
	meta := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("t")
	meta.Topics = append(meta.Topics, rt)
	add(meta)
	add(produceRequest("t", 0, -1, []string{"a", "b"}))
	add(produceRequest("t", 1, 1, []string{"c"}))
	add(fetchRequest("t", 0, 0, 0, 1))
	lo := kmsg.NewPtrListOffsetsRequest()
	lot := kmsg.NewListOffsetsRequestTopic()
	lot.Topic = "t"
	lop := kmsg.NewListOffsetsRequestTopicPartition()
	lop.Timestamp = -2
	lot.Partitions = append(lot.Partitions, lop)
	lo.Topics = append(lo.Topics, lot)
	add(lo)
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic = "u"
	ctt.NumPartitions = 1
	ctt.ReplicationFactor = 1
	ct.Topics = append(ct.Topics, ctt)
	add(ct)
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"t"}
	add(dt)
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dcr := kmsg.NewDescribeConfigsRequestResource()
	dcr.ResourceType = resourceTopic
	dcr.ResourceName = "t"
	dc.Resources = append(dc.Resources, dcr)
	add(dc)
	oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	oet := kmsg.NewOffsetForLeaderEpochRequestTopic()
	oet.Topic = "t"
	oep := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	oep.CurrentLeaderEpoch, oep.LeaderEpoch = -1, 0
	oet.Partitions = append(oet.Partitions, oep)
	oe.Topics = append(oe.Topics, oet)
	add(oe)
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID = 1
	add(hb)
	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID = 1
	reg.Listeners = []kmsg.BrokerRegistrationRequestListener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9093}}
	add(reg)
	alter := kmsg.NewPtrAlterPartitionRequest()
	alt := kmsg.NewAlterPartitionRequestTopic()
	alt.Topic = "t"
	alt.Partitions = []kmsg.AlterPartitionRequestTopicPartition{{Partition: 0, NewISR: []int32{0}}}
	alter.Topics = append(alter.Topics, alt)
	add(alter)
	el := kmsg.NewPtrElectLeadersRequest()
	elt := kmsg.NewElectLeadersRequestTopic()
	elt.Topic, elt.Partitions = "t", []int32{0, 1, 7}
	el.Topics = append(el.Topics, elt)
	add(el)
	el = kmsg.NewPtrElectLeadersRequest()
	el.ElectionType = 1 // unclean, every partition (a null list)
	add(el)
	return out
}

// FuzzHandleFrame feeds arbitrary frames to a node. Whatever the bytes, the
// node must not panic, must answer only with well-formed frames or a close,
// and must keep serving other connections.
func FuzzHandleFrame(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		h := newHarness(t)
		if resp := h.createTopic("t", 2, nil); resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("create topic: %d", resp.Topics[0].ErrorCode)
		}
		h.sendRaw(1, frame)
		h.runSyncs()
		h.tick(time.Minute)
		for _, out := range h.frames[1] {
			if len(out) < 8 || int(binary.BigEndian.Uint32(out)) != len(out)-transport.FrameSizeBytes {
				t.Fatalf("malformed response frame of %d bytes", len(out))
			}
		}
		delete(h.frames, 1)
		// The node still serves a well-behaved client.
		resp := h.request(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(advertisedAPIs()) {
			t.Fatalf("api versions after fuzz input: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
		}
	})
}
