package replica

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
)

// handleListGroups lists the groups of the coordinators this broker runs;
// clients ask every broker and merge.
func (n *Node) handleListGroups(r *request, req *kmsg.ListGroupsRequest) {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if _, ok := n.meta.image.Topic(offsetsTopic); ok {
		n.listGroups(r.now, req, resp)
	}
	n.answer(r, resp)
}

func (n *Node) listGroups(now time.Time, req *kmsg.ListGroupsRequest, resp *kmsg.ListGroupsResponse) {
	for index := int32(0); index < int32(len(n.topics[offsetsTopic].partitions)); index++ {
		p := n.partition(offsetsTopic, index)
		if p == nil || p.core.Role() != core.RoleLeader {
			continue
		}
		hc := n.groups.coordinators[index]
		if hc == nil || hc.epoch != p.core.LeaderEpoch() {
			// Load it: a group only ever written by this partition's
			// previous leader is listed too.
			var code int16
			hc, code = n.loadIndex(now, index)
			if code != 0 {
				continue
			}
		}
		resp.Groups = append(resp.Groups, hc.core.ListGroups(req.StatesFilter, req.TypesFilter)...)
	}
}
