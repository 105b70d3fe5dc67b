package replica

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/group"
)

// Routing of coordinator requests. A group's requests are answered by the
// broker that leads the group's partition of __consumer_offsets; any other
// broker answers with an error (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
// ...) for the client to find the coordinator again. Every coordinator-routed
// handler goes through route, with its own lookup: groups now, and in the
// same way transaction and share-group coordinators. A request that names
// several groups (DescribeGroups, DeleteGroups, OffsetFetch v8+,
// ConsumerGroupDescribe) is not refused as a whole: eachGroup calls the same
// lookup for each group, and the group's error goes in the group's own slot,
// as Kafka answers them.

// route finds the coordinator that serves key through lookup. Where there
// is none here, it answers r with refuse(code) and reports false.
func route[C any](n *Node, r *request, lookup func(now time.Time, key string) (C, int16), key string, refuse func(code int16) kmsg.Response) (C, bool) {
	coordinator, code := lookup(r.now, key)
	if code != 0 {
		n.answer(r, refuse(code))
		var none C
		return none, false
	}
	return coordinator, true
}

// toGroup routes a request to its group's coordinator, hands it over with
// serve under the token its answer will come back with, and runs what the
// coordinator asks for; elsewhere it is answered by refuse.
func (n *Node) toGroup(r *request, groupID string, refuse func(code int16) kmsg.Response, serve func(hc *hostedCoordinator, token group.Token)) {
	hc, ok := route(n, r, n.coordinatorFor, groupID, refuse)
	if !ok {
		return
	}
	serve(hc, n.groupToken(r))
	n.afterGroup(r.now, hc)
}

// eachGroup routes each group a multi-group request names: serve is called
// for the groups coordinated here, refuse with the routing error for the
// rest, in the request's order.
func (n *Node) eachGroup(now time.Time, names []string, serve func(i int, name string, hc *hostedCoordinator), refuse func(i int, name string, code int16)) {
	for i, name := range names {
		if hc, code := n.coordinatorFor(now, name); code != 0 {
			refuse(i, name, code)
		} else {
			serve(i, name, hc)
		}
	}
}

// loadIndex loads the coordinator of one partition by a group that maps
// to it.
func (n *Node) loadIndex(now time.Time, index int32) (*hostedCoordinator, int16) {
	p := n.partition(offsetsTopic, index)
	if p == nil || p.failed || p.core.Role() != core.RoleLeader {
		return nil, kerr.NotCoordinator.Code
	}
	if hc := n.groups.coordinators[index]; hc != nil {
		if hc.partition == p && hc.epoch == p.core.LeaderEpoch() && !hc.core.Diverged() {
			return hc, 0
		}
		n.closeCoordinator(now, index)
	}
	hc, err := n.loadCoordinator(now, p)
	if err != nil {
		n.logger.Error("loading groups", "partition", index, "err", err)
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	n.initGroups()
	n.groups.coordinators[index] = hc
	n.updateCoordinatorTopics(now, hc)
	return hc, 0
}
