package shell

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"cairn/replica"
	"cairn/replica/metalog"
)

// ClusterConfig is what the runtime shell of a clustered node needs beyond
// the node: where the other brokers are, and where the controller quorum's
// Raft replicas listen. Every node of the cluster passes the same maps.
type ClusterConfig struct {
	// Brokers maps every broker id of the cluster, this node's included,
	// to the address of its Kafka listener: where peers send replication
	// fetches, registrations, heartbeats and ISR changes.
	Brokers map[int32]string
	// RaftAddresses maps every broker id to the address its metadata-log
	// (Raft) transport listens on. Every broker is a voter (combined mode).
	RaftAddresses map[int32]string
	// RaftDir holds this node's Raft log and identity.
	RaftDir string
	// RaftRTT is the expected round trip between brokers; Raft counts its
	// election timeout and heartbeats in it. Zero means metalog's default.
	RaftRTT time.Duration
}

func (c ClusterConfig) validate(self int32) error {
	switch {
	case c.Brokers[self] == "":
		return fmt.Errorf("replica: broker %d (this node) has no Kafka address among the brokers", self)
	case c.RaftAddresses[self] == "":
		return fmt.Errorf("replica: broker %d (this node) has no Raft address", self)
	case len(c.Brokers) != len(c.RaftAddresses):
		return fmt.Errorf("replica: %d brokers but %d Raft addresses", len(c.Brokers), len(c.RaftAddresses))
	case c.RaftDir == "":
		return errors.New("replica: no Raft directory")
	}
	for id := range c.Brokers {
		if id < 0 {
			return fmt.Errorf("replica: broker id %d: must be >= 0", id)
		}
		if c.RaftAddresses[id] == "" {
			return fmt.Errorf("replica: broker %d has no Raft address", id)
		}
	}
	return nil
}

const (
	// clusterTickMax is the longest a clustered node goes without Tick.
	// The node's own deadline does not cover everything it retries from
	// Tick (the first heartbeat, follower fetches after a failure), and
	// ticking more often than needed costs next to nothing.
	clusterTickMax = 100 * time.Millisecond
	// clusterTickSpacingMin is the shortest gap between two ticks, so that
	// a deadline the node leaves in the past cannot spin the timer: today
	// the node's peer retry time, once set by PeerDown, is never cleared.
	clusterTickSpacingMin = 10 * time.Millisecond
	// proposeTimeout bounds one metadata proposal; barrierTimeout one
	// catch-up read before acting as controller; barrierRetry the pause
	// between failed catch-up reads.
	proposeTimeout = 5 * time.Second
	barrierTimeout = 5 * time.Second
	barrierRetry   = 200 * time.Millisecond
	// barrierAttemptsPerWarning is how many failed catch-up reads make one
	// warning.
	barrierAttemptsPerWarning = 10
)

// clusterShell is the part of the runtime shell that only a clustered node
// has: sessions with peer brokers (server_peers.go), the metadata log (a
// dragonboat Raft replica) and its callbacks, and the proposer. Fields
// without a note are guarded by the server's mu.
type clusterShell struct {
	server *Server
	config ClusterConfig
	self   int32
	// metadata is set before opened is closed and never changes after.
	metadata metalog.Log
	opened   chan struct{}
	// ctx is cancelled when the server closes, ending dials, proposals
	// and catch-up reads.
	ctx    context.Context
	cancel context.CancelFunc
	// goroutines counts every goroutine of the shell, so that Close can
	// wait for them.
	goroutines sync.WaitGroup
	links      map[int32]*peerLink
	// proposals wait here, in the order the node made them, for the one
	// proposer goroutine: the node's controller numbers its proposals
	// and treats a batch committed out of turn as a lost controller.
	proposals    [][]byte
	proposalWake chan struct{}
	// raftLeader is the last metadata-quorum leader reported (broker id,
	// -1 none), and leaderTerm counts the reports, so that a catch-up
	// read started under one leadership does not act under another.
	raftLeader int32
	leaderTerm uint64
}

