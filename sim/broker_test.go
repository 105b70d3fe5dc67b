package sim

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/netsim"
	"cairn/replica"
)

// TestPeerSessions checks the simulator's side of broker-to-broker traffic,
// which runs the runtime shell's policy (transport.Session): each
// follower fetch in flight on a connection of its own, so that a fetch the
// leader parks never holds back the answer to another (a leader answers a
// connection's requests in order), other requests on one control
// connection, an answered fetch's connection reused, and a broken
// connection failing the whole session. With one connection per peer, a
// follower's fetch for idle partitions, parked up to 500 ms, held back the
// answer to its fetch for busy ones every time, and heartbeats with it
// (seed 792: b2 answered b0's fetch for t0-1 at once, and b0 got it 500 ms
// later, behind the parked fetch for t1-1).
func TestPeerSessions(t *testing.T) {
	w := newWorld(Options{Seed: 1, Brokers: 3, ReplicationFactor: 1, MinInsyncReplicas: 1, Durability: core.DurableAcks,
		FsyncLatencyMin: 100 * time.Microsecond, FsyncLatencyMax: 100 * time.Microsecond,
		RequestTimeout: 5 * time.Second, Network: netsim.DefaultOptions()}, nil)
	if err := w.setup(); err != nil {
		t.Fatal(err)
	}
	follower, leader := w.brokers[1], w.brokers[0]
	session := follower.peers[0]
	if session == nil || len(session.route.Conns()) != 1 {
		t.Fatalf("after registration broker 1 should talk to the controller, broker 0, on one control connection: %+v", session)
	}
	// Fetches with correlation ids the node never used: it drops their
	// answers, which the connections still count.
	corr := int32(1 << 30)
	pending := func(c *peerConn) int { return session.route.Pending(c) }
	control := session.route.Conns()[0]
	fetch := func(wait time.Duration) *peerConn {
		corr++
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.SessionEpoch = 1, int32(wait/time.Millisecond), 1, -1
		before := map[*peerConn]int{}
		for _, c := range session.route.Conns() {
			before[c] = pending(c)
		}
		follower.sendPeer(w, 0, w.formatter.AppendRequest(nil, req, corr))
		for _, c := range session.route.Conns() {
			if pending(c) > before[c] {
				return c
			}
		}
		t.Fatal("the fetch went on no connection of the session")
		return nil
	}

	parked := fetch(500 * time.Millisecond) // nothing to read: the leader parks it
	quick := fetch(0)                       // answered at once
	if parked == quick || parked == control || quick == control {
		t.Fatal("two fetches in flight and the control requests share a connection")
	}
	sent := w.now
	w.runUntil(100*time.Millisecond, func() bool { return pending(quick) == 0 })
	if pending(quick) != 0 || pending(parked) != 1 {
		t.Fatalf("%v after sending: quick fetch pending=%d, parked fetch pending=%d; want the quick one answered while the other is parked",
			w.now-sent, pending(quick), pending(parked))
	}
	if fetch(0) != quick || len(session.route.Conns()) != 3 {
		t.Fatal("a fetch did not reuse the idle fetch connection")
	}

	// The leader closes the parked fetch's connection: the follower gives
	// up the whole session, and its next request starts a new one.
	w.net.Close(w.now, parked.conn, leader.id)
	delete(leader.open, parked.conn)
	leader.node.ConnClosed(replica.ConnID(parked.conn))
	w.runUntil(100*time.Millisecond, func() bool { return follower.peers[0] != session })
	if follower.peers[0] == session {
		t.Fatal("a broken connection did not end its session")
	}
	for _, c := range session.route.Conns() {
		if follower.dialed[c.conn] != -1 {
			t.Fatalf("connection %d of the failed session still maps to a peer", c.conn)
		}
	}
}
