package replica

import (
	"encoding/binary"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/batch"
	"cairn/core/errcode"
	"cairn/replica/transport"
)

// Inter-broker request versions: Kafka's own protocol, as a Kafka broker
// would send it.
const (
	peerFetchVersion        = 12
	peerEpochQueryVersion   = 4
	peerAlterVersion        = 1
	peerRegisterVersion     = 3
	peerHeartbeatVersion    = 0
	peerCreateTopicsVersion = 7
	// peerFetchWait is how long a leader may hold a follower's fetch.
	peerFetchWait = 500 * time.Millisecond
	// peerBackoff is how long a broker waits before talking again to a
	// peer whose connection broke.
	peerBackoff = 200 * time.Millisecond
	// peerErrorBackoff is how long a broker waits after a peer answered
	// with an error before asking it again.
	peerErrorBackoff = 50 * time.Millisecond
	// peerFetchBytesMax bounds one partition of a follower's fetch.
	peerFetchBytesMax = 1 << 20
)

// PeerMessage is a request frame (size prefix included) for another broker.
// The driver delivers it to the peer on a connection of its choosing
// (responses are matched by correlation id, so several connections may
// serve one peer, which keeps a parked fetch from holding up others) and
// reports each response with PeerResponse, or a broken session with
// PeerDown.
type PeerMessage struct {
	To    int32
	Frame []byte
}

type callKind uint8

const (
	callFetch callKind = iota + 1
	callEpochQuery
	callAlter
	callRegister
	callHeartbeat
	callCreateTopics
	callAllocateProducerIDs
)

// peerCall is a request in flight to a peer.
type peerCall struct {
	kind       callKind
	request    kmsg.Request
	partitions []*partition
	// seqs are the partitions' fetch or query numbers: an answer applies
	// to a partition only while its number is still current.
	seqs []uint64
}

// peerSet is the node's side of its conversations with other brokers.
type peerSet struct {
	calls     map[int32]map[int32]*peerCall // peer → correlation id → call
	nextCorr  int32
	backoff   map[int32]time.Time // peer → no requests before
	retryAt   time.Time
	formatter *kmsg.RequestFormatter
	// registering and heartbeating say a registration or heartbeat to
	// the controller is in flight.
	registering, heartbeating bool
}

func newPeerSet() peerSet {
	return peerSet{calls: map[int32]map[int32]*peerCall{}, backoff: map[int32]time.Time{}}
}

// send encodes req for peer and records the call.
func (n *Node) send(peer int32, call *peerCall) {
	if n.peers.formatter == nil {
		n.peers.formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("cairn-broker-" + strconv.Itoa(int(n.config.NodeID))))
	}
	n.peers.nextCorr++
	corr := n.peers.nextCorr
	if n.peers.calls[peer] == nil {
		n.peers.calls[peer] = map[int32]*peerCall{}
	}
	n.peers.calls[peer][corr] = call
	frame := n.peers.formatter.AppendRequest(nil, call.request, corr)
	n.ready.PeerSends = append(n.ready.PeerSends, PeerMessage{To: peer, Frame: frame})
}

func (n *Node) peerAvailable(now time.Time, peer int32) bool {
	if peer < 0 || peer == n.config.NodeID {
		return false
	}
	until, ok := n.peers.backoff[peer]
	return !ok || !now.Before(until)
}

