package netsim

import "time"

// entryKind says what a scheduled entry will do when it reaches the front.
type entryKind uint8

const (
	// entryOpen tells an end EventConnected, EventAccepted or
	// EventDialFailed (connectionEnd.openKind).
	entryOpen entryKind = iota + 1
	// entryReset tells an end EventReset after its detection delay.
	entryReset
	// entryDeliver delivers the head message of a direction (EventDeliver,
	// or EventClosed for the closing marker).
	entryDeliver
	// entryTimeout breaks a connection whose direction a partition held
	// longer than the connection timeout.
	entryTimeout
)

// entry is one scheduled event. Entries are never removed from the middle of
// the heap; instead the slot of its owner (an end or a direction) records
// the sequence of the one entry that is still valid, and entries whose
// sequence does not match are discarded when they reach the front. Every
// valid entry produces exactly one Event, so Next never reports a time at
// which nothing happens.
type entry struct {
	at         time.Duration
	sequence   uint64
	connection *connection
	kind       entryKind
	index      uint8 // the end (entryOpen, entryReset) or direction (entryDeliver, entryTimeout)
}

// slot returns the owner's record of its valid entry of this kind.
func (e *entry) slot() *uint64 {
	c := e.connection
	switch e.kind {
	case entryOpen:
		return &c.ends[e.index].openSequence
	case entryReset:
		return &c.ends[e.index].resetSequence
	case entryDeliver:
		return &c.directions[e.index].deliverSequence
	case entryTimeout:
		return &c.directions[e.index].timeoutSequence
	}
	panic("netsim: entry of unknown kind")
}

func (e *entry) valid() bool { return *e.slot() == e.sequence }

// entryHeap is a binary min-heap of entries ordered by (at, sequence):
// earliest first, ties in scheduling order. It is written out rather than
// built on container/heap so that pushing and popping do not allocate.
type entryHeap []entry

func (h entryHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].sequence < h[j].sequence
}

func (h *entryHeap) push(e entry) {
	*h = append(*h, e)
	h.up(len(*h) - 1)
}

func (h *entryHeap) pop() entry {
	old := *h
	last := len(old) - 1
	top := old[0]
	old[0] = old[last]
	old[last] = entry{} // drop the connection pointer for the collector
	*h = old[:last]
	h.down(0)
	return top
}

func (h entryHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (h entryHeap) down(i int) {
	for {
		smallest := i
		for _, child := range [2]int{2*i + 1, 2*i + 2} {
			if child < len(h) && h.less(child, smallest) {
				smallest = child
			}
		}
		if smallest == i {
			return
		}
		h[i], h[smallest] = h[smallest], h[i]
		i = smallest
	}
}

// compact drops every invalid entry and restores the heap order.
func (h *entryHeap) compact() {
	kept := (*h)[:0]
	for i := range *h {
		if (*h)[i].valid() {
			kept = append(kept, (*h)[i])
		}
	}
	clear((*h)[len(kept):])
	*h = kept
	for i := len(kept)/2 - 1; i >= 0; i-- {
		kept.down(i)
	}
}
