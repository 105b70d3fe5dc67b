package metalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// Keep dragonboat's election chatter out of test output.
	RouteDragonboatLogs(slog.New(slog.NewTextHandler(os.Stderr, nil)), slog.LevelError)
	os.Exit(m.Run())
}

// node is one replica under test, recording what its callbacks receive.
type node struct {
	id     uint64
	config DragonboatConfig
	log    Log

	mu      sync.Mutex
	indexes []uint64
	entries []string
	leaders []uint64
}

func (n *node) apply(index uint64, entry []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.indexes = append(n.indexes, index)
	n.entries = append(n.entries, string(entry))
}

func (n *node) leaderChanged(leader uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.leaders = append(n.leaders, leader)
}

// seen returns the entries delivered so far, checking that their indexes
// only grow.
func (n *node) seen(t *testing.T) []string {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := 1; i < len(n.indexes); i++ {
		if n.indexes[i] <= n.indexes[i-1] {
			t.Fatalf("node %d: index %d delivered after %d", n.id, n.indexes[i], n.indexes[i-1])
		}
	}
	return slices.Clone(n.entries)
}

// open starts (or restarts) the node's replica with fresh callbacks state.
func (n *node) open(t *testing.T) {
	t.Helper()
	n.mu.Lock()
	n.indexes, n.entries = nil, nil
	n.mu.Unlock()
	log, err := OpenDragonboat(n.config, n.apply, n.leaderChanged)
	if err != nil {
		t.Fatal(err)
	}
	n.log = log
}

// freeAddresses returns loopback addresses whose ports were free a moment
// ago.
func freeAddresses(t *testing.T, count int) []string {
	t.Helper()
	var addresses []string
	for range count {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addresses = append(addresses, listener.Addr().String())
		listener.Close()
	}
	return addresses
}

func startCluster(t *testing.T, size int) []*node {
	t.Helper()
	addresses := freeAddresses(t, size)
	peers := map[uint64]string{}
	for i, address := range addresses {
		peers[uint64(i+1)] = address
	}
	dir := t.TempDir()
	nodes := make([]*node, size)
	for i := range nodes {
		id := uint64(i + 1)
		nodes[i] = &node{id: id, config: DragonboatConfig{
			NodeID: id, RaftAddress: peers[id], Peers: peers,
			DataDir:        filepath.Join(dir, fmt.Sprint(id)),
			RTTMillisecond: 10, ElectionRTT: 10, HeartbeatRTT: 1,
		}}
		nodes[i].open(t)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.log.Close()
		}
	})
	return nodes
}

// propose retries until the entry commits: while a leader is being elected
// a proposal is dropped. A retry after a timeout could commit the entry
// twice; the tests propose only where that cannot happen (a dropped
// proposal never reached a leader) or tolerate it.
func propose(t *testing.T, n *node, entry string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := n.log.Propose(ctx, []byte(entry))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: propose %q: %v", n.id, entry, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func barrier(t *testing.T, n *node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := n.log.Barrier(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: barrier: %v", n.id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitForLeader(t *testing.T, nodes []*node) *node {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.log.IsLeader() {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no leader elected")
	return nil
}

// checkSame waits until every node has seen want, in order, and nothing
// else.
func checkSame(t *testing.T, nodes []*node, want []string) {
	t.Helper()
	for _, n := range nodes {
		barrier(t, n)
		if got := n.seen(t); !slices.Equal(got, want) {
			t.Fatalf("node %d saw\n%q\nwant\n%q", n.id, got, want)
		}
	}
}

func TestThreeVotersDeliverTheSameLog(t *testing.T) {
	nodes := startCluster(t, 3)
	waitForLeader(t, nodes)
	var want []string
	for round := range 3 {
		for _, n := range nodes {
			entry := fmt.Sprintf("round %d from node %d", round, n.id)
			propose(t, n, entry)
			want = append(want, entry)
		}
	}
	checkSame(t, nodes, want)
	for _, n := range nodes {
		leader, ok := n.log.LeaderID()
		if !ok || !nodes[leader-1].log.IsLeader() {
			t.Fatalf("node %d believes %d leads (ok=%t)", n.id, leader, ok)
		}
		n.mu.Lock()
		heard := slices.Contains(n.leaders, leader)
		n.mu.Unlock()
		if !heard {
			t.Fatalf("node %d was never told leader %d", n.id, leader)
		}
	}
}

func TestLeaderFailoverAndRestartCatchUp(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	var want []string
	for i := range 3 {
		entry := fmt.Sprintf("before failover %d", i)
		propose(t, nodes[i], entry)
		want = append(want, entry)
	}
	checkSame(t, nodes, want)

	// Stop the leader: the other two elect a new one and keep committing.
	leader.log.Close()
	var survivors []*node
	for _, n := range nodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	successor := waitForLeader(t, survivors)
	if successor == leader {
		t.Fatal("stopped node still leads")
	}
	for i, n := range survivors {
		entry := fmt.Sprintf("after failover %d", i)
		propose(t, n, entry)
		want = append(want, entry)
	}
	checkSame(t, survivors, want)

	// Restart the stopped node: it replays the whole log from the first
	// entry, then follows new entries.
	leader.open(t)
	propose(t, leader, "after restart")
	want = append(want, "after restart")
	checkSame(t, nodes, want)
}

func TestSingleVoter(t *testing.T) {
	nodes := startCluster(t, 1)
	only := waitForLeader(t, nodes)
	want := []string{"one", "two", "three"}
	for _, entry := range want {
		propose(t, only, entry)
	}
	checkSame(t, nodes, want)
	if err := only.log.Propose(context.Background(), nil); !errors.Is(err, ErrEmptyEntry) {
		t.Fatalf("empty entry: %v", err)
	}

	only.log.Close()
	if err := only.log.Propose(context.Background(), []byte("late")); err == nil {
		t.Fatal("closed log accepted a proposal")
	}
	only.open(t)
	waitForLeader(t, nodes)
	checkSame(t, nodes, want)
}

func TestConfigIsValidated(t *testing.T) {
	dir := t.TempDir()
	for name, config := range map[string]DragonboatConfig{
		"zero node id":     {RaftAddress: "127.0.0.1:1", Peers: map[uint64]string{0: "127.0.0.1:1"}, DataDir: dir},
		"two voters":       {NodeID: 1, RaftAddress: "a:1", Peers: map[uint64]string{1: "a:1", 2: "b:1"}, DataDir: dir},
		"not among peers":  {NodeID: 4, RaftAddress: "a:1", Peers: map[uint64]string{1: "a:1"}, DataDir: dir},
		"no data dir":      {NodeID: 1, RaftAddress: "a:1", Peers: map[uint64]string{1: "a:1"}},
		"address mismatch": {NodeID: 1, RaftAddress: "a:2", Peers: map[uint64]string{1: "a:1"}, DataDir: dir},
	} {
		if _, err := OpenDragonboat(config, func(uint64, []byte) {}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
