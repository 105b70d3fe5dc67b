package specs

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"cairn/core"
	"cairn/core/errcode"
)

// replicaCore is the harness's one contact with core.Partition: every call
// the harness makes into a replica's core goes through here, so that a
// change of the core's API touches this file alone.
//
// Besides forwarding, it keeps what the explorer needs to tell states apart
// that Status does not show: the leader's view of each follower's fetch
// offset, the ISR proposal backoff, and which requests the core still
// waits for. It learns them only from the calls it forwards (never from the
// core's insides), and it uses them only to name states for pruning; every
// check runs on the core's own answers.
type replicaCore struct {
	p *core.Partition
	// followerOffsets is, as leader in this epoch, each follower's last
	// accepted fetch offset (-1: none yet), indexed by replica.
	followerOffsets []int64
	// backoffUntil is when a refused ISR proposal may be made again.
	backoffUntil time.Time
	// fetchSeq and querySeq are the latest requests the core handed out
	// that it still waits for (0: none).
	fetchSeq, querySeq uint64
}

func openReplicaCore(config core.PartitionConfig, replicas int, log []logRecord, durable int64,
	epochs []core.EpochEntry) *replicaCore {
	end := int64(len(log))
	r := &replicaCore{p: core.NewPartition(config, core.LogState{EndOffset: end, DurableOffset: durable}, slices.Clone(epochs))}
	r.followerOffsets = make([]int64, replicas)
	r.resetView()
	return r
}

func (r *replicaCore) resetView() {
	for i := range r.followerOffsets {
		r.followerOffsets[i] = -1
	}
	r.fetchSeq, r.querySeq = 0, 0
}

// setLeadership applies the controller's decision. A new epoch or role
// starts the core afresh as leader or follower: it forgets its followers'
// progress and every request it had in flight.
func (r *replicaCore) setLeadership(now time.Time, l core.Leadership) {
	role, epoch := r.p.Role(), r.p.LeaderEpoch()
	r.p.SetLeadership(now, l)
	if r.p.Role() != role || r.p.LeaderEpoch() != epoch {
		r.resetView()
	}
}

func (r *replicaCore) status() core.PartitionStatus        { return r.p.Status() }
func (r *replicaCore) role() core.Role                     { return r.p.Role() }
func (r *replicaCore) leaderEpoch() int32                  { return r.p.LeaderEpoch() }
func (r *replicaCore) endOffset() int64                    { return r.p.EndOffset() }
func (r *replicaCore) highWatermark() int64                { return r.p.HighWatermark() }
func (r *replicaCore) epochs() []core.EpochEntry           { return slices.Clone(r.p.Epochs()) }
func (r *replicaCore) hasReady() bool                      { return r.p.HasReady() }
func (r *replicaCore) ready() core.PartitionReady          { return r.p.Ready() }
func (r *replicaCore) advance()                            { r.p.Advance() }
func (r *replicaCore) truncatedTo(end int64)               { r.p.TruncatedTo(end) }
func (r *replicaCore) synced(offset int64)                 { r.p.Synced(offset) }
func (r *replicaCore) tick(now time.Time)                  { r.p.Tick(now) }
func (r *replicaCore) checkEpoch(epoch int32) errcode.Code { return r.p.CheckEpoch(epoch) }

func (r *replicaCore) proposalFailed(now time.Time) {
	r.p.ProposalFailed(now)
	r.backoffUntil = now.Add(500 * time.Millisecond)
}

// produce checks and appends one record as the leader's driver does; it
// returns the offset and epoch the record was written at.
func (r *replicaCore) produce(token core.Token, acks core.Acks) (int64, int32, errcode.Code) {
	base, epoch, code := r.p.CheckProduce(acks)
	if code == errcode.None {
		r.p.Appended(token, acks, base, base)
	}
	return base, epoch, code
}

// serveFetch is the leader's side of a follower fetch.
func (r *replicaCore) serveFetch(now time.Time, follower int32, f core.FollowerFetch) errcode.Code {
	code := r.p.FetchFromFollower(now, follower, f.FetchOffset, f.CurrentLeaderEpoch)
	if code == errcode.None {
		r.followerOffsets[follower] = f.FetchOffset
	}
	return code
}

// serveQuery is the leader's side of OffsetForLeaderEpoch.
func (r *replicaCore) serveQuery(q core.EpochQuery) (int32, int64, errcode.Code) {
	return r.p.EpochEndOffset(q.CurrentLeaderEpoch, q.Epoch)
}

// nextRequest returns the request the follower's core wants sent now.
func (r *replicaCore) nextRequest() (*clusterRequest, bool) {
	if q, ok := r.p.NextEpochQuery(); ok {
		r.querySeq = q.Seq
		return &clusterRequest{query: true, q: q}, true
	}
	if f, ok := r.p.NextFetch(); ok {
		r.fetchSeq = f.Seq
		return &clusterRequest{f: f}, true
	}
	return nil, false
}

// current reports whether the core still waits for req's answer.
func (r *replicaCore) current(req *clusterRequest) bool {
	if req.query {
		return req.q.Seq == r.querySeq
	}
	return req.f.Seq == r.fetchSeq && r.p.FetchCurrent(req.f.Seq)
}

func (r *replicaCore) requestFailed(req *clusterRequest) {
	if req.query {
		r.p.EpochQueryFailed(req.q.Seq)
		r.querySeq = 0
		return
	}
	r.p.FetchFailed(req.f.Seq)
	r.fetchSeq = 0
}

func (r *replicaCore) queryAnswered(q core.EpochQuery, epoch int32, end int64, code errcode.Code) {
	if q.Seq == r.querySeq {
		r.querySeq = 0
	}
	r.p.EpochQueryAnswered(q.Seq, epoch, end, code)
}

// replicate appends fetched records at the follower with the checks the
// driver makes (replica/peers.go): records go only in order, and a record
// whose epoch is older than the follower's latest, or newer than the epoch
// it follows, is refused as a storage error. It returns how many it took
// and the code to end the fetch with.
func (r *replicaCore) replicate(from int64, records []logRecord) (int, errcode.Code) {
	taken := 0
	for i, rec := range records {
		offset := from + int64(i)
		if offset < r.p.EndOffset() {
			continue
		}
		if rec.epoch < latestEpoch(r.p.Epochs()) || rec.epoch > r.p.LeaderEpoch() {
			return taken, errcode.KafkaStorageError
		}
		if !r.p.CheckReplicate(offset) {
			return taken, errcode.OffsetOutOfRange
		}
		r.p.Replicated(offset, offset, rec.epoch)
		taken++
	}
	return taken, errcode.None
}

func (r *replicaCore) fetchCurrent(f core.FollowerFetch) bool { return r.p.FetchCurrent(f.Seq) }

func (r *replicaCore) fetchAnswered(f core.FollowerFetch, hw int64, code errcode.Code) {
	if f.Seq == r.fetchSeq {
		r.fetchSeq = 0
	}
	r.p.FetchAnswered(f.Seq, hw, code)
}

func latestEpoch(entries []core.EpochEntry) int32 {
	if len(entries) == 0 {
		return -1
	}
	return entries[len(entries)-1].Epoch
}

// signature names the core's state beyond Status, for pruning.
func (r *replicaCore) signature(now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "epochs=%v view=%v backoff=%t", r.p.Epochs(), r.followerOffsets, now.Before(r.backoffUntil))
	return b.String()
}
