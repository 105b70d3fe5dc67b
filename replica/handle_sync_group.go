package replica

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/group"
)

// handleSyncGroup hands a member's SyncGroup to its coordinator; it is
// answered once the leader's assignment is written.
func (n *Node) handleSyncGroup(r *request, req *kmsg.SyncGroupRequest) {
	refuse := func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return resp
	}
	n.toGroup(r, req.Group, refuse, func(hc *hostedCoordinator, token group.Token) {
		hc.core.SyncGroup(r.now, token, req)
	})
}
