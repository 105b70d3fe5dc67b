package replica

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/controller"
)

// The inter-broker APIs a controller answers: brokers register, heartbeat
// and propose ISR changes, as in KRaft. Answers wait for the records they
// depend on to commit.

func (n *Node) handleBrokerRegistration(r *request, req *kmsg.BrokerRegistrationRequest) {
	now, id, seq, h := r.now, r.conn, r.take(), r.header
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	c := n.meta.active
	switch {
	case c == nil:
		resp.ErrorCode = kerr.NotController.Code
	case len(req.Listeners) == 0:
		resp.ErrorCode = kerr.InvalidRequest.Code
	default:
		r := controller.RegisterBroker{
			ID: req.BrokerID, Host: req.Listeners[0].Host, Port: int32(req.Listeners[0].Port),
			Incarnation:   int64(binary.BigEndian.Uint64(req.IncarnationID[:8])),
			CleanShutdown: req.PreviousBrokerEpoch >= 0,
		}
		if req.Rack != nil {
			r.Rack = *req.Rack
		}
		if len(req.LogDirs) > 0 {
			r.DirectoryID = req.LogDirs[0]
		}
		if err := c.RegisterBroker(now, r); err != nil {
			resp.ErrorCode = err.Code
		}
		resp.BrokerEpoch = r.Incarnation
	}
	n.answerAfter(n.commitController(now), id, seq, h, resp)
}

func (n *Node) handleBrokerHeartbeat(r *request, req *kmsg.BrokerHeartbeatRequest) {
	now, id, seq, h := r.now, r.conn, r.take(), r.header
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	c := n.meta.active
	if c == nil {
		resp.ErrorCode = kerr.NotController.Code
		n.respond(id, seq, h, resp)
		return
	}
	// Caught up as KRaft means it: the broker has applied the metadata up
	// to its own registration. Requiring the controller's latest index
	// instead would keep a broker fenced for as long as metadata churns.
	registeredAt, known := n.meta.registeredAt[req.BrokerID]
	caughtUp := known && req.CurrentMetadataOffset >= int64(registeredAt)
	resp.IsCaughtUp = caughtUp
	resp.IsFenced = c.Heartbeat(now, req.BrokerID, req.BrokerEpoch, caughtUp)
	c.Tick(now)
	n.answerAfter(n.commitController(now), id, seq, h, resp)
}

func (n *Node) handleAlterPartition(r *request, req *kmsg.AlterPartitionRequest) {
	now, id, seq, h := r.now, r.conn, r.take(), r.header
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	c := n.meta.active
	if c == nil {
		resp.ErrorCode = kerr.NotController.Code
		n.respond(id, seq, h, resp)
		return
	}
	for _, rt := range req.Topics {
		out := kmsg.NewAlterPartitionResponseTopic()
		out.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			part := kmsg.NewAlterPartitionResponseTopicPartition()
			part.Partition = rp.Partition
			if err := c.AlterPartition(now, rt.Topic, rp.Partition, req.BrokerID, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR); err != nil {
				part.ErrorCode = err.Code
				n.logger.Debug("AlterPartition refused", "topic", rt.Topic, "partition", rp.Partition, "from", req.BrokerID, "isr", rp.NewISR, "err", err.Message)
			}
			out.Partitions = append(out.Partitions, part)
		}
		resp.Topics = append(resp.Topics, out)
	}
	n.answerAfter(n.commitController(now), id, seq, h, resp)
}
