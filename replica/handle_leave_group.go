package replica

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/group"
)

// handleLeaveGroup hands a (batched, from v3) leave to the coordinator.
func (n *Node) handleLeaveGroup(r *request, req *kmsg.LeaveGroupRequest) {
	refuse := func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		return resp
	}
	n.toGroup(r, req.Group, refuse, func(hc *hostedCoordinator, token group.Token) {
		hc.core.LeaveGroup(r.now, token, req)
	})
}
