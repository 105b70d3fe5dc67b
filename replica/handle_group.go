package replica

import (
	"time"

	"cairn/core"

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
func (n *Node) handleFindCoordinator(now time.Time, req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.Version < 4 {
		code, nodeID, host, port := n.findCoordinator(now, req.CoordinatorType, req.CoordinatorKey)
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = code, nodeID, host, port
		if code != 0 {
			message := kerr.ErrorForCode(code).Error()
			resp.ErrorMessage = &message
		}
		return resp
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
	return resp
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

func (n *Node) handleJoinGroup(now time.Time, id ConnID, c *conn, h requestHeader, req *kmsg.JoinGroupRequest) {
	hc, code := n.coordinatorFor(now, req.Group)
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = code, -1, req.MemberID
		n.respond(id, c.take(), h, resp)
		return
	}
	hc.core.JoinGroup(now, n.groupToken(id, c, h), req, h.clientID, "/"+n.config.AdvertisedHost)
	n.afterGroup(now, hc)
}

func (n *Node) handleSyncGroup(now time.Time, id ConnID, c *conn, h requestHeader, req *kmsg.SyncGroupRequest) {
	hc, code := n.coordinatorFor(now, req.Group)
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		n.respond(id, c.take(), h, resp)
		return
	}
	hc.core.SyncGroup(now, n.groupToken(id, c, h), req)
	n.afterGroup(now, hc)
}

func (n *Node) handleHeartbeat(now time.Time, id ConnID, c *conn, h requestHeader, req *kmsg.HeartbeatRequest) {
	hc, code := n.coordinatorFor(now, req.Group)
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		n.respond(id, c.take(), h, resp)
		return
	}
	hc.core.Heartbeat(now, n.groupToken(id, c, h), req)
	n.afterGroup(now, hc)
}

func (n *Node) handleLeaveGroup(now time.Time, id ConnID, c *conn, h requestHeader, req *kmsg.LeaveGroupRequest) {
	hc, code := n.coordinatorFor(now, req.Group)
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		n.respond(id, c.take(), h, resp)
		return
	}
	hc.core.LeaveGroup(now, n.groupToken(id, c, h), req)
	n.afterGroup(now, hc)
}

func (n *Node) handleOffsetCommit(now time.Time, id ConnID, c *conn, h requestHeader, req *kmsg.OffsetCommitRequest) {
	hc, code := n.coordinatorFor(now, req.Group)
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			respTopic := kmsg.NewOffsetCommitResponseTopic()
			respTopic.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				respPart := kmsg.NewOffsetCommitResponseTopicPartition()
				respPart.Partition, respPart.ErrorCode = rp.Partition, code
				respTopic.Partitions = append(respTopic.Partitions, respPart)
			}
			resp.Topics = append(resp.Topics, respTopic)
		}
		n.respond(id, c.take(), h, resp)
		return
	}
	if req.Version == 0 {
		// v0 carries no generation: it is a commit from outside the
		// group, as kmsg leaves the field's default of -1.
		req.Generation = -1
	}
	hc.core.OffsetCommit(now, n.groupToken(id, c, h), req, n.partitionKnown)
	n.afterGroup(now, hc)
}

// handleOffsetFetch answers from the coordinators' committed offsets: -1
// for a partition without a commit, every committed partition when the
// request names no topics. RequireStable (v7+, KIP-447) asks for
// UNSTABLE_OFFSET_COMMIT where a transaction's offset commit is pending;
// Cairn has no transactions, and a plain commit becomes visible only once
// it is written, so every offset answered is stable.
func (n *Node) handleOffsetFetch(now time.Time, req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		var topics []kmsg.OffsetFetchRequestGroupTopic
		if req.Topics != nil {
			topics = make([]kmsg.OffsetFetchRequestGroupTopic, len(req.Topics))
			for i, rt := range req.Topics {
				topics[i] = kmsg.OffsetFetchRequestGroupTopic{Topic: rt.Topic, Partitions: rt.Partitions}
			}
		}
		g := n.offsetFetchGroup(now, req.Group, topics, req.Topics == nil && req.Version >= 2)
		resp.ErrorCode = g.ErrorCode
		for _, gt := range g.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		if req.Version < 2 && g.ErrorCode != 0 {
			// v0 and v1 have no top-level error: each partition carries it.
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					resp.Topics[i].Partitions[j].ErrorCode = g.ErrorCode
				}
			}
		}
		return resp
	}
	for _, rg := range req.Groups {
		if req.Version >= 9 {
			if hc, code := n.coordinatorFor(now, rg.Group); code == 0 {
				if code := hc.core.CheckOffsetFetch(rg.Group, rg.MemberID, rg.MemberEpoch); code != 0 {
					out := kmsg.NewOffsetFetchResponseGroup()
					out.Group, out.ErrorCode = rg.Group, code
					resp.Groups = append(resp.Groups, out)
					continue
				}
			}
		}
		resp.Groups = append(resp.Groups, n.offsetFetchGroup(now, rg.Group, rg.Topics, rg.Topics == nil))
	}
	return resp
}

