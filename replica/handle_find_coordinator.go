package replica

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator key types of FindCoordinator.
const (
	coordinatorKeyGroup       = 0
	coordinatorKeyTransaction = 1
)

// handleFindCoordinator answers with the leader of the group's partition
// of __consumer_offsets, creating the topic on first use.
func (n *Node) handleFindCoordinator(r *request, req *kmsg.FindCoordinatorRequest) {
	now := r.now
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.Version < 4 {
		code, nodeID, host, port := n.findCoordinator(now, req.CoordinatorType, req.CoordinatorKey)
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = code, nodeID, host, port
		if code != 0 {
			message := kerr.ErrorForCode(code).Error()
			resp.ErrorMessage = &message
		}
		n.answer(r, resp)
		return
	}
	for _, key := range req.CoordinatorKeys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key = key
		rc.ErrorCode, rc.NodeID, rc.Host, rc.Port = n.findCoordinator(now, req.CoordinatorType, key)
		if rc.ErrorCode != 0 {
			message := kerr.ErrorForCode(rc.ErrorCode).Error()
			rc.ErrorMessage = &message
		}
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	n.answer(r, resp)
}

func (n *Node) findCoordinator(now time.Time, keyType int8, key string) (code int16, nodeID int32, host string, port int32) {
	switch {
	case keyType == coordinatorKeyTransaction:
		// Transactions are not served: no coordinator will ever be.
		return kerr.CoordinatorNotAvailable.Code, -1, "", -1
	case keyType != coordinatorKeyGroup:
		return kerr.InvalidRequest.Code, -1, "", -1
	case key == "":
		return kerr.InvalidGroupID.Code, -1, "", -1
	case !n.ensureOffsetsTopic(now):
		return kerr.CoordinatorNotAvailable.Code, -1, "", -1
	}
	ip, ok := n.meta.image.Partition(offsetsTopic, n.groupPartition(key))
	if !ok || ip.Leader < 0 {
		return kerr.CoordinatorNotAvailable.Code, -1, "", -1
	}
	b, ok := n.meta.image.Broker(ip.Leader)
	if !ok || b.Fenced {
		return kerr.CoordinatorNotAvailable.Code, -1, "", -1
	}
	return 0, b.ID, b.Host, b.Port
}
