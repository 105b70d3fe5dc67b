package metalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4"
	dragonboatconfig "github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	"github.com/lni/dragonboat/v4/statemachine"
)

// DragonboatConfig configures one node's replica of the metadata log.
type DragonboatConfig struct {
	// NodeID is this node's replica ID in the shard, 1-based (Raft
	// reserves 0 for "none").
	NodeID uint64
	// RaftAddress is host:port this node's Raft transport listens on and
	// its peers reach it at, for example the Kafka port + 100.
	RaftAddress string
	// Peers are the initial voters, NodeID to RaftAddress, this node
	// included: one voter, or three. They are recorded on the first start;
	// a restart must pass the same map.
	Peers map[uint64]string
	// DataDir holds the Raft log (dragonboat's default log store) and the
	// NodeHost's identity. It is this node's alone.
	DataDir string
	// RTTMillisecond is the expected round trip between peers; elections
	// and heartbeats are counted in it. Zero means 50.
	RTTMillisecond uint64
	// ElectionRTT is the election timeout in round trips. Zero means 10.
	ElectionRTT uint64
	// HeartbeatRTT is the leader's heartbeat interval in round trips. Zero
	// means 1.
	HeartbeatRTT uint64
	// ShardID names the Raft shard. Zero means 1.
	ShardID uint64
	// DeploymentID, when set, makes nodes of different clusters ignore each
	// other's messages (for example, derived from the cluster ID).
	DeploymentID uint64
	// ProposeTimeout bounds Propose and Barrier when their ctx has no
	// deadline. Zero means 5 seconds.
	ProposeTimeout time.Duration
}

func (c DragonboatConfig) withDefaults() DragonboatConfig {
	if c.RTTMillisecond == 0 {
		c.RTTMillisecond = 50
	}
	if c.ElectionRTT == 0 {
		c.ElectionRTT = 10
	}
	if c.HeartbeatRTT == 0 {
		c.HeartbeatRTT = 1
	}
	if c.ShardID == 0 {
		c.ShardID = 1
	}
	if c.ProposeTimeout <= 0 {
		c.ProposeTimeout = 5 * time.Second
	}
	return c
}

func (c DragonboatConfig) validate() error {
	switch {
	case c.NodeID == 0:
		return errors.New("metalog: node ids are 1-based")
	case c.DataDir == "":
		return errors.New("metalog: no data directory")
	case len(c.Peers) != 1 && len(c.Peers) != 3:
		return fmt.Errorf("metalog: %d voters; want 1 or 3", len(c.Peers))
	case c.Peers[c.NodeID] != c.RaftAddress:
		return fmt.Errorf("metalog: peers give node %d address %q, config says %q",
			c.NodeID, c.Peers[c.NodeID], c.RaftAddress)
	}
	return nil
}

// dragonboatLog is a Log backed by one replica of a dragonboat shard.
type dragonboatLog struct {
	config    DragonboatConfig
	host      *dragonboat.NodeHost
	delivery  *delivery
	closeOnce sync.Once
}

// OpenDragonboat starts this node's replica of the metadata log. Committed
// entries go to apply, in order, from the first; leadership changes go to
// leaderChanged (which may be nil).
func OpenDragonboat(config DragonboatConfig, apply ApplyFunc, leaderChanged LeaderFunc) (Log, error) {
	config = config.withDefaults()
	if err := config.validate(); err != nil {
		return nil, err
	}
	host, err := dragonboat.NewNodeHost(nodeHostConfig(config, leaderChanged))
	if err != nil {
		return nil, fmt.Errorf("metalog: start node host: %w", err)
	}
	l := &dragonboatLog{config: config, host: host, delivery: &delivery{apply: apply}}
	members := map[uint64]dragonboat.Target{}
	for id, address := range config.Peers {
		members[id] = address
	}
	if host.HasNodeInfo(config.ShardID, config.NodeID) {
		// A restart: the members were recorded at the first start.
		members = nil
	}
	create := func(shardID, replicaID uint64) statemachine.IStateMachine {
		return &stateMachine{delivery: l.delivery}
	}
	if err := host.StartReplica(members, false, create, replicaConfig(config)); err != nil {
		host.Close()
		return nil, fmt.Errorf("metalog: start replica %d: %w", config.NodeID, err)
	}
	return l, nil
}

func nodeHostConfig(config DragonboatConfig, leaderChanged LeaderFunc) dragonboatconfig.NodeHostConfig {
	return dragonboatconfig.NodeHostConfig{
		DeploymentID:      config.DeploymentID,
		NodeHostDir:       filepath.Join(config.DataDir, "nodehost"),
		WALDir:            filepath.Join(config.DataDir, "wal"),
		RTTMillisecond:    config.RTTMillisecond,
		RaftAddress:       config.RaftAddress,
		RaftEventListener: &leaderListener{shardID: config.ShardID, changed: leaderChanged},
		Expert: dragonboatconfig.ExpertConfig{
			// The metadata log is small: the tiny write buffers of the
			// default log store bound its memory to about 256 MiB rather
			// than the default 8 GiB.
			LogDB: dragonboatconfig.GetTinyMemLogDBConfig(),
		},
	}
}

