package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/batch"
	"cairn/core/controller"
	"cairn/core/errcode"
	"cairn/diskfault"
	"cairn/replica/storage"
	"cairn/replica/transport"
)

// ConnID names a client connection. The driver chooses it and never reuses it.
type ConnID uint64

// Env is what a node may use of the world. Time is not in it: it arrives as
// a value with every call.
type Env struct {
	FS     diskfault.FS
	Logger *slog.Logger
	// Rand is the node's seeded source (topic ids, cluster id). In
	// production it is seeded from crypto/rand at start.
	Rand *rand.Rand
}

// Outbound is one response frame (size prefix included) for a connection.
type Outbound struct {
	Conn  ConnID
	Frame []byte
}

// SyncTask is an fsync the driver must run, off the node's thread if it
// likes, and report back with SyncDone.
type SyncTask struct {
	partition *partition
	job       *storage.SyncJob
}

// Run performs the fsync. It is safe to call concurrently with further calls
// on the node.
func (t *SyncTask) Run() error { return t.job.Run() }

// Ready is what the node asks its driver to do. The driver sends Outbound in
// order (frames of one connection must be written in slice order), starts
// every SyncTask, closes every connection in Close after writing what
// Outbound holds for it, and calls Tick no later than Deadline.
type Ready struct {
	Outbound []Outbound
	// PeerSends are requests to other brokers, in order per broker.
	PeerSends []PeerMessage
	// Proposals are metadata log entries to replicate (clustered nodes).
	Proposals [][]byte
	Syncs     []*SyncTask
	Close     []ConnID
	// Deadline is the earliest time a waiting request expires; zero if none.
	Deadline time.Time
}

// Node is one Cairn broker. It is not safe for concurrent use: the driver
// serializes every call.
type Node struct {
	config     Config
	fs         diskfault.FS
	logger     *slog.Logger
	rand       *rand.Rand
	clusterID  string
	topics     map[string]*topic
	topicNames []string // sorted
	conns      map[ConnID]*conn
	produces   map[core.Token]*produceSlot
	nextToken  core.Token
	fetches    []*fetchWait
	meta       metadataState
	// pids is the block of producer ids InitProducerId hands out.
	pids producerIDs
	// cleanShutdown says the previous process of this node closed cleanly.
	cleanShutdown bool
	// directoryID names the data directory (see directory.go).
	directoryID controller.DirectoryID
	peers       peerSet
	// groups are the consumer group coordinators hosted here (group.go).
	groups groupHost
	// buffers recycles fetch buffers and response frames (buffers.go).
	buffers bufferPool
	ready   Ready
}

// cleanShutdownName marks a data directory whose node closed cleanly.
const cleanShutdownName = "clean-shutdown"

// Open starts a node on its data directory. A standalone node replays its
// local metadata log, becomes its own controller and registers itself; a
// clustered node waits for the driver to feed it the metadata log
// (ApplyMetadata, SetControllerLeader).
func Open(config Config, env Env, now time.Time) (*Node, error) {
	if err := config.Validate(); err != nil {
		return nil, err
	}
	if env.FS == nil || env.Logger == nil || env.Rand == nil {
		return nil, errors.New("replica: Env needs FS, Logger and Rand")
	}
	n := &Node{
		config:    config,
		fs:        env.FS,
		logger:    env.Logger,
		rand:      env.Rand,
		clusterID: config.ClusterID,
		topics:    map[string]*topic{},
		conns:     map[ConnID]*conn{},
		produces:  map[core.Token]*produceSlot{},
		peers:     newPeerSet(),
	}
	n.meta.image = controller.NewImage()
	n.meta.controllerID = -1
	n.meta.incarnation = now.UnixNano()
	if err := createDirectoryDurably(n.fs, config.DataDir); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := checkMetaProperties(n.fs, config.DataDir, config.ClusterID, config.NodeID); err != nil {
		return nil, err
	}
	directoryID, err := loadDirectoryID(n.fs, config.DataDir, n.rand)
	if err != nil {
		return nil, err
	}
	n.directoryID = directoryID
	marker := path.Join(config.DataDir, cleanShutdownName)
	if _, err := n.fs.Stat(marker); err == nil {
		n.cleanShutdown = true
		if err := n.fs.Remove(marker); err != nil {
			return nil, fmt.Errorf("remove clean-shutdown marker: %w", err)
		}
		if err := syncDirectory(n.fs, config.DataDir); err != nil {
			return nil, fmt.Errorf("remove clean-shutdown marker: %w", err)
		}
	}
	if config.Standalone {
		local, entries, err := openLocalMetadataLog(n.fs, config.DataDir)
		if err != nil {
			return nil, fmt.Errorf("open metadata log: %w", err)
		}
		n.meta.local = local
		for i, entry := range entries {
			n.ApplyMetadata(now, uint64(i+1), entry)
		}
		n.settle()
		if n.meta.unopened {
			n.closeLogs()
			local.close()
			return nil, errors.New("a partition failed to open; see the log")
		}
		n.SetControllerLeader(now, config.NodeID)
		n.heartbeat(now)
	}
	return n, nil
}