// pollPeers sends what followers need now: truncation queries and fetches,
// batched per leader. A partition has at most one of each in flight, so a
// fetch parked at one leader never holds up another partition.
func (n *Node) pollPeers(now time.Time) {
	if n.config.Standalone {
		return
	}
	fetches := map[int32]*kmsg.FetchRequest{}
	queries := map[int32]*kmsg.OffsetForLeaderEpochRequest{}
	fetchParts := map[int32][]*partition{}
	queryParts := map[int32][]*partition{}
	fetchSeqs := map[int32][]uint64{}
	querySeqs := map[int32][]uint64{}
	for _, name := range n.topicNames {
		for _, p := range n.topics[name].partitions {
			if p == nil || p.failed || p.core.Role() != core.RoleFollower {
				continue
			}
			leader := p.core.Leadership().Leader
			if !n.peerAvailable(now, leader) {
				continue
			}
			if q, ok := p.core.NextEpochQuery(); ok {
				addEpochQuery(queries, q, p)
				queryParts[leader] = append(queryParts[leader], p)
				querySeqs[leader] = append(querySeqs[leader], q.Seq)
				continue
			}
			if f, ok := p.core.NextFetch(); ok {
				n.addFetch(fetches, f, p)
				fetchParts[leader] = append(fetchParts[leader], p)
				fetchSeqs[leader] = append(fetchSeqs[leader], f.Seq)
			}
		}
	}
	for _, leader := range sortedKeys(queries) {
		n.send(leader, &peerCall{kind: callEpochQuery, request: queries[leader], partitions: queryParts[leader], seqs: querySeqs[leader]})
	}
	for _, leader := range sortedKeys(fetches) {
		n.send(leader, &peerCall{kind: callFetch, request: fetches[leader], partitions: fetchParts[leader], seqs: fetchSeqs[leader]})
	}
}

func addEpochQuery(queries map[int32]*kmsg.OffsetForLeaderEpochRequest, q core.EpochQuery, p *partition) {
	req := queries[q.Leader]
	if req == nil {
		req = kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.SetVersion(peerEpochQueryVersion)
		queries[q.Leader] = req
	}
	req.ReplicaID = p.core.Status().Replica
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.index, q.CurrentLeaderEpoch, q.Epoch
	if n := len(req.Topics); n > 0 && req.Topics[n-1].Topic == p.topic.name {
		req.Topics[n-1].Partitions = append(req.Topics[n-1].Partitions, rp)
		return
	}
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = p.topic.name
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
}

func (n *Node) addFetch(fetches map[int32]*kmsg.FetchRequest, f core.FollowerFetch, p *partition) {
	req := fetches[f.Leader]
	if req == nil {
		req = kmsg.NewPtrFetchRequest()
		req.SetVersion(peerFetchVersion)
		req.ReplicaID = n.config.NodeID
		req.MaxWaitMillis = int32(peerFetchWait / time.Millisecond)
		req.MinBytes = 1
		req.MaxBytes = 16 << 20
		req.SessionEpoch = -1
		fetches[f.Leader] = req
	}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch = p.index, f.FetchOffset, f.CurrentLeaderEpoch
	rp.LastFetchedEpoch, rp.PartitionMaxBytes = f.LastFetchedEpoch, peerFetchBytesMax
	if n := len(req.Topics); n > 0 && req.Topics[n-1].Topic == p.topic.name {
		req.Topics[n-1].Partitions = append(req.Topics[n-1].Partitions, rp)
		return
	}
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = p.topic.name
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
}

