package sim

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/controller"
	"cairn/netsim"
	"cairn/replica/transport"
)

// The control faults (faults.go: drop-answer, duplicate-request,
// delay-request, crash-on-rejoin, crash-after-isr-change,
// pause-controller) are armed when their time comes and strike at the
// first thing they aim at: a request of their kind on its way to or
// through the controller, or a commit of the metadata log. They pick their
// target then, from the committed metadata, as cut-leader does.

// aimedFaults is the world's state of the control faults.
type aimedFaults struct {
	armed []armedFault
	// held are AlterPartitions delay-request holds back.
	held []*heldAlter
	// rejoining are the followers that crash-on-rejoin crashed, watched
	// until their return to the ISR commits.
	rejoining []rejoinWatch
	// struck counts, per fault kind, the faults that found a target.
	struck map[FaultKind]int
}

type armedFault struct {
	fault Fault
	until time.Duration
}

type rejoinWatch struct {
	follower    int
	incarnation int // the follower's incarnation when it was crashed
	topic       string
	partition   int32
	crashFor    time.Duration
	until       time.Duration
}

// ghostRequest is a copy of a broker's request that a duplicate-request
// fault sends again on a connection of its own, held for hold.
type ghostRequest struct {
	payload []byte
	hold    time.Duration
}

// rejoinWatchFor bounds how long crash-on-rejoin waits for the follower it
// crashed to come back into the ISR.
const rejoinWatchFor = 20 * time.Second

// armControlFault arms a control fault; crash-on-rejoin strikes at once.
func (w *World) armControlFault(f Fault) {
	if f.Kind == FaultCrashOnRejoin {
		w.crashFollowerToRejoin(f)
		return
	}
	w.aimed.armed = append(w.aimed.armed, armedFault{fault: f, until: w.now + controlFaultWindow})
}

// strike takes the oldest armed fault of kind (and, when request >= 0, of
// that request) still in its window, and counts it.
func (w *World) strike(kind FaultKind, request int16) (Fault, bool) {
	a := &w.aimed
	if w.liveness {
		return Fault{}, false // faults stop with the safety phase
	}
	for i := 0; i < len(a.armed); i++ {
		f := a.armed[i]
		if f.until < w.now {
			a.armed = slices.Delete(a.armed, i, i+1)
			i--
			continue
		}
		if f.fault.Kind != kind || (request >= 0 && f.fault.Request != request) {
			continue
		}
		a.armed = slices.Delete(a.armed, i, i+1)
		w.noteStruck(kind)
		return f.fault, true
	}
	return Fault{}, false
}

func (w *World) noteStruck(kind FaultKind) {
	if w.aimed.struck == nil {
		w.aimed.struck = map[FaultKind]int{}
	}
	w.aimed.struck[kind]++
}

// requestKey is the API key of a request payload, or -1.
func requestKey(payload []byte) int16 {
	if len(payload) < 8 {
		return -1
	}
	return transport.RequestKey(payload)
}

// controllerRequest reports whether key is one of the requests the
// drop-answer, duplicate-request and delay-request faults strike.
func controllerRequest(key int16) bool {
	return key == kmsg.AlterPartition.Int16() || key == kmsg.BrokerHeartbeat.Int16() || key == kmsg.BrokerRegistration.Int16()
}

// sendToController carries out duplicate-request and delay-request on a
// request that broker b sends to peer on connection c (up). It reports
// whether it sent the request itself.
func (b *broker) sendToController(w *World, peer int, c *peerConn, payload []byte) bool {
	key := requestKey(payload)
	if !controllerRequest(key) {
		return false
	}
	if f, ok := w.strike(FaultDuplicateRequest, key); ok {
		// The retry of a client that timed out, on a new connection,
		// while the first copy still gets through.
		ghost := w.net.Dial(w.now, b.id, w.brokers[peer].id)
		b.ghosts[ghost] = ghostRequest{payload: payload, hold: f.Duration}
		w.tracef("AIMED duplicate-request: b%d sends %s to b%d again in %v (conn=%d)", b.index, kmsg.NameForKey(key), peer, f.Duration, ghost)
	}
	if f, ok := w.strike(FaultDelayRequest, key); ok {
		if key == kmsg.AlterPartition.Int16() {
			w.holdPastNewer(b, peer, payload, f.Duration)
		} else {
			w.tracef("AIMED delay-request: b%d's %s to b%d stalls %v on conn=%d; b%d gives up on the session", b.index, kmsg.NameForKey(key), peer, f.Duration, c.conn, b.index)
			w.net.SendHeld(w.now, c.conn, b.id, payload, f.Duration)
		}
		b.abandonSession(w, peer)
		return true
	}
	return false
}

