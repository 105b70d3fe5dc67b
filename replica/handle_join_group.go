package replica

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/group"
)

// handleJoinGroup hands a classic member's join to its group's coordinator;
// the answer leaves when the rebalance it joins completes.
func (n *Node) handleJoinGroup(r *request, req *kmsg.JoinGroupRequest) {
	refuse := func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = code, -1, req.MemberID
		return resp
	}
	n.toGroup(r, req.Group, refuse, func(hc *hostedCoordinator, token group.Token) {
		hc.core.JoinGroup(r.now, token, req, r.header.ClientID, "/"+n.config.AdvertisedHost)
	})
}
