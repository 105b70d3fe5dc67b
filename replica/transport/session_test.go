package transport

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSessionRouting walks the peer-session policy: control requests share
// one connection, each fetch in flight gets a connection of its own, an
// answered fetch's connection is reused, and past FetchConnectionsMax the
// least busy one is shared.
func TestSessionRouting(t *testing.T) {
	formatter := kmsg.NewRequestFormatter()
	fetch := formatter.AppendRequest(nil, kmsg.NewPtrFetchRequest(), 1)
	heartbeat := formatter.AppendRequest(nil, kmsg.NewPtrBrokerHeartbeatRequest(), 2)
	var s Session[int]
	dials := 0
	dial := func() (int, bool) { dials++; return dials, true }
	route := func(frame []byte) int {
		t.Helper()
		c, ok := s.Route(frame, dial)
		if !ok {
			t.Fatal("routing failed with a dialer that never fails")
		}
		return c
	}

	control := route(heartbeat)
	if again := route(heartbeat); again != control || dials != 1 {
		t.Fatalf("two control requests on connections %d and %d after %d dials; want one connection", control, again, dials)
	}
	first, second := route(fetch), route(fetch)
	if first == control || second == control || first == second {
		t.Fatalf("control %d, fetches %d and %d: want three connections", control, first, second)
	}
	s.Answered(first)
	if again := route(fetch); again != first {
		t.Fatalf("a fetch went to %d; want the idle connection %d", again, first)
	}
	for len(s.Conns()) < 1+FetchConnectionsMax {
		route(fetch)
	}
	if got := s.Pending(control); got != 2 {
		t.Fatalf("control connection pending %d; want 2", got)
	}
	// Every fetch connection is busy with one: the next fetch shares one
	// without dialing, and the one after goes elsewhere, to a least busy.
	shared := route(fetch)
	if len(s.Conns()) != 1+FetchConnectionsMax || shared == control || s.Pending(shared) != 2 {
		t.Fatalf("at the limit a fetch went to %d (pending %d) with %d connections", shared, s.Pending(shared), len(s.Conns()))
	}
	if next := route(fetch); next == shared || s.Pending(next) != 2 {
		t.Fatalf("the next fetch went to %d (pending %d); want another connection that had one", next, s.Pending(next))
	}
	if s.Conns()[0] != control || !s.Has(second) || s.Has(dials+1) {
		t.Fatalf("Conns %v: want the control connection first and only dialed connections", s.Conns())
	}
}

// TestSessionDialFailure: when the dialer refuses (the session failed),
// nothing is routed and nothing counted.
func TestSessionDialFailure(t *testing.T) {
	var s Session[int]
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrFetchRequest(), 1)
	if _, ok := s.Route(frame, func() (int, bool) { return 0, false }); ok {
		t.Fatal("routed a request although the dial was refused")
	}
	if len(s.Conns()) != 0 {
		t.Fatalf("a refused dial left connections %v", s.Conns())
	}
}