func sortedKeys[V any](m map[int32]V) []int32 {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// PeerResponse takes a response frame (without its size prefix) from peer.
func (n *Node) PeerResponse(now time.Time, peer int32, frame []byte) {
	if len(frame) < 4 {
		n.PeerDown(now, peer)
		return
	}
	corr := transport.ResponseCorrelation(frame)
	call, ok := n.peers.calls[peer][corr]
	if !ok {
		return // answered after the connection was given up
	}
	delete(n.peers.calls[peer], corr)
	resp := call.request.ResponseKind()
	resp.SetVersion(call.request.GetVersion())
	body, err := transport.ResponseBody(frame, resp)
	if err != nil {
		n.failCall(now, call)
		return
	}
	if err := transport.Decode(resp, body); err != nil {
		n.logger.Warn("undecodable peer response", "peer", peer, "api", kmsg.NameForKey(resp.Key()), "err", err)
		n.failCall(now, call)
		return
	}
	switch r := resp.(type) {
	case *kmsg.FetchResponse:
		if n.onPeerFetch(now, call, r) {
			n.backoffPeer(now, peer, peerErrorBackoff)
		}
	case *kmsg.OffsetForLeaderEpochResponse:
		if n.onPeerEpochQuery(now, call, r) {
			n.backoffPeer(now, peer, peerErrorBackoff)
		}
	case *kmsg.AlterPartitionResponse:
		n.onPeerAlter(now, call, r)
	case *kmsg.BrokerRegistrationResponse:
		n.peers.registering = false
		if r.ErrorCode != 0 {
			n.logger.Warn("broker registration refused", "err", kerr.ErrorForCode(r.ErrorCode))
		}
	case *kmsg.BrokerHeartbeatResponse:
		n.peers.heartbeating = false
	case *kmsg.AllocateProducerIDsResponse:
		n.onPeerAllocateProducerIDs(r)
	}
	n.pollPeers(now)
}

// PeerDown tells the node that its connection to peer broke: every request
// in flight there is lost, and the peer rests for a backoff.
func (n *Node) PeerDown(now time.Time, peer int32) {
	calls := n.peers.calls[peer]
	for _, corr := range sortedKeys(calls) {
		n.failCall(now, calls[corr])
	}
	delete(n.peers.calls, peer)
	n.backoffPeer(now, peer, peerBackoff)
}

// backoffPeer sends nothing new to peer for d. Errors from a peer (it is
// not the leader yet, an epoch it does not know) mean waiting for metadata
// to move, not asking again at once.
func (n *Node) backoffPeer(now time.Time, peer int32, d time.Duration) {
	until := now.Add(d)
	if until.After(n.peers.backoff[peer]) {
		n.peers.backoff[peer] = until
	}
	if n.peers.retryAt.IsZero() || until.Before(n.peers.retryAt) {
		n.peers.retryAt = until
	}
}

func (n *Node) failCall(now time.Time, call *peerCall) {
	switch call.kind {
	case callFetch:
		for i, p := range call.partitions {
			p.core.FetchFailed(call.seqs[i])
		}
	case callEpochQuery:
		for i, p := range call.partitions {
			p.core.EpochQueryFailed(call.seqs[i])
		}
	case callAlter:
		for _, p := range call.partitions {
			p.core.ProposalFailed(now)
			n.afterCore(now, p)
		}
	case callRegister:
		n.peers.registering = false
	case callHeartbeat:
		n.peers.heartbeating = false
	case callAllocateProducerIDs:
		n.producerIDCallFailed()
	}
}

// onPeerFetch appends what a leader sent, batch by batch, each checked again
// here (framing, CRC-32C, order) so that nothing corrupt is replicated.
// onPeerFetch applies a leader's answer to a follower fetch and reports
// whether any partition answered with an error.
func (n *Node) onPeerFetch(now time.Time, call *peerCall, r *kmsg.FetchResponse) (failed bool) {
	failed = r.ErrorCode != 0
	answered := map[*partition]bool{}
	for i := range r.Topics {
		rt := &r.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			p := n.partition(rt.Topic, rp.Partition)
			k := callIndex(call.partitions, p)
			if p == nil || k < 0 || answered[p] {
				continue
			}
			answered[p] = true
			seq := call.seqs[k]
			if !p.core.FetchCurrent(seq) {
				continue // answered by a leader this follower has since left
			}
			code := errcode.Code(rp.ErrorCode)
			if code == errcode.None {
				code = n.replicate(now, p, rp.RecordBatches)
			}
			failed = failed || code != errcode.None
			p.core.FetchAnswered(seq, rp.HighWatermark, code)
			n.afterCore(now, p)
		}
	}
	for k, p := range call.partitions {
		if !answered[p] {
			p.core.FetchFailed(call.seqs[k])
		}
	}
	return failed
}