// NewClusteredServer wraps an open clustered node (Config.Standalone
// false) and starts its replica of the metadata log, whose committed
// entries it feeds to the node. If it fails, the node is still open and the
// caller closes it.
func NewClusteredServer(node *replica.Node, logger *slog.Logger, config ClusterConfig) (*Server, error) {
	if node.Config().Standalone {
		return nil, errors.New("replica: NewClusteredServer needs a clustered node (replica.Config.Standalone false)")
	}
	self := node.Config().NodeID
	if err := config.validate(self); err != nil {
		return nil, err
	}
	s := NewServer(node, logger)
	c := newClusterShell(s, config)
	peers := map[uint64]string{}
	for id, address := range config.RaftAddresses {
		peers[raftReplicaID(id)] = address
	}
	metadata, err := metalog.OpenDragonboat(metalog.DragonboatConfig{
		NodeID:         raftReplicaID(self),
		RaftAddress:    config.RaftAddresses[self],
		Peers:          peers,
		DataDir:        config.RaftDir,
		RTTMillisecond: uint64(config.RaftRTT / time.Millisecond),
		DeploymentID:   deploymentID(node.ClusterID()),
		ProposeTimeout: proposeTimeout,
	}, c.apply, c.leaderChanged)
	if err != nil {
		s.mu.Lock()
		s.closed = true
		s.timer.Stop()
		c.stopLocked()
		s.mu.Unlock()
		c.goroutines.Wait()
		return nil, err
	}
	c.metadata = metadata
	close(c.opened)
	c.goroutines.Add(1)
	go c.proposeLoop()
	return s, nil
}

// newClusterShell attaches the clustered part of the shell to s, without
// its metadata log yet, and starts ticking.
func newClusterShell(s *Server, config ClusterConfig) *clusterShell {
	ctx, cancel := context.WithCancel(context.Background())
	c := &clusterShell{
		server: s, config: config, self: s.node.Config().NodeID,
		opened: make(chan struct{}), ctx: ctx, cancel: cancel,
		links: map[int32]*peerLink{}, proposalWake: make(chan struct{}, 1),
		raftLeader: -1,
	}
	s.mu.Lock()
	s.cluster = c
	s.armTimer(time.Time{}) // start ticking: see clusterTickMax
	s.mu.Unlock()
	return c
}

// raftReplicaID maps a broker id to its Raft replica id: dragonboat's ids
// are 1-based (0 means none), broker ids 0-based.
func raftReplicaID(broker int32) uint64 { return uint64(broker) + 1 }

// brokerOfReplica is the inverse of raftReplicaID; Raft's 0 (no leader) is
// the node's -1.
func brokerOfReplica(replica uint64) int32 {
	if replica == 0 {
		return -1
	}
	return int32(replica - 1)
}

// deploymentID derives dragonboat's deployment id from the cluster id, so
// that Raft replicas of two clusters sharing ports ignore each other.
func deploymentID(clusterID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(clusterID))
	return max(h.Sum64(), 1)
}

// clampDeadline keeps a clustered node's timer between clusterTickSpacingMin
// and clusterTickMax after the last tick.
func (c *clusterShell) clampDeadline(deadline, lastTick time.Time) time.Time {
	if latest := lastTick.Add(clusterTickMax); deadline.IsZero() || latest.Before(deadline) {
		deadline = latest
	}
	if earliest := lastTick.Add(clusterTickSpacingMin); deadline.Before(earliest) {
		deadline = earliest
	}
	return deadline
}

// stopLocked starts the shutdown: no more dials, proposals or catch-up
// reads; every peer connection closes.
func (c *clusterShell) stopLocked() {
	c.cancel()
	c.stopPeersLocked()
	c.proposals = nil
}

// close stops the Raft replica and waits for the shell's goroutines. It is
// called without mu: the Raft replica's callbacks take it.
func (c *clusterShell) close() error {
	var err error
	select {
	case <-c.opened:
		err = c.metadata.Close()
	default:
	}
	c.goroutines.Wait()
	return err
}

// The metadata log.

