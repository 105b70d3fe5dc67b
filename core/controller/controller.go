package controller

import (
	"time"
)

// Config fixes the active controller's policies.
type Config struct {
	// SessionTimeout is how long a broker may go without a heartbeat before
	// it is fenced. Zero means DefaultSessionTimeout.
	SessionTimeout time.Duration
	// UncleanRestartLeavesISR models KIP-966 for the page-cache durability
	// mode (flush=replication), where a broker that crashed may have lost
	// records it acknowledged. A registration with CleanShutdown=false then
	// removes the broker from every ISR and ELR, so that it can never be
	// elected with a log it cannot vouch for; a partition whose last ISR
	// member it was elects an ELR member, or is left with no leader, which
	// then only an unclean election (topic config
	// unclean.leader.election.enable) can end. See
	// testdata/unclean_restart.txt. In the default durable mode a crash
	// loses nothing acknowledged, and this stays false; a registration
	// naming a new data directory is treated so in both modes.
	UncleanRestartLeavesISR bool
	// MinInsyncReplicasDefault is min.insync.replicas for topics that do
	// not set it. Zero means 1.
	MinInsyncReplicasDefault int
	// ClusterID is mixed into topic IDs, so that two clusters name their
	// topics differently.
	ClusterID string
	// ProducerIDBlockSize is how many producer IDs one allocation hands a
	// broker. Zero means DefaultProducerIDBlockSize.
	ProducerIDBlockSize int64
	// PartitionsPerTopicMax bounds CreateTopic. Zero means
	// DefaultPartitionsPerTopicMax.
	PartitionsPerTopicMax int32
}

// Defaults for the zero fields of Config.
const (
	DefaultSessionTimeout        = 9 * time.Second
	DefaultProducerIDBlockSize   = 1000
	DefaultPartitionsPerTopicMax = 10000
)

func (c Config) withDefaults() Config {
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.ProducerIDBlockSize <= 0 || c.ProducerIDBlockSize > producerIDBlockMax {
		c.ProducerIDBlockSize = DefaultProducerIDBlockSize
	}
	if c.MinInsyncReplicasDefault <= 0 {
		c.MinInsyncReplicasDefault = 1
	}
	if c.PartitionsPerTopicMax <= 0 {
		c.PartitionsPerTopicMax = DefaultPartitionsPerTopicMax
	}
	return c
}

// Ready is what the controller asks the driver to do.
//
// Records form one batch: the driver proposes EncodeBatch(Records) as one
// entry of the metadata log, and every node applies it with ApplyBatch, all
// or nothing. The controller has already applied the records to its own
// image, so its next decisions build on them. The answers the inputs
// returned since the previous Ready (error codes, fenced) hold once the
// batch commits; the driver sends them to brokers only then.
//
// If the batch fails to commit, or anything but this controller's batches
// commits to the log while it is active, the controller's image has
// diverged from the log: the driver discards the Controller and, when its
// node is again the active controller and has applied the whole committed
// log, builds a new one from a Clone of the committed image.
type Ready struct {
	Records []Record
}

// Controller is the decision logic of the active controller: broker
// liveness and fencing, leader election from the ISR, ISR changes, replica
// assignment. It is not safe for concurrent use.
type Controller struct {
	config Config
	// image is the committed image plus every record this controller has
	// proposed, in order; see Ready.
	image *Image
	// lastHeartbeat holds, per unfenced broker, the time of its last
	// heartbeat. It lives only in memory: a new controller starts every
	// broker's session afresh at its first Tick.
	lastHeartbeat map[int32]time.Time
	// electionsWanted asks the next Tick to elect leaders for every offline
	// partition that has an eligible candidate. A new controller sets it:
	// its predecessor may have died between unfencing a broker and electing
	// leaders on it.
	electionsWanted bool
	ready           Ready
}

// New returns the controller of a node that just became active, starting
// from image, the committed image after the whole committed log. The
// controller works on its own clone; image is not modified.
func New(config Config, image *Image) *Controller {
	return &Controller{
		config:          config.withDefaults(),
		image:           image.Clone(),
		lastHeartbeat:   map[int32]time.Time{},
		electionsWanted: true,
	}
}

// Image returns the controller's image: the committed image plus the
// records it has proposed. The caller must not modify it.
func (c *Controller) Image() *Image { return c.image }

// HasReady reports whether Ready has records to propose.
func (c *Controller) HasReady() bool { return len(c.ready.Records) > 0 }

// Ready returns the records to propose. They stay valid until Advance.
func (c *Controller) Ready() Ready { return c.ready }

// Advance tells the controller that the driver proposed the last Ready.
func (c *Controller) Advance() { c.ready.Records = nil }

// propose applies records to the controller's image and queues them. The
// controller decides only from its image, so a refusal here is a bug in the
// decision logic: it crashes rather than propose what every node would
// refuse.
func (c *Controller) propose(records ...Record) {
	for _, r := range records {
		if err := c.image.Apply(r); err != nil {
			panic("controller: proposed a record the image refuses: " + r.String() + ": " + err.Error())
		}
		c.ready.Records = append(c.ready.Records, r)
	}
}

// Tick fences every broker whose session lapsed, moving its leaderships to
// other ISR members, and runs the elections a takeover asked for.
func (c *Controller) Tick(now time.Time) {
	for _, b := range c.image.Brokers() {
		if b.Fenced {
			delete(c.lastHeartbeat, b.ID)
			continue
		}
		last, ok := c.lastHeartbeat[b.ID]
		if !ok {
			// First sight of this broker by this controller: a fresh
			// session, rather than fencing brokers whose heartbeats went to
			// the previous controller.
			c.lastHeartbeat[b.ID] = now
			continue
		}
		if now.Sub(last) > c.config.SessionTimeout {
			c.fence(b.ID)
		}
	}
	if c.electionsWanted {
		c.electionsWanted = false
		c.electOffline()
	}
}

// Heartbeat records that a broker is alive. A fenced broker that reports it
// caught up with the metadata log is unfenced, and leaders are elected for
// the offline partitions it can lead. It returns whether the broker is
// fenced once this Ready's records commit; a heartbeat from an unknown
// broker or a stale incarnation is answered fenced and changes nothing.
func (c *Controller) Heartbeat(now time.Time, brokerID int32, incarnation int64, caughtUp bool) (fenced bool) {
	b, ok := c.image.Broker(brokerID)
	if !ok || b.Incarnation != incarnation {
		return true
	}
	c.lastHeartbeat[brokerID] = now
	if !b.Fenced {
		return false
	}
	if !caughtUp {
		return true
	}
	c.propose(UnfenceBroker{ID: brokerID})
	c.electOffline()
	return false
}

// fence proposes moving every leadership of the broker to another eligible
// ISR member, shrinking the ISRs it is in, and then fencing it.
func (c *Controller) fence(brokerID int32) {
	c.propose(c.evictBroker(brokerID, false)...)
	c.propose(FenceBroker{ID: brokerID})
	delete(c.lastHeartbeat, brokerID)
}