func replicaConfig(config DragonboatConfig) dragonboatconfig.Config {
	return dragonboatconfig.Config{
		ReplicaID:    config.NodeID,
		ShardID:      config.ShardID,
		ElectionRTT:  config.ElectionRTT,
		HeartbeatRTT: config.HeartbeatRTT,
		// A leader that cannot reach a quorum steps down, so a partitioned
		// node stops acting as the active controller.
		CheckQuorum: true,
		// A rejoining node does not depose a healthy leader.
		PreVote: true,
		// No snapshots: every restart replays the whole log (see Log), and
		// without snapshots the log is never compacted under a lagging peer.
		SnapshotEntries: 0,
	}
}

func (l *dragonboatLog) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, l.config.ProposeTimeout)
}

// Propose implements Log.
func (l *dragonboatLog) Propose(ctx context.Context, entry []byte) error {
	if len(entry) == 0 {
		// dragonboat reserves empty entries for Raft's own use.
		return ErrEmptyEntry
	}
	ctx, cancel := l.context(ctx)
	defer cancel()
	// A no-op session: no deduplication of retried proposals, which the
	// controller's records do not need (see Log.Propose).
	session := l.host.GetNoOPSession(l.config.ShardID)
	if _, err := l.host.SyncPropose(ctx, session, entry); err != nil {
		return l.wrap("propose", err)
	}
	return nil
}

// Barrier implements Log with a linearizable read: Raft's ReadIndex waits
// until the local state machine has applied everything committed when the
// read began.
func (l *dragonboatLog) Barrier(ctx context.Context) error {
	ctx, cancel := l.context(ctx)
	defer cancel()
	if _, err := l.host.SyncRead(ctx, l.config.ShardID, nil); err != nil {
		return l.wrap("barrier", err)
	}
	return nil
}

func (l *dragonboatLog) wrap(operation string, err error) error {
	if errors.Is(err, dragonboat.ErrClosed) || errors.Is(err, dragonboat.ErrShardClosed) {
		return fmt.Errorf("metalog: %s: %w (%v)", operation, ErrClosed, err)
	}
	return fmt.Errorf("metalog: %s: %w", operation, err)
}

// LeaderID implements Log.
func (l *dragonboatLog) LeaderID() (uint64, bool) {
	id, _, valid, err := l.host.GetLeaderID(l.config.ShardID)
	if err != nil || !valid || id == 0 {
		return 0, false
	}
	return id, true
}

// IsLeader implements Log.
func (l *dragonboatLog) IsLeader() bool {
	id, ok := l.LeaderID()
	return ok && id == l.config.NodeID
}

// Close implements Log.
func (l *dragonboatLog) Close() error {
	l.closeOnce.Do(l.host.Close)
	return nil
}

// delivery hands committed entries to the callback, at most once each. It
// outlives state machine instances, so that even a state machine recreated
// within the process could not deliver an index twice.
type delivery struct {
	mu        sync.Mutex
	apply     ApplyFunc
	lastIndex uint64
}

func (d *delivery) deliver(index uint64, entry []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if index <= d.lastIndex {
		return
	}
	d.lastIndex = index
	// dragonboat reuses entry after Update returns; the callback may keep
	// its copy.
	d.apply(index, bytes.Clone(entry))
}

func (d *delivery) last() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastIndex
}

// stateMachine is the dragonboat state machine of the metadata log: it
// passes entries through to the node, which holds the real state (the
// metadata image) outside it.
type stateMachine struct {
	delivery *delivery
}

// Update delivers one committed entry.
func (s *stateMachine) Update(entry statemachine.Entry) (statemachine.Result, error) {
	s.delivery.deliver(entry.Index, entry.Cmd)
	return statemachine.Result{Value: entry.Index}, nil
}

// Lookup answers Barrier's read with the last delivered index.
func (s *stateMachine) Lookup(query interface{}) (interface{}, error) {
	return s.delivery.last(), nil
}

// errNoSnapshots stops the replica loudly if dragonboat ever needs a
// snapshot, which the configuration rules out: recovering from one would
// skip entries the node's image has never seen.
var errNoSnapshots = errors.New("metalog: snapshots are not supported")

// SaveSnapshot refuses: see errNoSnapshots.
func (s *stateMachine) SaveSnapshot(io.Writer, statemachine.ISnapshotFileCollection, <-chan struct{}) error {
	return errNoSnapshots
}

// RecoverFromSnapshot refuses: see errNoSnapshots.
func (s *stateMachine) RecoverFromSnapshot(io.Reader, []statemachine.SnapshotFile, <-chan struct{}) error {
	return errNoSnapshots
}

// Close has nothing to release.
func (s *stateMachine) Close() error { return nil }

// leaderListener forwards dragonboat's leader updates for the shard.
type leaderListener struct {
	shardID uint64
	changed LeaderFunc
}

// LeaderUpdated implements raftio.IRaftEventListener.
func (l *leaderListener) LeaderUpdated(info raftio.LeaderInfo) {
	if info.ShardID == l.shardID && l.changed != nil {
		l.changed(info.LeaderID)
	}
}