// replicate appends fetched batches to a follower's log, each as the core
// decides (Partition.AcceptFetched) from its header and CRC verdict.
func (n *Node) replicate(now time.Time, p *partition, b []byte) errcode.Code {
	for len(b) > 0 && !p.failed {
		total, complete, err := batch.Frame(b)
		if err != nil || !complete {
			return errcode.None // a partial trailing batch comes whole next time
		}
		one := b[:total]
		b = b[total:]
		h, decision := n.acceptFetched(p, one)
		switch decision.Action {
		case core.ReplicateSkip:
			continue
		case core.ReplicateStop:
			return errcode.None
		case core.ReplicateReject:
			return decision.Code
		}
		segments := p.log.SegmentCount()
		if err := p.log.Append(one, now); err != nil {
			n.failPartition(p, "replicate", err)
			return errcode.KafkaStorageError
		}
		p.producers.Append(producerBatch(&h), h.BaseOffset, h.LastOffset(), now)
		if p.log.SegmentCount() != segments {
			n.snapshotProducers(p)
		}
		p.core.Replicated(h.BaseOffset, h.LastOffset(), h.LeaderEpoch)
	}
	return errcode.None
}

// acceptFetched reads one fetched batch's header and CRC and asks the
// core what to do with it, logging a refusal the core gives a reason for.
func (n *Node) acceptFetched(p *partition, one []byte) (batch.Header, core.ReplicateDecision) {
	fetched := core.FetchedBatch{CRCValid: batch.CheckCRC(one) == nil}
	var h batch.Header
	if fetched.CRCValid {
		h, _ = batch.ParseHeader(one)
		fetched.BaseOffset, fetched.LastOffset, fetched.LeaderEpoch = h.BaseOffset, h.LastOffset(), h.LeaderEpoch
	}
	decision := p.core.AcceptFetched(fetched)
	switch {
	case decision.Reason == "":
	case fetched.CRCValid:
		n.logger.Error(decision.Reason, "topic", p.topic.name, "partition", p.index,
			"epoch", h.LeaderEpoch, "leader-epoch", p.core.LeaderEpoch())
	default:
		n.logger.Error(decision.Reason, "topic", p.topic.name, "partition", p.index)
	}
	return h, decision
}

// callIndex finds p among a call's partitions, or -1.
func callIndex(ps []*partition, p *partition) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return -1
}

func (n *Node) onPeerEpochQuery(now time.Time, call *peerCall, r *kmsg.OffsetForLeaderEpochResponse) (failed bool) {
	answered := map[*partition]bool{}
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			p := n.partition(rt.Topic, rp.Partition)
			k := callIndex(call.partitions, p)
			if p == nil || k < 0 || answered[p] {
				continue
			}
			answered[p] = true
			failed = failed || rp.ErrorCode != 0
			p.core.EpochQueryAnswered(call.seqs[k], rp.LeaderEpoch, rp.EndOffset, errcode.Code(rp.ErrorCode))
			n.afterCore(now, p)
		}
	}
	for k, p := range call.partitions {
		if !answered[p] {
			p.core.EpochQueryFailed(call.seqs[k])
		}
	}
	return failed
}