// heldAlter is an AlterPartition that delay-request holds back until a
// newer ISR change of its partition has committed: the bytes of a
// connection its sender gave up on, still in flight.
type heldAlter struct {
	from, incarnation, to int
	payload               []byte
	topic                 string
	partition             int32
	// pastEpoch is the partition epoch from which a commit may release
	// it: two past the one it names, the sender's next request (the retry
	// of this one) and then a newer change. An expansion waits for a newer
	// change that leaves out a member it adds (adds): the change it would
	// undo if it were taken.
	pastEpoch int32
	adds      []int32
	cut       bool // the member it adds has been cut off from the leader
	// superseded says the newer change it waits for has committed;
	// deadline is when it arrives regardless.
	superseded bool
	deadline   time.Duration
	released   bool
}

// heldReleaseAfter is how long after the newer change commits a held
// AlterPartition arrives.
const heldReleaseAfter = 250 * time.Millisecond

// holdPastNewerMax bounds how long beyond its fault's Duration an
// AlterPartition waits for a newer change of its partition.
const holdPastNewerMax = 15 * time.Second

// holdPastNewer holds an AlterPartition payload that broker b sent to peer
// until the partition's ISR has changed twice since the epoch it names (or
// hold plus holdPastNewerMax has passed), then delivers it.
func (w *World) holdPastNewer(b *broker, peer int, payload []byte, hold time.Duration) {
	h := &heldAlter{from: b.index, incarnation: b.incarnation, to: peer, payload: payload}
	if _, body, req, err := transport.ParseRequestHeader(payload); err == nil && req != nil {
		if alter, ok := req.(*kmsg.AlterPartitionRequest); ok && transport.Decode(alter, body) == nil &&
			len(alter.Topics) > 0 && len(alter.Topics[0].Partitions) > 0 {
			rp := alter.Topics[0].Partitions[0]
			h.topic, h.partition, h.pastEpoch = alter.Topics[0].Topic, rp.Partition, rp.PartitionEpoch+2
			if p, ok := w.image.Partition(h.topic, h.partition); ok {
				for _, r := range rp.NewISR {
					if !slices.Contains(p.ISR, r) {
						h.adds = append(h.adds, r)
					}
				}
			}
		}
	}
	w.tracef("AIMED delay-request: b%d's AlterPartition of %s-%d (partition epoch %d, adding %v) to b%d stalls until a newer change commits; b%d gives up on the session",
		b.index, h.topic, h.partition, h.pastEpoch-2, h.adds, peer, b.index)
	w.aimed.held = append(w.aimed.held, h)
	h.deadline = w.now + hold + holdPastNewerMax
	w.schedule(h.deadline, eventAimedRelease, 0, 0, h)
}

// onHeldPartitionChange moves a held AlterPartition along as its
// partition's ISR changes (p, just committed). An expansion's chain: once
// the sender's retry has taken the member back (the epoch after the held
// one's), that member stops reaching the leader for longer than
// replica.lag.time.max, so that the leader shrinks it out again; a little
// after that newer change, the held copy arrives.
func (w *World) onHeldPartitionChange(h *heldAlter, p controller.Partition) {
	if h.topic != p.Topic || h.partition != p.Partition {
		return
	}
	if len(h.adds) > 0 && !h.cut && p.PartitionEpoch >= h.pastEpoch-1 && slices.Contains(p.ISR, h.adds[0]) && int(p.Leader) == h.from {
		h.cut = true
		if w.metadata.leader == int(h.adds[0]) {
			// Cut off from the controller too, the leader could not
			// shrink it out: no chain this time.
			return
		}
		cut := aimedCut{from: w.brokers[h.adds[0]].id, to: w.brokers[h.from].id}
		w.net.Cut(w.now, cut.from, cut.to)
		w.tracef("AIMED delay-request: b%d is back in %s-%d's ISR; it cannot reach b%d for %v", h.adds[0], p.Topic, p.Partition, h.from, aimedCutFor)
		w.schedule(w.now+aimedCutFor, eventAimedMend, 0, 0, cut)
		return
	}
	if p.PartitionEpoch >= h.pastEpoch && (len(h.adds) == 0 || slices.ContainsFunc(h.adds, func(r int32) bool { return !slices.Contains(p.ISR, r) })) {
		// A little after: the leader has applied the newer change and
		// acted on it (a shrink lets its high watermark move).
		h.superseded = true
		w.schedule(w.now+heldReleaseAfter, eventAimedRelease, 0, 0, h)
	}
}