// apply hands one committed metadata entry to the node. It runs on the
// metadata log's goroutine, in log order.
func (c *clusterShell) apply(index uint64, entry []byte) {
	s := c.server
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return // a restart replays the whole metadata log
	}
	s.node.ApplyMetadata(time.Now(), index, entry)
	s.flushLocked()
}

// leaderChanged learns who leads the metadata quorum. Another broker, or
// none, is passed on at once. This node is the active controller only after
// a catch-up read (takeControl): its controller starts from its image,
// which must hold every entry committed before its leadership began.
func (c *clusterShell) leaderChanged(replica uint64) {
	leader := brokerOfReplica(replica)
	s := c.server
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || leader == c.raftLeader {
		return
	}
	c.raftLeader = leader
	c.leaderTerm++
	now := time.Now()
	if leader == c.self {
		s.logger.Info("this broker leads the metadata quorum; catching up before acting as controller")
		// Until the catch-up read ends, no controller is known here: the
		// previous leader is not one any more.
		s.node.SetControllerLeader(now, -1)
		s.flushLocked()
		c.goroutines.Add(1)
		go c.takeControl(c.leaderTerm)
		return
	}
	s.logger.Info("metadata quorum leader changed", "controller", leader)
	s.node.SetControllerLeader(now, leader)
	s.flushLocked()
}

// takeControl waits until this node has applied everything committed
// before its leadership (a linearizable read through Raft), then makes it
// the active controller, unless leadership moved meanwhile.
func (c *clusterShell) takeControl(term uint64) {
	defer c.goroutines.Done()
	select {
	case <-c.opened:
	case <-c.ctx.Done():
		return
	}
	s := c.server
	for attempts := 0; ; {
		ctx, cancel := context.WithTimeout(c.ctx, barrierTimeout)
		err := c.metadata.Barrier(ctx)
		cancel()
		s.mu.Lock()
		if s.closed || c.leaderTerm != term {
			s.mu.Unlock()
			return
		}
		if err == nil {
			s.logger.Info("acting as the active controller")
			s.node.SetControllerLeader(time.Now(), c.self)
			s.flushLocked()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		// The first read of a new leader usually fails (Raft has not
		// committed an entry of its term yet); only a run of failures
		// is news.
		attempts++
		level := slog.LevelDebug
		if attempts%barrierAttemptsPerWarning == 0 {
			level = slog.LevelWarn
		}
		s.logger.Log(context.Background(), level, "catching up with the metadata log before acting as controller", "attempts", attempts, "err", err)
		select {
		case <-time.After(barrierRetry):
		case <-c.ctx.Done():
			return
		}
	}
}

// proposeLocked queues the node's proposals for the proposer.
func (c *clusterShell) proposeLocked(entries [][]byte) {
	if len(entries) == 0 {
		return
	}
	c.proposals = append(c.proposals, entries...)
	select {
	case c.proposalWake <- struct{}{}:
	default:
	}
}

// proposeLoop proposes the node's entries one at a time, in order. When one
// fails, the node drops its controller (ProposalFailed), and the entries
// queued behind the failed one go too: they were made by that controller,
// whose pending answers the node has just failed.
func (c *clusterShell) proposeLoop() {
	defer c.goroutines.Done()
	s := c.server
	for {
		select {
		case <-c.proposalWake:
		case <-c.ctx.Done():
			return
		}
		for {
			s.mu.Lock()
			if s.closed || len(c.proposals) == 0 {
				s.mu.Unlock()
				break
			}
			entry := c.proposals[0]
			c.proposals[0] = nil
			c.proposals = c.proposals[1:]
			s.mu.Unlock()
			ctx, cancel := context.WithTimeout(c.ctx, proposeTimeout)
			err := c.metadata.Propose(ctx, entry)
			cancel()
			if err == nil {
				continue
			}
			s.mu.Lock()
			if !s.closed {
				s.logger.Warn("metadata proposal failed", "err", err, "dropped-behind-it", len(c.proposals))
				c.proposals = nil
				s.node.ProposalFailed(time.Now())
				s.flushLocked()
			}
			s.mu.Unlock()
		}
	}
}
