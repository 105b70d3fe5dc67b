package replica

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/controller"
)

// InitProducerId for clients, and AllocateProducerIds, the controller's
// side of the blocks those ids come from (producers.go).

// handleInitProducerID answers InitProducerId for idempotent producers.
// As in Kafka, a producer without a transactional id always gets a fresh
// id at epoch 0, also when it asks for an epoch bump (KIP-360): nothing of
// its old id needs fencing, and the client restarts its sequences.
func (n *Node) handleInitProducerID(r *request, req *kmsg.InitProducerIDRequest) {
	n.answer(r, n.initProducerID(r.now, req))
}

func (n *Node) initProducerID(now time.Time, req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	switch {
	case req.TransactionalID != nil:
		resp.ErrorCode = kerr.InvalidRequest.Code // transactions come later
		return resp
	case req.ProducerID < -1 || req.ProducerEpoch < -1:
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	if n.pids.next >= n.pids.end {
		// A standalone broker's own controller commits at once; a
		// clustered broker waits for its controller's answer.
		n.requestProducerIDs(now)
	}
	if n.pids.next >= n.pids.end {
		// Kafka's answer while a broker waits for its next block; clients
		// retry it.
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = n.pids.next, 0
	n.pids.next++
	if n.pids.end-n.pids.next < controller.DefaultProducerIDBlockSize/10 {
		n.requestProducerIDs(now) // ask ahead, so producers rarely wait
	}
	return resp
}

// handleAllocateProducerIDs is the controller's side: the answer waits for
// the block's record to commit.
func (n *Node) handleAllocateProducerIDs(r *request, req *kmsg.AllocateProducerIDsRequest) {
	now, id, seq, h := r.now, r.conn, r.take(), r.header
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	c := n.meta.active
	if c == nil {
		resp.ErrorCode = kerr.NotController.Code
		n.respond(id, seq, h, resp)
		return
	}
	first, count, err := c.AllocateProducerIDs(now, req.BrokerID, req.BrokerEpoch)
	if err != nil {
		resp.ErrorCode = err.Code
		n.respond(id, seq, h, resp)
		return
	}
	resp.ProducerIDStart, resp.ProducerIDLen = first, int32(count)
	n.answerAfter(n.commitController(now), id, seq, h, resp)
}
