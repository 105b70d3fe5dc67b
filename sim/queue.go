package sim

import (
	"container/heap"
	"time"
)

// eventKind is something the simulator itself schedules (the network keeps
// its own queue of deliveries).
type eventKind uint8

const (
	eventSyncDone eventKind = iota + 1
	eventBrokerTick
	eventClientWake
	eventFault
	eventRestart
	eventResume
	eventHealDisk
	eventHealNetwork
	eventLiveness
	eventMetadataCommit
	eventMetadataDeliver
	eventMetadataFailed
	eventMetadataElection
	eventGroupWake
	eventGroupMend
	eventConsumerGroupWake
	eventConsumerGroupMend
	eventAimedCrash   // a crash recipe's crash (aimed.go); payload: how long the broker stays down
	eventAimedRelease // a held AlterPartition's delivery (aimed.go); payload: the *heldAlter
	eventAimedMend    // the end of delay-request's cut (aimed.go); payload: the aimedCut
)

var eventKindNames = [...]string{"", "sync-done", "broker-tick", "client-wake", "fault", "restart", "resume", "heal-disk",
	"heal-network", "liveness", "metadata-commit", "metadata-deliver", "metadata-failed", "metadata-election", "group-wake", "group-mend",
	"consumer-group-wake", "consumer-group-mend", "aimed-crash", "aimed-release", "aimed-mend"}

func (k eventKind) String() string { return eventKindNames[k] }

// event is one scheduled happening. incarnation ties broker events to the
// life of the broker process that caused them: a crash makes them stale.
type event struct {
	at          time.Duration
	seq         uint64
	kind        eventKind
	target      int // broker or client index, or fault index
	incarnation int
	payload     any
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

func (w *World) schedule(at time.Duration, kind eventKind, target, incarnation int, payload any) {
	w.sequence++
	heap.Push(&w.queue, &event{at: at, seq: w.sequence, kind: kind, target: target, incarnation: incarnation, payload: payload})
}
