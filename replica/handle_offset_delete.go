package replica

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/group"
)

// handleOffsetDelete hands the deletion of a group's committed offsets to
// its coordinator; it is answered once the tombstones are written.
func (n *Node) handleOffsetDelete(r *request, req *kmsg.OffsetDeleteRequest) {
	refuse := func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = code
		return resp
	}
	n.toGroup(r, req.Group, refuse, func(hc *hostedCoordinator, token group.Token) {
		hc.core.OffsetDelete(r.now, token, req)
	})
}
