package core

import (
	"cairn/core/errcode"
	"fmt"
	"slices"
	"time"

	"cairn/core/mutant"
)

// DurabilityMode says what a replica must have done with a record before it
// counts toward acknowledging it.
type DurabilityMode uint8

const (
	// DurableAcks is the default: a record counts only once it is synced to
	// disk, so an acknowledged record survives power loss of every replica
	// that counted it.
	DurableAcks DurabilityMode = iota
	// ReplicationAcks is Kafka's mode (flush=replication): a record counts as
	// soon as it is in the replica's page cache. Faster, and lossy under
	// correlated power loss; docs/DURABILITY.md walks through exactly how.
	ReplicationAcks
)

// String names the mode as the configuration spells it.
func (m DurabilityMode) String() string {
	switch m {
	case DurableAcks:
		return "durable"
	case ReplicationAcks:
		return "replication"
	}
	return fmt.Sprintf("DurabilityMode(%d)", uint8(m))
}

// Acks is the producer's acks setting: 0, 1 or -1 (all in-sync replicas).
type Acks int16

// Token identifies one waiting produce to the driver. The core never looks
// inside it; it only hands it back in an Ack.
type Token uint64

// PartitionConfig fixes what a partition replica is and how it acknowledges.
type PartitionConfig struct {
	Topic     string
	Partition int32
	// ReplicaID is the broker this replica lives on.
	ReplicaID  int32
	Durability DurabilityMode
	// MinInsyncReplicas is min.insync.replicas: the smallest ISR that may
	// acknowledge acks=all.
	MinInsyncReplicas int
	// ReplicaLagMax is replica.lag.time.max.ms: a follower that has not
	// caught up for this long leaves the ISR.
	ReplicaLagMax time.Duration
}

// Role is what a replica does for its partition.
type Role uint8

const (
	// RoleNone: not assigned, or the partition has no leader.
	RoleNone Role = iota
	RoleLeader
	RoleFollower
)

func (r Role) String() string {
	return [...]string{"none", "leader", "follower"}[r]
}