// committedPast reports whether the sender of a held expansion, leading its
// partition, has a high watermark past the end of the member it adds.
func (w *World) committedPast(h *heldAlter) bool {
	leader, member := w.brokers[h.from], w.brokers[h.adds[0]]
	if leader.node == nil || member.node == nil {
		return true // nothing to wait for
	}
	hw, end := int64(-1), int64(-1)
	for _, p := range leader.node.Partitions() {
		if p.Topic == h.topic && p.Partition == h.partition {
			hw = p.HighWatermark
		}
	}
	for _, p := range member.node.Partitions() {
		if p.Topic == h.topic && p.Partition == h.partition {
			end = p.EndOffset
		}
	}
	return hw > end
}

// aimedCut is one direction between two brokers that delay-request cut.
type aimedCut struct{ from, to netsim.NodeID }

// aimedCutFor is how long delay-request keeps the member a held expansion
// adds from its leader: past the brokers' replica.lag.time.max (2 s), and
// past the held copy's arrival after the shrink.
const aimedCutFor = 5 * time.Second

// releaseHeld delivers a held AlterPartition on a connection of its own,
// unless its sender's process has died since (its connections reset).
func (w *World) releaseHeld(h *heldAlter) {
	if h.released {
		return
	}
	if h.cut && h.superseded && w.now < h.deadline && !w.committedPast(h) {
		// The expansion it would undo matters once the leader has
		// committed records the member it adds lacks: wait for that.
		w.schedule(w.now+heldReleaseAfter, eventAimedRelease, 0, 0, h)
		return
	}
	h.released = true
	w.aimed.held = slices.DeleteFunc(w.aimed.held, func(x *heldAlter) bool { return x == h })
	b := w.brokers[h.from]
	if w.liveness || b.node == nil || b.incarnation != h.incarnation || w.brokers[h.to].node == nil {
		return
	}
	ghost := w.net.Dial(w.now, b.id, w.brokers[h.to].id)
	b.ghosts[ghost] = ghostRequest{payload: h.payload}
	w.tracef("AIMED delay-request: b%d's stalled AlterPartition of %s-%d reaches b%d now (conn=%d)", h.from, h.topic, h.partition, h.to, ghost)
}

// abandonSession gives up on the session with peer from this side, as a
// broker whose request timed out does: its connections close (what was
// sent on them still arrives first), and the node hears PeerDown once the
// Ready being executed is done.
func (b *broker) abandonSession(w *World, peer int) {
	session := b.peers[peer]
	if session == nil {
		return
	}
	for _, c := range session.route.Conns() {
		b.dialed[c.conn] = -1
		w.net.Close(w.now, c.conn, b.id)
	}
	delete(b.peers, peer)
	b.downPending = append(b.downPending, peer)
}

// onGhostEvent runs a duplicate's own connection: it sends the copy once
// up, and closes on the answer, which nobody waits for.
func (b *broker) onGhostEvent(w *World, ev netsim.Event) {
	g := b.ghosts[ev.Conn]
	switch ev.Kind {
	case netsim.EventConnected:
		w.net.SendHeld(w.now, ev.Conn, b.id, g.payload, g.hold)
	case netsim.EventDeliver:
		w.net.Close(w.now, ev.Conn, b.id)
		delete(b.ghosts, ev.Conn)
	default:
		delete(b.ghosts, ev.Conn)
	}
}

// receiveAsController carries out pause-controller and drop-answer on a
// request reaching broker b. It reports whether the request is held
// (the broker paused before handling it).
func (b *broker) receiveAsController(w *World, ev netsim.Event) (held bool) {
	if w.metadata == nil || w.metadata.leader != b.index {
		return false
	}
	key := requestKey(ev.Payload)
	if key == kmsg.AlterPartition.Int16() {
		if f, ok := w.strike(FaultPauseController, -1); ok {
			before := f.Duration%2 == 0
			w.tracef("AIMED pause-controller: b%d pauses with an AlterPartition in flight (before handling it: %v)", b.index, before)
			if before {
				b.pause(w, f.Duration)
				b.held = append(b.held, heldInput{network: &ev})
				return true
			}
			b.pauseAfter = f.Duration
		}
	}
	if controllerRequest(key) {
		if _, ok := w.strike(FaultDropAnswer, key); ok {
			w.tracef("AIMED drop-answer: b%d will lose its answer on conn=%d after handling %s", b.index, ev.Conn, kmsg.NameForKey(key))
			b.dropAnswer[ev.Conn] = true
		}
	}
	return false
}

