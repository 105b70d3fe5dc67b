package controller

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// cluster drives a Controller the way a node's runtime shell does: every
// Ready is encoded as one batch, "committed" to a log, decoded, and applied
// to the committed image, which every node would hold. After each batch it
// checks what must hold between images and within one.
type cluster struct {
	config     Config
	now        time.Time
	committed  *Image
	controller *Controller
	// log holds every committed batch, encoded, from the empty image.
	log [][]byte
	// foreign is set when a batch the controller did not propose was
	// committed: its image diverged, and the driver must replace it.
	foreign bool
	// uncleanAsked lets the next commit elect leaders from outside the ISR
	// and ELR: an operator asked for an unclean election (ElectLeaders).
	uncleanAsked bool
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newCluster(config Config) *cluster {
	committed := NewImage()
	return &cluster{config: config, now: epoch, committed: committed, controller: New(config, committed)}
}

// failover replaces the controller by a new one built from the committed
// image, as a newly active controller is; pending records are lost.
func (c *cluster) failover() {
	c.controller = New(c.config, c.committed)
	c.foreign = false
}

// commit proposes and commits the controller's Ready, returning its records.
func (c *cluster) commit() ([]Record, error) {
	if !c.controller.HasReady() {
		return nil, nil
	}
	records := c.controller.Ready().Records
	c.controller.Advance()
	encoded := EncodeBatch(records)
	applied, err := c.commitBatch(encoded)
	c.uncleanAsked = false
	if err != nil {
		return nil, err
	}
	if !applied {
		return nil, fmt.Errorf("controller's own batch refused: %v", records)
	}
	if got, want := c.controller.Image().String(), c.committed.String(); got != want && !c.foreign {
		return nil, fmt.Errorf("controller image diverged from the committed image:\n%s\nvs\n%s", got, want)
	}
	return records, nil
}

// commitBatch applies one committed log entry as every node would, checking
// the invariants after every record and the transition rules across the
// batch. A refused batch (applied false) must leave the image unchanged and
// is not logged; err reports a broken rule.
func (c *cluster) commitBatch(encoded []byte) (applied bool, err error) {
	records, err := DecodeBatch(encoded)
	if err != nil {
		return false, err
	}
	if again := EncodeBatch(records); string(again) != string(encoded) {
		return false, fmt.Errorf("encoding is not canonical")
	}
	before := c.committed.Clone()
	stepwise := c.committed.Clone()
	for _, r := range records {
		previous := stepwise.Clone()
		if err := stepwise.Apply(r); err != nil {
			break // ApplyBatch must refuse the batch too; checked below
		}
		if err := stepwise.CheckInvariants(); err != nil {
			return false, fmt.Errorf("after %s: %w", r, err)
		}
		if err := checkTransition(previous, stepwise, r, c.uncleanAsked); err != nil {
			return false, err
		}
	}
	if err := c.committed.ApplyBatch(records); err != nil {
		if before.String() != c.committed.String() {
			return false, fmt.Errorf("refused batch changed the image: %w", err)
		}
		return false, nil
	}
	if stepwise.String() != c.committed.String() {
		return false, fmt.Errorf("batch and record-by-record application differ")
	}
	c.log = append(c.log, encoded)
	return true, nil
}

// checkTransition checks the rules between consecutive images: epochs never
// go back, every leader change bumps the leader epoch, a new leader comes
// from the previous ISR or ELR unless the topic allows unclean election or
// an operator asked for one, and a
// partition record that creates a partition starts at fresh epochs.
func checkTransition(before, after *Image, r Record, uncleanAsked bool) error {
	for _, t := range after.Topics() {
		old, existed := before.Topic(t.Name)
		if !existed || old.ID != t.ID {
			continue
		}
		unclean := uncleanAsked || t.Configs[UncleanLeaderElectionConfig] == "true"
		for _, p := range after.Partitions(t.Name) {
			q, ok := before.Partition(t.Name, p.Partition)
			if !ok {
				continue
			}
			name := fmt.Sprintf("%s-%d after %s", p.Topic, p.Partition, r)
			if p.LeaderEpoch < q.LeaderEpoch || p.PartitionEpoch < q.PartitionEpoch {
				return fmt.Errorf("%s: epochs went back", name)
			}
			if p.Leader != q.Leader && p.LeaderEpoch <= q.LeaderEpoch {
				return fmt.Errorf("%s: leader %d -> %d without a new leader epoch", name, q.Leader, p.Leader)
			}
			for _, r := range p.ELR {
				if !slices.Contains(q.ISR, r) && !slices.Contains(q.ELR, r) {
					return fmt.Errorf("%s: elr member %d was in neither isr %v nor elr %v", name, r, q.ISR, q.ELR)
				}
			}
			if len(p.ELR) > 0 && len(p.ISR) >= min(minInsync(t), len(p.Replicas)) {
				return fmt.Errorf("%s: elr %v beside an isr %v at min.insync.replicas", name, p.ELR, p.ISR)
			}
			if p.Leader != q.Leader && p.Leader != NoLeader && !unclean && !slices.Contains(q.ISR, p.Leader) &&
				!slices.Contains(q.ELR, p.Leader) {
				return fmt.Errorf("%s: leader %d elected outside isr %v and elr %v", name, p.Leader, q.ISR, q.ELR)
			}
		}
	}
	return nil
}

// replay folds the whole log into a fresh image.
func (c *cluster) replay() (*Image, error) {
	image := NewImage()
	for i, encoded := range c.log {
		records, err := DecodeBatch(encoded)
		if err != nil {
			return nil, err
		}
		if err := image.ApplyBatch(records); err != nil {
			return nil, fmt.Errorf("batch %d: %w", i, err)
		}
	}
	return image, nil
}

// offlineNeedlessly returns a partition without a leader although it has a
// candidate the controller should have elected: an unfenced ISR member, or
// any unfenced replica when the topic allows unclean election.
// minInsync is a topic's min.insync.replicas in these tests: its config, or
// the default 1.
func minInsync(t Topic) int {
	if v, err := strconv.Atoi(t.Configs[MinInsyncReplicasConfig]); err == nil {
		return v
	}
	return 1
}

func offlineNeedlessly(image *Image) (Partition, bool) {
	for _, t := range image.Topics() {
		unclean := t.Configs[UncleanLeaderElectionConfig] == "true"
		for _, p := range image.Partitions(t.Name) {
			if p.Leader != NoLeader {
				continue
			}
			for _, r := range p.Replicas {
				b, _ := image.Broker(r)
				if !b.Fenced && (unclean || slices.Contains(p.ISR, r) || slices.Contains(p.ELR, r)) {
					return p, true
				}
			}
		}
	}
	return Partition{}, false
}