// Close closes every log cleanly and marks the data directory as cleanly
// shut down. Waiting requests are dropped; the driver closes connections.
func (n *Node) Close() error {
	first := n.closeLogs()
	if n.meta.local != nil {
		if err := n.meta.local.close(); err != nil && first == nil {
			first = err
		}
	}
	if first == nil {
		first = writeFileAtomic(n.fs, n.config.DataDir, cleanShutdownName, nil)
	}
	return first
}

func (n *Node) closeLogs() error {
	var first error
	for _, name := range n.topicNames {
		for _, p := range n.topics[name].partitions {
			if p == nil {
				continue
			}
			n.snapshotProducers(p)
			if err := p.log.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// Request is a decoded request frame, or the reason it must be refused.
// DecodeRequest makes one without touching any node state, so the runtime
// shell can decode on a connection's own goroutine, outside the node's lock:
// a request that is expensive to decode then delays only its own client.
type Request struct {
	header transport.RequestHeader
	body   kmsg.Request
	// refusal, when set, closes the connection with this reason and err.
	refusal string
	err     error
	// unsupportedApiVersions answers UNSUPPORTED_VERSION (KIP-511).
	unsupportedApiVersions bool
}

// DecodeRequest parses one request frame (without its size prefix). A
// decoded Produce refers into frame, so frame must stay untouched until the
// request has been handled. What it checks comes from the registry
// (apis.go): the key, the version and the frame's size.
func DecodeRequest(frame []byte) Request {
	h, body, req, err := transport.ParseRequestHeader(frame)
	a := apiFor(h.APIKey)
	switch {
	case err != nil:
		return Request{header: h, refusal: "malformed request header", err: err}
	case req == nil || a == nil:
		return Request{header: h, refusal: "unknown api key", err: fmt.Errorf("api key %d", h.APIKey)}
	case len(frame) > a.frameBytesMax:
		return Request{header: h, refusal: "oversized request", err: fmt.Errorf("%s of %d bytes", kmsg.NameForKey(h.APIKey), len(frame))}
	case !a.supports(h.APIVersion):
		if a.key == kmsg.ApiVersions {
			return Request{header: h, unsupportedApiVersions: true}
		}
		return Request{header: h, refusal: "unsupported version", err: fmt.Errorf("%s v%d", kmsg.NameForKey(h.APIKey), h.APIVersion)}
	}
	if err := transport.Decode(req, body); err != nil {
		return Request{header: h, refusal: "undecodable request", err: fmt.Errorf("%s v%d: %w", kmsg.NameForKey(h.APIKey), h.APIVersion, err)}
	}
	return Request{header: h, body: req}
}

// HandleFrame decodes and handles one request frame from conn. The node
// keeps no reference to frame after it returns.
func (n *Node) HandleFrame(now time.Time, id ConnID, frame []byte) {
	n.HandleRequest(now, id, DecodeRequest(frame))
}

// HandleRequest handles one decoded request from conn.
func (n *Node) HandleRequest(now time.Time, id ConnID, r Request) {
	c := n.conn(id)
	switch {
	case c.closing:
	case r.refusal != "":
		n.refuse(id, r.refusal, r.err)
	case r.unsupportedApiVersions:
		n.respond(id, c.take(), r.header, unsupportedApiVersions())
	default:
		n.dispatch(now, id, c, r.header, r.body)
	}
}

// refuse logs why a connection is being closed and closes it.
func (n *Node) refuse(id ConnID, what string, err error) {
	n.logger.Warn("closing connection", "conn", id, "reason", what, "err", err)
	n.closeConn(id)
}

func (n *Node) closeConn(id ConnID) {
	c := n.conn(id)
	if c.closing {
		return
	}
	c.closing = true
	n.ready.Close = append(n.ready.Close, id)
}

// dispatch hands a decoded request to its API's handler (apis.go).
func (n *Node) dispatch(now time.Time, id ConnID, c *conn, h transport.RequestHeader, body kmsg.Request) {
	a := apiFor(h.APIKey)
	if a == nil {
		// DecodeRequest admitted a key the registry does not hold: a bug
		// here, not in the client. Close rather than guess.
		n.refuse(id, "no handler", fmt.Errorf("%s", kmsg.NameForKey(h.APIKey)))
		return
	}
	a.handle(n, &request{now: now, conn: id, c: c, header: h}, body)
}

// respond encodes resp as the answer to the request numbered seq on conn.
func (n *Node) respond(id ConnID, seq uint64, h transport.RequestHeader, resp kmsg.Response) {
	resp.SetVersion(h.APIVersion)
	frame := transport.AppendResponseFrame(nil, h.CorrelationID, resp)
	n.complete(id, seq, frame)
}

// complete hands a finished response to the connection, which releases it
// (and any later responses it was holding back) in request order.
func (n *Node) complete(id ConnID, seq uint64, frame []byte) {
	c, ok := n.conns[id]
	if !ok || c.closing {
		return
	}
	for _, f := range c.finish(seq, frame) {
		n.ready.Outbound = append(n.ready.Outbound, Outbound{Conn: id, Frame: f})
	}
}

// ConnClosed tells the node a connection is gone. Responses still pending
// for it are dropped when they complete.
func (n *Node) ConnClosed(id ConnID) { delete(n.conns, id) }

func (n *Node) conn(id ConnID) *conn {
	c, ok := n.conns[id]
	if !ok {
		c = &conn{held: map[uint64][]byte{}}
		n.conns[id] = c
	}
	return c
}

// Tick expires waiting requests whose deadline has passed and runs the
// periodic work: heartbeats, the controller's session checks, ISR checks,
// retries of inter-broker requests.
func (n *Node) Tick(now time.Time) {
	n.expireProduces(now)
	n.expireFetches(now)
	if n.meta.unopened {
		n.reconcileAll(now)
	}
	n.heartbeat(now)
	if n.pids.next >= n.pids.end {
		// Hold a block of producer ids before the first producer asks,
		// as Kafka's brokers do: otherwise it is refused while the block
		// is fetched and backs off for a second or more.
		n.requestProducerIDs(now)
	}
	n.expireProducers(now)
	n.tickGroups(now)
	for _, name := range n.topicNames {
		for _, p := range n.topics[name].partitions {
			if p != nil && p.core.Role() == core.RoleLeader {
				p.core.Tick(now)
				n.afterCore(now, p)
			}
		}
	}
	n.peers.expireBackoff(now)
	n.pollPeers(now)
}

// SyncDone reports a finished SyncTask.
func (n *Node) SyncDone(now time.Time, task *SyncTask, err error) {
	p := task.partition
	if p.syncing != task || p.closed {
		return // the partition was deleted or reopened meanwhile
	}
	p.syncing = nil
	p.log.CompleteSync(task.job, err)
	if err != nil {
		n.failPartition(p, "fsync", err)
	} else {
		p.core.Synced(p.log.DurableOffset())
		n.truncateIfIdle(now, p)
	}
	n.afterCore(now, p)
	n.pollPeers(now)
}

// afterCore executes what a partition's state machine asked for, in the
// order PartitionReady documents.
func (n *Node) afterCore(now time.Time, p *partition) {
	if !p.core.HasReady() {
		return
	}
	rd := p.core.Ready()
	if rd.Truncate >= 0 && !p.failed {
		n.logger.Info("truncating", "topic", p.topic.name, "partition", p.index, "offset", rd.Truncate,
			"epoch", p.core.LeaderEpoch(), "high-watermark", p.core.HighWatermark())
		p.pendingTruncate = rd.Truncate
		n.truncateIfIdle(now, p)
	}
	if rd.EpochsChanged && !p.failed {
		if err := saveEpochs(n.fs, p.dir, p.core.Epochs()); err != nil {
			n.failPartition(p, "checkpoint leader epochs", err)
		}
	}
	if rd.SyncWanted && p.syncing == nil && !p.failed {
		if job := p.log.PrepareSync(); job != nil {
			p.syncing = &SyncTask{partition: p, job: job}
			n.ready.Syncs = append(n.ready.Syncs, p.syncing)
		}
	}
	groupAcked := false
	for _, ack := range rd.Acks {
		if n.groupAppendAcked(now, ack) {
			groupAcked = true
			continue
		}
		n.produceAcked(ack)
	}
	proposal := rd.Proposal
	wake := rd.HighWatermarkAdvanced || rd.EndAdvanced
	p.core.Advance()
	if proposal != nil {
		n.logger.Debug("proposing ISR", "topic", p.topic.name, "partition", p.index, "isr", proposal.ISR,
			"epoch", proposal.LeaderEpoch, "partition-epoch", proposal.PartitionEpoch)
		n.proposeISR(now, p, proposal)
	}
	if wake {
		n.wakeFetches(now)
	}
	if groupAcked {
		n.flushGroups(now)
	}
}

// truncateIfIdle cuts the log where the core asked, unless an fsync is in
// flight: the log refuses to cut segments a running sync holds, so the cut
// waits for SyncDone (the core fetches nothing meanwhile).
func (n *Node) truncateIfIdle(now time.Time, p *partition) {
	if p.pendingTruncate < 0 || p.syncing != nil || p.failed {
		return
	}
	offset := p.pendingTruncate
	p.pendingTruncate = -1
	if err := n.dropProducerSnapshot(p, offset); err != nil {
		n.failPartition(p, "remove producer snapshot", err)
		return
	}
	if err := p.log.Truncate(offset); err != nil {
		n.failPartition(p, "truncate", err)
		return
	}
	p.core.TruncatedTo(p.log.NextOffset())
	if err := n.rebuildProducers(p, now); err != nil {
		n.failPartition(p, "rebuild producer state", err)
	}
}

// failPartition takes a partition offline until the node restarts: its
// log can no longer be trusted to hold what the core believes.
func (n *Node) failPartition(p *partition, what string, err error) {
	n.logger.Error("partition offline until restart", "topic", p.topic.name, "partition", p.index, "during", what, "err", err)
	p.failed = true
	p.core.Failed(errcode.KafkaStorageError)
}

// HasReady reports whether the driver has work.
func (n *Node) HasReady() bool {
	n.settle()
	return len(n.ready.Outbound) > 0 || len(n.ready.Syncs) > 0 || len(n.ready.Close) > 0 ||
		len(n.ready.PeerSends) > 0 || len(n.ready.Proposals) > 0
}

// Ready returns the pending effects and the next deadline. The slices stay
// valid until Advance.
func (n *Node) Ready() Ready {
	n.settle()
	rd := n.ready
	rd.Deadline = n.nextDeadline()
	return rd
}

// Advance tells the node the driver took everything in the last Ready.
func (n *Node) Advance() {
	clear(n.ready.Outbound)
	clear(n.ready.Syncs)
	n.ready.Outbound = n.ready.Outbound[:0]
	n.ready.Syncs = n.ready.Syncs[:0]
	n.ready.Close = n.ready.Close[:0]
	clear(n.ready.PeerSends)
	n.ready.PeerSends = n.ready.PeerSends[:0]
	clear(n.ready.Proposals)
	n.ready.Proposals = n.ready.Proposals[:0]
}

func (n *Node) nextDeadline() time.Time {
	var next time.Time
	if n.meta.controllerID >= 0 {
		next = n.meta.nextHeartbeat
	}
	if at := n.peers.retryAt; !at.IsZero() && (next.IsZero() || at.Before(next)) {
		next = at
	}
	for _, slot := range n.produces {
		if next.IsZero() || slot.wait.deadline.Before(next) {
			next = slot.wait.deadline
		}
	}
	for _, w := range n.fetches {
		if next.IsZero() || w.deadline.Before(next) {
			next = w.deadline
		}
	}
	return n.groupDeadline(next)
}

// partition returns the hosted partition, or nil.
func (n *Node) partition(topicName string, index int32) *partition {
	t, ok := n.topics[topicName]
	if !ok || index < 0 || int(index) >= len(t.partitions) {
		return nil
	}
	return t.partitions[index]
}

// PartitionInfo is one hosted partition as the simulator's predicates and
// the metrics see it.
type PartitionInfo struct {
	core.PartitionStatus
	// Failed is set when the partition's log failed and it refuses writes
	// until the node restarts.
	Failed bool
	// LogEndOffset and LogDurableOffset are what the storage itself
	// reports, to be checked against the core's view.
	LogEndOffset, LogDurableOffset int64
	// TruncatePending says the core cut its log end and the storage will
	// follow once the sync in flight completes.
	TruncatePending bool
}

// Partitions lists every hosted partition, by topic name and index.
func (n *Node) Partitions() []PartitionInfo {
	var out []PartitionInfo
	for _, name := range n.topicNames {
		for _, p := range n.topics[name].partitions {
			if p == nil {
				continue
			}
			out = append(out, PartitionInfo{
				PartitionStatus: p.core.Status(), Failed: p.failed,
				LogEndOffset: p.log.NextOffset(), LogDurableOffset: p.log.DurableOffset(),
				TruncatePending: p.pendingTruncate >= 0,
			})
		}
	}
	return out
}

// BatchDigest identifies one stored batch: its offsets, leader epoch and
// CRC-32C. Replicas whose logs match hold equal digests.
type BatchDigest struct {
	BaseOffset, LastOffset int64
	LeaderEpoch            int32
	CRC                    uint32
}

// Digests lists the batches of a hosted partition below limit, for the
// simulator's log-matching check. It reads the log; it is not for the
// broker's hot path.
func (n *Node) Digests(topicName string, index int32, limit int64) ([]BatchDigest, error) {
	p := n.partition(topicName, index)
	if p == nil {
		return nil, fmt.Errorf("%s-%d is not hosted here", topicName, index)
	}
	limit = min(limit, p.log.NextOffset())
	var out []BatchDigest
	for offset := p.log.StartOffset(); offset < limit; {
		r, err := p.log.Read(offset, 1<<20, limit)
		if err != nil {
			return out, err
		}
		data, err := storage.ReadInto(nil, r)
		if err != nil {
			return out, err
		}
		if len(data) == 0 {
			break
		}
		for len(data) > 0 {
			h, _ := batch.ParseHeader(data)
			out = append(out, BatchDigest{BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), LeaderEpoch: h.LeaderEpoch, CRC: h.CRC})
			data = data[h.TotalBytes():]
			offset = h.NextOffset()
		}
	}
	return out, nil
}
