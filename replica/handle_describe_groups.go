package replica

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribeGroups describes each group named from its coordinator
// here, or answers it with the error routing it gave.
func (n *Node) handleDescribeGroups(r *request, req *kmsg.DescribeGroupsRequest) {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	n.eachGroup(r.now, req.Groups, func(_ int, name string, hc *hostedCoordinator) {
		dg := hc.core.DescribeGroup(name)
		if req.Version < 6 {
			dg.ErrorMessage = nil
		}
		if req.Version >= 6 && dg.State == "Dead" {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
		}
		resp.Groups = append(resp.Groups, dg)
	}, func(_ int, name string, code int16) {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.ErrorCode = name, code
		resp.Groups = append(resp.Groups, dg)
	})
	n.answer(r, resp)
}