// proposeISR sends a leader's ISR change to the active controller: its
// own, or the controller broker's.
func (n *Node) proposeISR(now time.Time, p *partition, proposal *core.ISRProposal) {
	if c := n.meta.active; c != nil {
		if err := c.AlterPartition(now, p.topic.name, p.index, n.config.NodeID, proposal.LeaderEpoch, proposal.PartitionEpoch, proposal.ISR); err != nil {
			n.logger.Debug("AlterPartition refused", "topic", p.topic.name, "partition", p.index, "isr", proposal.ISR, "err", err.Message)
			p.core.ProposalFailed(now)
			return
		}
		// Success arrives through the metadata log once the proposal
		// commits; until then the controller may be dropped, and the
		// proposal with it (dropController fails it).
		n.meta.alters = append(n.meta.alters, pendingAlter{seq: n.meta.proposalSeq + 1, partition: partitionKey{p.topic.name, p.index}})
		if n.commitController(now) == 0 {
			// Nothing to commit: the controller's ISR already is the one
			// asked for, and no change will come back to clear the
			// proposal.
			n.meta.alters = n.meta.alters[:len(n.meta.alters)-1]
			p.core.ProposalFailed(now)
		}
		return
	}
	controllerID := n.meta.controllerID
	if !n.peerAvailable(now, controllerID) {
		p.core.ProposalFailed(now)
		return
	}
	req := kmsg.NewPtrAlterPartitionRequest()
	req.SetVersion(peerAlterVersion)
	req.BrokerID, req.BrokerEpoch = n.config.NodeID, n.meta.incarnation
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic = p.topic.name
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = p.index, proposal.LeaderEpoch, proposal.PartitionEpoch, proposal.ISR
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	n.send(controllerID, &peerCall{kind: callAlter, request: req, partitions: []*partition{p}})
}

func (n *Node) onPeerAlter(now time.Time, call *peerCall, r *kmsg.AlterPartitionResponse) {
	failed := r.ErrorCode != 0
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				failed = true
			}
		}
	}
	if failed {
		for _, p := range call.partitions {
			p.core.ProposalFailed(now)
			n.afterCore(now, p)
		}
	}
	// On success the change arrives through the metadata log.
}

// sendHeartbeat registers this broker with a remote controller or keeps
// its session alive.
func (n *Node) sendHeartbeat(now time.Time) {
	controllerID := n.meta.controllerID
	if !n.peerAvailable(now, controllerID) {
		return
	}
	if b, ok := n.meta.image.Broker(n.config.NodeID); !ok || b.Incarnation != n.meta.incarnation {
		if n.peers.registering {
			return
		}
		n.peers.registering = true
		req := kmsg.NewPtrBrokerRegistrationRequest()
		req.SetVersion(peerRegisterVersion)
		req.BrokerID, req.ClusterID = n.config.NodeID, n.clusterID
		binary.BigEndian.PutUint64(req.IncarnationID[:8], uint64(n.meta.incarnation))
		listener := kmsg.NewBrokerRegistrationRequestListener()
		listener.Name, listener.Host, listener.Port = "PLAINTEXT", n.config.AdvertisedHost, uint16(n.config.AdvertisedPort)
		req.Listeners = append(req.Listeners, listener)
		if n.config.Rack != "" {
			rack := n.config.Rack
			req.Rack = &rack
		}
		req.LogDirs = [][16]byte{n.directoryID}
		req.PreviousBrokerEpoch = -1
		if n.cleanShutdown {
			req.PreviousBrokerEpoch = 0
		}
		n.send(controllerID, &peerCall{kind: callRegister, request: req})
		return
	}
	if n.peers.heartbeating {
		return
	}
	n.peers.heartbeating = true
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.SetVersion(peerHeartbeatVersion)
	req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset = n.config.NodeID, n.meta.incarnation, int64(n.meta.applied)
	n.send(controllerID, &peerCall{kind: callHeartbeat, request: req})
}

// forwardCreateTopic asks the controller broker to auto-create a topic.
func (n *Node) forwardCreateTopic(now time.Time, name string) {
	controllerID := n.meta.controllerID
	if !n.peerAvailable(now, controllerID) {
		return
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(peerCreateTopicsVersion)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	n.send(controllerID, &peerCall{kind: callCreateTopics, request: req})
}

// expireBackoff forgets backoffs that have ended and sets retryAt to the
// next one still running, so that the node's deadline never stays in the
// past.
func (s *peerSet) expireBackoff(now time.Time) {
	s.retryAt = time.Time{}
	for _, peer := range sortedKeys(s.backoff) {
		until := s.backoff[peer]
		if !now.Before(until) {
			delete(s.backoff, peer)
			continue
		}
		if s.retryAt.IsZero() || until.Before(s.retryAt) {
			s.retryAt = until
		}
	}
}
