package replica

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/group"
)

// handleHeartbeat hands a classic member's heartbeat to its coordinator.
func (n *Node) handleHeartbeat(r *request, req *kmsg.HeartbeatRequest) {
	refuse := func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		return resp
	}
	n.toGroup(r, req.Group, refuse, func(hc *hostedCoordinator, token group.Token) {
		hc.core.Heartbeat(r.now, token, req)
	})
}