func (n *Node) offsetFetchGroup(now time.Time, groupID string, topics []kmsg.OffsetFetchRequestGroupTopic, all bool) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = groupID
	hc, code := n.coordinatorFor(now, groupID)
	if code != 0 {
		out.ErrorCode = code
		for _, rt := range topics {
			gt := kmsg.NewOffsetFetchResponseGroupTopic()
			gt.Topic = rt.Topic
			for _, partition := range rt.Partitions {
				gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				gp.Partition, gp.Offset, gp.ErrorCode = partition, -1, code
				gt.Partitions = append(gt.Partitions, gp)
			}
			out.Topics = append(out.Topics, gt)
		}
		return out
	}
	if all {
		for _, o := range hc.core.AllCommitted(groupID) {
			if len(out.Topics) == 0 || out.Topics[len(out.Topics)-1].Topic != o.Topic {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic = o.Topic
				out.Topics = append(out.Topics, gt)
			}
			gt := &out.Topics[len(out.Topics)-1]
			gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			metadata := o.Metadata
			gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata = o.Partition, o.Offset, o.LeaderEpoch, &metadata
			gt.Partitions = append(gt.Partitions, gp)
		}
		return out
	}
	for _, rt := range topics {
		gt := kmsg.NewOffsetFetchResponseGroupTopic()
		gt.Topic = rt.Topic
		for _, partition := range rt.Partitions {
			gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			gp.Partition, gp.Offset, gp.LeaderEpoch = partition, -1, -1
			if o, ok := hc.core.Committed(groupID, rt.Topic, partition); ok {
				metadata := o.Metadata
				gp.Offset, gp.LeaderEpoch, gp.Metadata = o.Offset, o.LeaderEpoch, &metadata
			} else {
				empty := ""
				gp.Metadata = &empty
			}
			gt.Partitions = append(gt.Partitions, gp)
		}
		out.Topics = append(out.Topics, gt)
	}
	return out
}

func (n *Node) handleOffsetDelete(now time.Time, id ConnID, c *conn, h requestHeader, req *kmsg.OffsetDeleteRequest) {
	hc, code := n.coordinatorFor(now, req.Group)
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = code
		n.respond(id, c.take(), h, resp)
		return
	}
	hc.core.OffsetDelete(now, n.groupToken(id, c, h), req)
	n.afterGroup(now, hc)
}

// handleListGroups lists the groups of the coordinators this broker runs;
// clients ask every broker and merge.
func (n *Node) handleListGroups(now time.Time, req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if _, ok := n.meta.image.Topic(offsetsTopic); !ok {
		return resp
	}
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
	return resp
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

func (n *Node) handleDescribeGroups(now time.Time, req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		hc, code := n.coordinatorFor(now, name)
		if code != 0 {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode = name, code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg := hc.core.DescribeGroup(name)
		if req.Version < 6 {
			dg.ErrorMessage = nil
		}
		if req.Version >= 6 && dg.State == "Dead" {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// handleDeleteGroups deletes empty groups. Each group is answered once its
// tombstones commit (or their write fails), and the response goes out when
// every group named is answered.
func (n *Node) handleDeleteGroups(now time.Time, id ConnID, c *conn, h requestHeader, req *kmsg.DeleteGroupsRequest) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	d := &groupDeletes{wait: groupWait{conn: id, seq: c.take(), header: h}, resp: resp, waiting: 1}
	for i, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		resp.Groups = append(resp.Groups, rg)
		hc, code := n.coordinatorFor(now, name)
		if code != 0 {
			resp.Groups[i].ErrorCode = code
			continue
		}
		d.waiting++
		hc.core.DeleteGroup(now, n.addGroupWait(groupWait{deletes: d, index: i}), name)
		n.afterGroup(now, hc)
	}
	// The request's own count: its groups may all be answered already.
	if d.waiting--; d.waiting == 0 {
		n.respond(id, d.wait.seq, h, resp)
	}
}

// handleConsumerGroupHeartbeat hands a KIP-848 heartbeat to the group's
// coordinator, after giving it the current topics.
func (n *Node) handleConsumerGroupHeartbeat(now time.Time, id ConnID, c *conn, h requestHeader, req *kmsg.ConsumerGroupHeartbeatRequest) {
	hc, code := n.coordinatorFor(now, req.Group)
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code
		n.respond(id, c.take(), h, resp)
		return
	}
	n.updateCoordinatorTopics(now, hc)
	hc.core.ConsumerGroupHeartbeat(now, n.groupToken(id, c, h), req, h.clientID, "/"+n.config.AdvertisedHost)
	n.afterGroup(now, hc)
}

// handleConsumerGroupDescribe describes consumer-protocol groups, each
// from its coordinator here.
func (n *Node) handleConsumerGroupDescribe(now time.Time, req *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, name := range req.Groups {
		hc, code := n.coordinatorFor(now, name)
		if code != 0 {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group, dg.ErrorCode = name, code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		if name == "" {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.ErrorCode = kerr.InvalidGroupID.Code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		n.updateCoordinatorTopics(now, hc)
		resp.Groups = append(resp.Groups, hc.core.ConsumerGroupDescribe(name))
	}
	return resp
}