// Leadership is the partition's state as the controller decided it: who
// leads, in which epoch, and who is in sync.
type Leadership struct {
	Leader         int32 // -1: no leader
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// LogState is what the driver's log storage reports about itself at open.
type LogState struct {
	StartOffset   int64 // first offset still in the log
	EndOffset     int64 // log end offset (LEO): the next offset to assign
	DurableOffset int64 // every offset below it is synced
}

// Ack completes a produce that was waiting for its records to be committed.
type Ack struct {
	Token      Token
	BaseOffset int64
	Error      errcode.Code
}

// ISRProposal asks the controller to change the ISR (Kafka's
// AlterPartition). The leader proposes; only the committed metadata record,
// arriving back through SetLeadership, changes the ISR.
type ISRProposal struct {
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// PartitionReady is what the partition asks the driver to do, in field
// order: truncate the log first, then checkpoint the epoch cache, start a
// sync, send the acknowledgments (which already satisfy the durability
// mode), propose the ISR change, wake fetches.
type PartitionReady struct {
	// Truncate, when >= 0, asks the driver to cut the log at that offset
	// (a follower diverged from its new leader). The core has already
	// moved its own offsets.
	Truncate int64
	// EpochsChanged asks the driver to checkpoint Epochs().
	EpochsChanged bool
	// SyncWanted asks the driver to make the log durable up to its end; the
	// driver coalesces requests (group commit).
	SyncWanted bool
	// Acks are produce responses that may be sent now.
	Acks []Ack
	// Proposal, when not nil, is an ISR change to send to the controller.
	Proposal *ISRProposal
	// HighWatermarkAdvanced and EndAdvanced tell the driver to wake fetches
	// waiting on this partition: consumers wait for the high watermark,
	// followers for new records.
	HighWatermarkAdvanced bool
	EndAdvanced           bool
}

// waiter is a produce waiting for its records to commit.
type waiter struct {
	token      Token
	acks       Acks
	baseOffset int64
	lastOffset int64
}

// followerState is what a leader knows of one follower.
type followerState struct {
	replica int32
	// fetchOffset is the offset the follower last fetched from: it holds
	// every record below it — durably, in the durable mode, because a
	// follower fetches again only after its sync. -1 until it fetches in
	// this leader epoch.
	fetchOffset int64
	// lastCaughtUp is when the follower last fetched from at least the
	// log end the leader had at its previous fetch.
	lastCaughtUp       time.Time
	leaderEndLastFetch int64
}

// FollowerFetch is what a follower asks its leader for next.
type FollowerFetch struct {
	Seq                uint64
	Leader             int32
	FetchOffset        int64
	CurrentLeaderEpoch int32
	LastFetchedEpoch   int32
}

// EpochQuery is the OffsetForLeaderEpoch a new follower sends to learn
// where its log diverges from the leader's.
type EpochQuery struct {
	Seq                uint64
	Leader             int32
	CurrentLeaderEpoch int32
	Epoch              int32
}

// Partition is one replica of one partition: the offsets that define what is
// written, durable and committed; as leader, the followers' progress and
// the ISR; as follower, the fetch and truncation protocol; and the produces
// waiting on all of it.
//
// Offsets obey, at every step:
//
//	StartOffset <= HighWatermark <= EndOffset, DurableOffset <= EndOffset
//	HighWatermark <= DurableOffset                    (durable mode)
//
// and the high watermark never moves backwards while the replica lives.
type Partition struct {
	config        PartitionConfig
	role          Role
	leadership    Leadership
	epochs        EpochCache
	startOffset   int64
	endOffset     int64
	durableOffset int64
	highWatermark int64
	waiters       []waiter
	// Leader state.
	followers []followerState
	proposal  *ISRProposal // in flight to the controller
	// Follower state. fetchSeq and querySeq number the requests this
	// follower sends; an answer to any but the latest in flight is stale
	// (a leadership change happened since) and is ignored.
	truncating    bool
	queryInFlight bool
	fetchInFlight bool
	fetchSeq      uint64
	querySeq      uint64
	// awaitingTruncate holds fetching until the driver has cut the log
	// where Ready.Truncate asked (it may have to wait for a sync).
	awaitingTruncate bool
	// proposalBackoff holds off a new ISR proposal after a refused one, so
	// that a leader does not re-propose on every follower fetch.
	proposalBackoff time.Time
	ready           PartitionReady
}

// NewPartition builds a replica from its recovered log and epoch cache. It
// starts in RoleNone: SetLeadership gives it a role. After a restart the
// high watermark restarts at what this replica alone can vouch for.
func NewPartition(config PartitionConfig, log LogState, epochs []EpochEntry) *Partition {
	if config.MinInsyncReplicas < 1 {
		config.MinInsyncReplicas = 1
	}
	p := &Partition{
		config:        config,
		startOffset:   log.StartOffset,
		endOffset:     log.EndOffset,
		durableOffset: log.DurableOffset,
		epochs:        NewEpochCache(epochs),
		leadership:    Leadership{Leader: -1, LeaderEpoch: -1},
	}
	// A checkpoint may know epochs whose records a crash took.
	if p.epochs.TruncateFrom(p.endOffset) {
		p.ready.EpochsChanged = true
	}
	p.ready.Truncate = -1
	p.highWatermark = min(p.localCommittable(), p.startOffset)
	p.assertInvariants()
	return p
}

// Topic returns the partition's topic name.
func (p *Partition) Topic() string { return p.config.Topic }

// Index returns the partition number.
func (p *Partition) Index() int32 { return p.config.Partition }

// Role returns what the replica does now.
func (p *Partition) Role() Role { return p.role }

// Leadership returns the controller's latest decision as this replica knows it.
func (p *Partition) Leadership() Leadership { return p.leadership }

// LeaderEpoch returns the current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.leadership.LeaderEpoch }

// EpochAt returns the leader epoch that wrote offset, as the epoch cache
// knows it (-1: unknown).
func (p *Partition) EpochAt(offset int64) int32 { return p.epochs.EpochAt(offset) }

// Epochs returns the leader epoch cache, for checkpointing.
func (p *Partition) Epochs() []EpochEntry { return p.epochs.Entries() }

// StartOffset returns the log start offset.
func (p *Partition) StartOffset() int64 { return p.startOffset }

// EndOffset returns the log end offset.
func (p *Partition) EndOffset() int64 { return p.endOffset }

// DurableOffset returns the offset below which the log is synced.
func (p *Partition) DurableOffset() int64 { return p.durableOffset }

// HighWatermark returns the offset below which records are committed and
// visible to consumers.
func (p *Partition) HighWatermark() int64 { return p.highWatermark }

// SetLeadership applies the controller's decision for this partition. A
// decision from an older leader epoch is ignored; a newer epoch makes this
// replica leader, follower or nothing.
func (p *Partition) SetLeadership(now time.Time, l Leadership) {
	if l.LeaderEpoch < p.leadership.LeaderEpoch ||
		(l.LeaderEpoch == p.leadership.LeaderEpoch && l.PartitionEpoch < p.leadership.PartitionEpoch) {
		return
	}
	newEpoch := l.LeaderEpoch > p.leadership.LeaderEpoch
	p.leadership = Leadership{Leader: l.Leader, LeaderEpoch: l.LeaderEpoch, PartitionEpoch: l.PartitionEpoch,
		Replicas: slices.Clone(l.Replicas), ISR: slices.Clone(l.ISR)}
	switch {
	case l.Leader == p.config.ReplicaID && (newEpoch || p.role != RoleLeader):
		p.becomeLeader(now)
	case l.Leader == p.config.ReplicaID:
		// Same epoch: an ISR change committed.
		if p.proposal != nil && l.PartitionEpoch > p.proposal.PartitionEpoch {
			p.proposal = nil
		}
		p.advanceHighWatermark()
	case slices.Contains(l.Replicas, p.config.ReplicaID) && l.Leader >= 0:
		if newEpoch || p.role != RoleFollower {
			p.becomeFollower()
		}
	default:
		p.stepDown(RoleNone)
	}
	p.assertInvariants()
}

func (p *Partition) becomeLeader(now time.Time) {
	p.role = RoleLeader
	p.truncating, p.queryInFlight, p.fetchInFlight = false, false, false
	p.fetchSeq++
	p.querySeq++
	p.proposal = nil
	if p.epochs.Assign(p.leadership.LeaderEpoch, p.endOffset) {
		p.ready.EpochsChanged = true
	}
	p.followers = p.followers[:0]
	for _, r := range p.leadership.Replicas {
		if r != p.config.ReplicaID {
			p.followers = append(p.followers, followerState{replica: r, fetchOffset: -1, lastCaughtUp: now, leaderEndLastFetch: p.endOffset})
		}
	}
	p.advanceHighWatermark()
}

// becomeFollower starts the follower protocol: first find where this log
// diverges from the leader's (by epoch), then fetch.
func (p *Partition) becomeFollower() {
	p.stepDown(RoleFollower)
	p.truncating = true
}

// stepDown leaves leadership: every waiting produce fails with
// NOT_LEADER_OR_FOLLOWER. Its records may still commit under the new
// leader, so the client learns only that the outcome is unknown.
func (p *Partition) stepDown(role Role) {
	p.role = role
	p.followers = p.followers[:0]
	p.proposal = nil
	p.queryInFlight, p.fetchInFlight, p.truncating = false, false, false
	p.fetchSeq++
	p.querySeq++
	p.Failed(errcode.NotLeaderOrFollower)
}

// CheckProduce decides whether a produce may be appended, and where. It does
// not change the state: the driver appends the batch at the returned offset
// and then reports it with Appended, or reports nothing if the write failed.
func (p *Partition) CheckProduce(acks Acks) (baseOffset int64, epoch int32, code errcode.Code) {
	switch {
	case acks != 0 && acks != 1 && acks != -1:
		return 0, 0, errcode.InvalidRequiredAcks
	case p.role != RoleLeader:
		return 0, 0, errcode.NotLeaderOrFollower
	case acks == -1 && len(p.leadership.ISR) < p.config.MinInsyncReplicas && !mutant.Active(mutant.AcksAllBelowMinISR):
		return 0, 0, errcode.NotEnoughReplicas
	}
	return p.endOffset, p.leadership.LeaderEpoch, errcode.None
}

// Appended records that the driver wrote a produce's records [baseOffset,
// lastOffset] to the log. With acks 1 or -1 the produce waits, under token,
// until its records are committed; with acks 0 nothing is sent back.
func (p *Partition) Appended(token Token, acks Acks, baseOffset, lastOffset int64) {
	if p.role != RoleLeader || baseOffset != p.endOffset || lastOffset < baseOffset {
		panic(fmt.Sprintf("core: %s append [%d, %d] at log end %d", p.role, baseOffset, lastOffset, p.endOffset))
	}
	p.endOffset = lastOffset + 1
	p.ready.EndAdvanced = true
	if acks != 0 {
		p.waiters = append(p.waiters, waiter{token: token, acks: acks, baseOffset: baseOffset, lastOffset: lastOffset})
	}
	if p.config.Durability == DurableAcks {
		p.ready.SyncWanted = true
	}
	p.advanceHighWatermark()
	p.assertInvariants()
}

// Synced records that the log is durable below offset. Sync results can
// arrive late: an older, smaller offset never moves the durable offset back.
func (p *Partition) Synced(offset int64) {
	if offset > p.endOffset {
		// The log was truncated while the sync ran; what it synced
		// beyond the new end is gone.
		offset = p.endOffset
	}
	if offset > p.durableOffset {
		p.durableOffset = offset
	}
	if p.durableOffset < p.endOffset && p.config.Durability == DurableAcks {
		p.ready.SyncWanted = true
	}
	p.advanceHighWatermark()
	p.assertInvariants()
}

// Failed fails every waiting produce with code: the log can no longer make
// their records durable (a failed fsync), or the replica stopped leading.
func (p *Partition) Failed(code errcode.Code) {
	for _, w := range p.waiters {
		p.ready.Acks = append(p.ready.Acks, Ack{Token: w.token, BaseOffset: -1, Error: code})
	}
	p.waiters = p.waiters[:0]
}

// localCommittable is what this replica alone has done under the
// durability mode.
func (p *Partition) localCommittable() int64 {
	if p.config.Durability == DurableAcks && !mutant.Active(mutant.AckBeforeFsync) {
		return p.durableOffset
	}
	return p.endOffset
}

// inSyncSet is the ISR the high watermark must wait for: the committed ISR
// plus any members a pending proposal adds (Kafka's maximal ISR), so that
// neither a shrink nor an expansion in flight can commit too early.
func (p *Partition) inSyncSet() []int32 {
	isr := p.leadership.ISR
	if p.proposal == nil {
		return isr
	}
	out := slices.Clone(isr)
	for _, r := range p.proposal.ISR {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// committable is the offset the high watermark may reach now. It stands
// still while the ISR is smaller than min.insync.replicas (KIP-966): the
// members that left then keep every committed record, which makes them
// safe to elect (the controller's ELR) if the last ISR member fails.
func (p *Partition) committable() int64 {
	c := p.localCommittable()
	if p.role != RoleLeader {
		return c
	}
	if p.belowMinInsync() && !mutant.Active(mutant.AcksAllBelowMinISR) {
		return p.highWatermark
	}
	for _, r := range p.inSyncSet() {
		if r == p.config.ReplicaID {
			continue
		}
		f := p.follower(r)
		if f == nil || f.fetchOffset < 0 {
			return p.highWatermark
		}
		c = min(c, f.fetchOffset)
	}
	return c
}

// belowMinInsync reports whether the ISR is smaller than
// min.insync.replicas, counted against no more than the replicas there are:
// a topic configured with more than its replication factor refuses acks=all
// but still commits what acks=1 writes.
func (p *Partition) belowMinInsync() bool {
	return len(p.leadership.ISR) < min(p.config.MinInsyncReplicas, max(1, len(p.leadership.Replicas)))
}

func (p *Partition) follower(replica int32) *followerState {
	for i := range p.followers {
		if p.followers[i].replica == replica {
			return &p.followers[i]
		}
	}
	return nil
}

// advanceHighWatermark moves a leader's high watermark to what its ISR
// holds, and acknowledges what that commits. A follower's high watermark
// moves only when its leader says so (FetchAnswered): what a follower
// holds itself commits nothing.
func (p *Partition) advanceHighWatermark() {
	if p.role != RoleLeader {
		return
	}
	next := p.committable()
	if mutant.Active(mutant.HighWatermarkPastDurable) && p.role == RoleLeader {
		next = max(next, min(p.endOffset, p.followersMinimum()))
	}
	if next > p.highWatermark {
		p.highWatermark = next
		p.ready.HighWatermarkAdvanced = true
	}
	if len(p.waiters) == 0 {
		return
	}
	local := p.localCommittable()
	if mutant.Active(mutant.HighWatermarkPastDurable) {
		local = p.durableOffset
	}
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		switch {
		case w.acks == 1 && w.lastOffset < local:
			p.ready.Acks = append(p.ready.Acks, Ack{Token: w.token, BaseOffset: w.baseOffset})
		case w.acks == -1 && w.lastOffset < min(p.highWatermark, p.committable()):
			code := errcode.None
			if len(p.leadership.ISR) < p.config.MinInsyncReplicas && !mutant.Active(mutant.AcksAllBelowMinISR) {
				code = errcode.NotEnoughReplicasAfterAppend
			}
			p.ready.Acks = append(p.ready.Acks, Ack{Token: w.token, BaseOffset: w.baseOffset, Error: code})
		default:
			kept = append(kept, w)
		}
	}
	p.waiters = kept
}

// followersMinimum is the smallest follower fetch offset in the ISR, or the
// log end if there are none; the high-watermark mutant uses it to skip
// only the durability condition, not replication.
func (p *Partition) followersMinimum() int64 {
	m := p.endOffset
	for _, r := range p.leadership.ISR {
		if f := p.follower(r); f != nil {
			if f.fetchOffset < 0 {
				return p.highWatermark
			}
			m = min(m, f.fetchOffset)
		}
	}
	return m
}

// --- leader side of replication ---

// FetchFromFollower handles a follower's fetch at fetchOffset. It fences
// stale and future leader epochs (KIP-320) and records the follower's
// progress, which may commit records and grow the ISR.
func (p *Partition) FetchFromFollower(now time.Time, replica int32, fetchOffset int64, currentLeaderEpoch int32) errcode.Code {
	if code := p.checkEpoch(currentLeaderEpoch); code != errcode.None {
		return code
	}
	if p.role != RoleLeader {
		return errcode.NotLeaderOrFollower
	}
	f := p.follower(replica)
	if f == nil {
		return errcode.NotLeaderOrFollower
	}
	if fetchOffset > p.endOffset || fetchOffset < p.startOffset {
		return errcode.OffsetOutOfRange
	}
	f.fetchOffset = fetchOffset
	if fetchOffset >= f.leaderEndLastFetch {
		f.lastCaughtUp = now
	}
	f.leaderEndLastFetch = p.endOffset
	p.maybeExpandISR(now, f)
	p.advanceHighWatermark()
	p.assertInvariants()
	return errcode.None
}

// checkEpoch fences a request that names a leader epoch: older than ours
// is FENCED_LEADER_EPOCH, newer is UNKNOWN_LEADER_EPOCH; -1 names none.
func (p *Partition) checkEpoch(requested int32) errcode.Code {
	if mutant.Active(mutant.UnfencedFetch) {
		return errcode.None
	}
	switch {
	case requested < 0 || requested == p.leadership.LeaderEpoch:
		return errcode.None
	case requested < p.leadership.LeaderEpoch:
		return errcode.FencedLeaderEpoch
	default:
		return errcode.UnknownLeaderEpoch
	}
}

// CheckEpoch is checkEpoch for the driver's consumer-facing requests.
func (p *Partition) CheckEpoch(requested int32) errcode.Code { return p.checkEpoch(requested) }

// EpochEndOffset answers OffsetForLeaderEpoch as the leader.
func (p *Partition) EpochEndOffset(currentLeaderEpoch, epoch int32) (int32, int64, errcode.Code) {
	if code := p.checkEpoch(currentLeaderEpoch); code != errcode.None {
		return -1, -1, code
	}
	if p.role != RoleLeader {
		return -1, -1, errcode.NotLeaderOrFollower
	}
	endEpoch, endOffset := p.epochs.EndOffsetFor(epoch, p.endOffset)
	return endEpoch, endOffset, errcode.None
}

// maybeExpandISR proposes adding a follower that has caught up: it holds
// everything committed and everything of the current leader epoch's start.
func (p *Partition) maybeExpandISR(now time.Time, f *followerState) {
	if p.proposal != nil || slices.Contains(p.leadership.ISR, f.replica) || now.Before(p.proposalBackoff) {
		return
	}
	epochStart := p.epochs.StartOf(p.leadership.LeaderEpoch)
	if f.fetchOffset < p.highWatermark || f.fetchOffset < epochStart {
		return
	}
	isr := append(slices.Clone(p.leadership.ISR), f.replica)
	slices.Sort(isr)
	p.propose(isr)
}

// Tick shrinks the ISR of followers that have not caught up for longer than
// replica.lag.time.max.ms.
func (p *Partition) Tick(now time.Time) {
	if p.role != RoleLeader || p.proposal != nil || now.Before(p.proposalBackoff) {
		return
	}
	var isr []int32
	for _, r := range p.leadership.ISR {
		if f := p.follower(r); f != nil && now.Sub(f.lastCaughtUp) > p.config.ReplicaLagMax {
			continue
		}
		isr = append(isr, r)
	}
	if len(isr) < len(p.leadership.ISR) {
		p.propose(isr)
	}
}

func (p *Partition) propose(isr []int32) {
	p.proposal = &ISRProposal{LeaderEpoch: p.leadership.LeaderEpoch, PartitionEpoch: p.leadership.PartitionEpoch, ISR: isr}
	p.ready.Proposal = p.proposal
}

// proposalRetryDelay is how long a leader waits after a refused ISR
// proposal (the follower may still be fenced) before proposing again.
const proposalRetryDelay = 500 * time.Millisecond

// ProposalFailed clears a refused or lost ISR proposal; a later fetch or
// tick may propose again after a short delay.
func (p *Partition) ProposalFailed(now time.Time) {
	p.proposal = nil
	p.proposalBackoff = now.Add(proposalRetryDelay)
	p.advanceHighWatermark()
}

// --- follower side of replication ---

// NextEpochQuery returns the OffsetForLeaderEpoch this follower must send
// before it fetches, if one is due.
func (p *Partition) NextEpochQuery() (EpochQuery, bool) {
	if p.role != RoleFollower || !p.truncating || p.queryInFlight || p.awaitingTruncate {
		return EpochQuery{}, false
	}
	p.queryInFlight = true
	p.querySeq++
	return EpochQuery{Seq: p.querySeq, Leader: p.leadership.Leader, CurrentLeaderEpoch: p.leadership.LeaderEpoch, Epoch: p.epochs.Latest()}, true
}

// EpochQueryAnswered takes the leader's answer: the largest epoch at or
// below the one asked about that the leader has, and where it ends there.
// The follower truncates to the smaller of that end and its own end of the
// same epoch (KIP-279: by the epoch the leader answered with, not the one
// asked about). If this replica does not hold the epoch the leader answered
// with, the logs may part earlier still: it truncates to where its own
// older epoch ends and asks again about the epoch that is now its latest,
// until the leader answers with an epoch both hold. Each round removes
// this replica's latest epoch, so the rounds end.
func (p *Partition) EpochQueryAnswered(seq uint64, endEpoch int32, endOffset int64, code errcode.Code) {
	if !p.queryInFlight || seq != p.querySeq {
		return
	}
	p.queryInFlight = false
	if code != errcode.None || p.role != RoleFollower {
		return // retried on the next poll; a newer leadership may come first
	}
	truncateTo := p.divergence(endEpoch, endOffset)
	done := p.divergenceFound(endEpoch)
	if truncateTo < p.endOffset {
		p.truncate(truncateTo)
	} else if p.epochs.TruncateFrom(truncateTo) {
		// Nothing to cut from the log, but epochs that begin at its end
		// hold no records here and are not the leader's: a leadership of
		// this replica that wrote nothing. Kept, they would make the
		// leader's older-epoch batches look impossible to replicate.
		p.ready.EpochsChanged = true
	}
	p.truncating = !done
	p.assertInvariants()
}

// divergenceFound says whether the answer about leaderEpoch settles where
// the logs part: the leader answered with no epoch (everything it holds is
// newer), or with one this replica holds too.
func (p *Partition) divergenceFound(leaderEpoch int32) bool {
	if leaderEpoch < 0 || mutant.Active(mutant.TruncateToHighWatermark) || mutant.Active(mutant.IgnoreResponseEpoch) ||
		mutant.Active(mutant.SingleEpochQuery) {
		return true
	}
	ownEpoch, _ := p.epochs.EndOffsetFor(leaderEpoch, p.endOffset)
	return ownEpoch == leaderEpoch
}

// divergence decides where this log stops agreeing with the leader's.
func (p *Partition) divergence(leaderEpoch int32, leaderEnd int64) int64 {
	switch {
	case mutant.Active(mutant.TruncateToHighWatermark):
		return p.highWatermark
	case mutant.Active(mutant.IgnoreResponseEpoch) || leaderEpoch < 0:
		return min(leaderEnd, p.endOffset)
	}
	_, ownEnd := p.epochs.EndOffsetFor(leaderEpoch, p.endOffset)
	return min(leaderEnd, ownEnd, p.endOffset)
}

func (p *Partition) truncate(offset int64) {
	offset = max(offset, p.startOffset)
	p.endOffset = offset
	p.durableOffset = min(p.durableOffset, offset)
	p.highWatermark = min(p.highWatermark, offset)
	if p.epochs.TruncateFrom(offset) {
		p.ready.EpochsChanged = true
	}
	p.ready.Truncate = offset
	p.awaitingTruncate = true
}

// TruncatedTo reports where the log really ends after the driver executed
// Ready.Truncate: the log cuts whole batches, so a cut inside a batch ends
// at that batch's start, below the offset asked for.
func (p *Partition) TruncatedTo(offset int64) {
	p.awaitingTruncate = false
	if offset >= p.endOffset {
		return
	}
	p.truncate(offset)
	p.ready.Truncate = -1
	p.awaitingTruncate = false
	p.assertInvariants()
}

// EpochQueryFailed clears a query lost with its connection.
func (p *Partition) EpochQueryFailed(seq uint64) {
	if seq == p.querySeq {
		p.queryInFlight = false
	}
}

// NextFetch returns the fetch this follower should send now, if any. In the
// durable mode a follower fetches again only once everything it holds is
// synced, so its fetch offset tells the leader what it holds durably.
func (p *Partition) NextFetch() (FollowerFetch, bool) {
	if p.role != RoleFollower || p.truncating || p.fetchInFlight || p.awaitingTruncate {
		return FollowerFetch{}, false
	}
	fetchOffset := p.endOffset
	if p.config.Durability == DurableAcks && p.durableOffset < p.endOffset {
		return FollowerFetch{}, false
	}
	p.fetchInFlight = true
	p.fetchSeq++
	return FollowerFetch{Seq: p.fetchSeq, Leader: p.leadership.Leader, FetchOffset: fetchOffset,
		CurrentLeaderEpoch: p.leadership.LeaderEpoch, LastFetchedEpoch: p.epochs.Latest()}, true
}

// FetchCurrent says whether the answer to fetch seq may be applied: it is
// the one fetch in flight, sent in the current leadership. An answer from
// a leader this follower has since left — a zombie leader resuming — must
// not be appended, even at a matching offset.
func (p *Partition) FetchCurrent(seq uint64) bool {
	return p.fetchInFlight && seq == p.fetchSeq
}

// CheckReplicate says whether a fetched batch at baseOffset may be
// appended: only in order, only as a follower.
func (p *Partition) CheckReplicate(baseOffset int64) bool {
	return p.role == RoleFollower && !p.truncating && !p.awaitingTruncate && baseOffset == p.endOffset
}

// Replicated records that the driver appended a fetched batch.
func (p *Partition) Replicated(baseOffset, lastOffset int64, epoch int32) {
	if !p.CheckReplicate(baseOffset) || lastOffset < baseOffset {
		panic(fmt.Sprintf("core: replicate [%d, %d] at log end %d as %s", baseOffset, lastOffset, p.endOffset, p.role))
	}
	if p.epochs.Assign(epoch, baseOffset) {
		p.ready.EpochsChanged = true
	}
	p.endOffset = lastOffset + 1
	if p.config.Durability == DurableAcks {
		p.ready.SyncWanted = true
	}
	p.assertInvariants()
}

// FetchAnswered ends the fetch in flight: the leader's high watermark comes
// with it, and an error may send the follower back to truncation.
func (p *Partition) FetchAnswered(seq uint64, leaderHighWatermark int64, code errcode.Code) {
	if !p.FetchCurrent(seq) {
		return
	}
	p.fetchInFlight = false
	switch code {
	case errcode.None:
		next := min(leaderHighWatermark, p.localCommittable())
		if next > p.highWatermark {
			p.highWatermark = next
			p.ready.HighWatermarkAdvanced = true
		}
	case errcode.OffsetOutOfRange:
		p.truncating = true
	}
	p.assertInvariants()
}

// FetchFailed clears a fetch lost with its connection.
func (p *Partition) FetchFailed(seq uint64) {
	if seq == p.fetchSeq {
		p.fetchInFlight = false
	}
}

// HasReady reports whether Ready has anything for the driver.
func (p *Partition) HasReady() bool {
	r := &p.ready
	return r.Truncate >= 0 || r.EpochsChanged || r.SyncWanted || len(r.Acks) > 0 || r.Proposal != nil ||
		r.HighWatermarkAdvanced || r.EndAdvanced
}

// Ready returns the pending effects. They stay valid until Advance.
func (p *Partition) Ready() PartitionReady { return p.ready }

// Advance tells the partition that the driver executed the last Ready.
func (p *Partition) Advance() {
	acks := p.ready.Acks[:0]
	p.ready = PartitionReady{Truncate: -1, Acks: acks}
}

// assertInvariants crashes on a broken invariant: a replica that continues
// with inconsistent offsets could acknowledge or serve what it must not.
func (p *Partition) assertInvariants() {
	ok := p.startOffset <= p.highWatermark && p.highWatermark <= p.endOffset &&
		p.durableOffset <= p.endOffset
	// The two high-watermark mutants break exactly this invariant; they skip
	// the assertion so that the simulator's own checks must find them.
	if p.config.Durability == DurableAcks && !mutant.Active(mutant.AckBeforeFsync) && !mutant.Active(mutant.HighWatermarkPastDurable) {
		ok = ok && p.highWatermark <= p.durableOffset
	}
	if !ok {
		panic(fmt.Sprintf("core: partition %s-%d offsets start=%d hw=%d durable=%d end=%d",
			p.config.Topic, p.config.Partition, p.startOffset, p.highWatermark, p.durableOffset, p.endOffset))
	}
}

// PartitionStatus is a snapshot of a replica, for the predicates of
// package specs and for metrics.
type PartitionStatus struct {
	Topic       string
	Partition   int32
	Replica     int32
	Durability  DurabilityMode
	Role        Role
	Leader      int32
	LeaderEpoch int32
	// PartitionEpoch is the controller's epoch of the leadership this
	// replica applied; it grows with every leader or ISR change.
	PartitionEpoch int32
	ISR            []int32
	StartOffset    int64
	HighWatermark  int64
	DurableOffset  int64
	EndOffset      int64
}

// Status returns the replica's current state.
func (p *Partition) Status() PartitionStatus {
	return PartitionStatus{
		Topic: p.config.Topic, Partition: p.config.Partition, Replica: p.config.ReplicaID,
		Durability: p.config.Durability, Role: p.role, Leader: p.leadership.Leader,
		LeaderEpoch: p.leadership.LeaderEpoch, PartitionEpoch: p.leadership.PartitionEpoch,
		ISR: p.leadership.ISR, StartOffset: p.startOffset,
		HighWatermark: p.highWatermark, DurableOffset: p.durableOffset, EndOffset: p.endOffset,
	}
}