// crashFollowerToRejoin starts crash-on-rejoin: it crashes a follower in
// the ISR of the first replicated partition (by name) that has one up,
// and watches for its return to that ISR.
func (w *World) crashFollowerToRejoin(f Fault) {
	for _, t := range w.image.Topics() {
		for _, p := range w.image.Partitions(t.Name) {
			if p.Leader < 0 || len(p.Replicas) < 2 {
				continue
			}
			for _, r := range p.ISR {
				if b := w.brokers[r]; r != p.Leader && b.node != nil {
					w.noteStruck(FaultCrashOnRejoin)
					w.tracef("AIMED crash-on-rejoin: crash follower b%d of %s-%d", r, p.Topic, p.Partition)
					w.aimed.rejoining = append(w.aimed.rejoining, rejoinWatch{follower: int(r), incarnation: b.incarnation + 1,
						topic: p.Topic, partition: p.Partition, crashFor: f.Duration, until: w.now + f.Duration + rejoinWatchFor})
					b.crash(w, f.Duration)
					return
				}
			}
		}
	}
	w.tracef("crash-on-rejoin: no follower in an ISR to crash")
}

// afterMetadataCommit runs the recipes that wait for a commit: entry is
// the index of the entry just committed, records what it held.
func (w *World) afterMetadataCommit(entry int, records []controller.Record) {
	for _, r := range records {
		change, ok := r.(controller.PartitionChange)
		if !ok {
			continue
		}
		p, ok := w.image.Partition(change.Topic, change.Partition)
		if !ok || p.Leader < 0 || len(p.Replicas) < 2 {
			continue
		}
		if change.LeaderUnchanged {
			if f, ok := w.strike(FaultCrashAfterISRChange, -1); ok {
				w.tracef("AIMED crash-after-isr-change: %s-%d's ISR is now %v; crash its leader b%d once it applied entry %d", p.Topic, p.Partition, p.ISR, p.Leader, entry)
				w.crashOnceApplied(int(p.Leader), entry, f.Duration)
			}
		}
		w.checkRejoined(entry, p)
		for _, h := range w.aimed.held {
			w.onHeldPartitionChange(h, p)
		}
	}
}

// checkRejoined crashes the leader of a partition whose ISR took back a
// follower that crash-on-rejoin crashed and that has restarted since.
func (w *World) checkRejoined(entry int, p controller.Partition) {
	if w.liveness {
		return
	}
	watches := w.aimed.rejoining
	for i := 0; i < len(watches); i++ {
		r := watches[i]
		if r.until < w.now {
			watches = slices.Delete(watches, i, i+1)
			i--
			continue
		}
		b := w.brokers[r.follower]
		if r.topic != p.Topic || r.partition != p.Partition || b.incarnation < r.incarnation || b.node == nil ||
			!slices.Contains(p.ISR, int32(r.follower)) || int(p.Leader) == r.follower {
			continue
		}
		watches = slices.Delete(watches, i, i+1)
		i--
		w.tracef("AIMED crash-on-rejoin: b%d is back in %s-%d's ISR %v; crash its leader b%d", r.follower, p.Topic, p.Partition, p.ISR, p.Leader)
		w.crashOnceApplied(int(p.Leader), entry, r.crashFor)
	}
	w.aimed.rejoining = watches
}

// crashOnceApplied crashes broker index for d once it has applied the
// metadata entry numbered entry, or at once if it is not running.
func (w *World) crashOnceApplied(index, entry int, d time.Duration) {
	b := w.brokers[index]
	if b.node == nil {
		return
	}
	b.crashAt = append(b.crashAt, pendingCrash{entry: entry, incarnation: b.incarnation, crashFor: d})
}

// pendingCrash is a crash that waits for its broker to apply an entry.
type pendingCrash struct {
	entry, incarnation int
	crashFor           time.Duration
}

// crashIfApplied schedules, at this instant, the crash of a broker that has
// applied the entry a pendingCrash waits for. (Not a crash at once: it is
// called while the broker's node is being driven.)
func (b *broker) crashIfApplied(w *World) {
	for i := 0; i < len(b.crashAt); i++ {
		c := b.crashAt[i]
		if c.incarnation != b.incarnation {
			b.crashAt = slices.Delete(b.crashAt, i, i+1)
			i--
			continue
		}
		if w.metadata.delivered[b.index] >= c.entry {
			b.crashAt = slices.Delete(b.crashAt, i, i+1)
			i--
			w.schedule(w.now, eventAimedCrash, b.index, b.incarnation, c.crashFor)
		}
	}
}
