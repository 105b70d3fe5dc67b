package replica

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDeleteGroups deletes empty groups. Each group is answered once its
// tombstones commit (or their write fails), and the response goes out when
// every group named is answered.
func (n *Node) handleDeleteGroups(r *request, req *kmsg.DeleteGroupsRequest) {
	now, id, h := r.now, r.conn, r.header
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	d := &groupDeletes{wait: groupWait{conn: id, seq: r.take(), header: h}, resp: resp, waiting: 1}
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		resp.Groups = append(resp.Groups, rg)
	}
	n.eachGroup(now, req.Groups, func(i int, name string, hc *hostedCoordinator) {
		d.waiting++
		hc.core.DeleteGroup(now, n.addGroupWait(groupWait{deletes: d, index: i}), name)
		n.afterGroup(now, hc)
	}, func(i int, _ string, code int16) {
		resp.Groups[i].ErrorCode = code
	})
	// The request's own count: its groups may all be answered already.
	if d.waiting--; d.waiting == 0 {
		n.respond(id, d.wait.seq, h, resp)
	}
}
