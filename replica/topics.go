package replica

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"time"

	"cairn/core"
	"cairn/core/controller"
	"cairn/core/errcode"
	"cairn/diskfault"
	"cairn/replica/storage"
)

// Limits of topic metadata.
const (
	topicNameBytesMax = 249
	partitionsMax     = 10000
)

// topic is a topic as this node knows it: its identity and configs from
// the metadata image, and the partitions it hosts (nil where it hosts none).
type topic struct {
	name       string
	id         controller.TopicID
	configs    map[string]string // overrides only; defaults come from topicConfigs
	partitions []*partition
}

// partition is one hosted partition: the core state machine and its log.
type partition struct {
	topic *topic
	index int32
	dir   string
	core  *core.Partition
	log   *storage.Log
	// syncing is the fsync in flight, if any: at most one per log, so that
	// one fsync covers every batch appended while the previous one ran.
	syncing *SyncTask
	// failed is set when the log can no longer be trusted (a failed fsync):
	// the partition refuses produces until the node restarts and recovers it.
	failed bool
	// closed is set once the partition left this node; late completions
	// for it are ignored.
	closed bool
	// pendingTruncate is a cut the core asked for that waits for the sync
	// in flight; -1 when none.
	pendingTruncate int64
	// messageBytesMax is the topic's max.message.bytes.
	messageBytesMax int32
	// producers is the idempotent producers' state, kept from every batch
	// appended; snapshotOffset is the log offset the snapshot on disk
	// describes (-1: none).
	producers      *core.Producers
	snapshotOffset int64
}

// validTopicName reports why name cannot be a topic, or "" if it can.
func validTopicName(name string) string {
	if name == "" || name == "." || name == ".." {
		return "topic name is empty, '.' or '..'"
	}
	if len(name) > topicNameBytesMax {
		return "topic name is longer than " + strconv.Itoa(topicNameBytesMax) + " characters"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("topic name %q has a character outside [a-zA-Z0-9._-]", name)
		}
	}
	return ""
}

func partitionDir(dataDir, topicName string, index int32) string {
	return path.Join(dataDir, topicName+"-"+strconv.Itoa(int(index)))
}

// writeFileAtomic writes dir/name through a temporary file so that a crash
// leaves either the old or the new content, never a mix.
func writeFileAtomic(fs diskfault.FS, dir, name string, data []byte) error {
	return writeFile(fs, dir, name, data, true)
}

// writeFile is writeFileAtomic, with the fsyncs of the file and of the
// directory left out when durable is false (only a mutant asks for that).
func writeFile(fs diskfault.FS, dir, name string, data []byte, durable bool) error {
	tmp := path.Join(dir, name+".tmp")
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path.Join(dir, name)); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDirectory(fs, dir)
}

// insertTopicName keeps n.topicNames sorted, so that every listing of topics
// comes out in one order on every run.
func (n *Node) insertTopicName(name string) {
	i := sort.SearchStrings(n.topicNames, name)
	n.topicNames = append(n.topicNames, "")
	copy(n.topicNames[i+1:], n.topicNames[i:])
	n.topicNames[i] = name
}

func (n *Node) removeTopicName(name string) {
	i := sort.SearchStrings(n.topicNames, name)
	if i < len(n.topicNames) && n.topicNames[i] == name {
		n.topicNames = append(n.topicNames[:i], n.topicNames[i+1:]...)
	}
}

// openPartition opens (recovering) or creates the log of one partition.
// The partition starts without a role; the metadata gives it one.
func (n *Node) openPartition(t *topic, index int32, now time.Time) (*partition, error) {
	logConfig, err := topicLogConfig(n.config, t.configs)
	if err != nil {
		return nil, err
	}
	dir := partitionDir(n.config.DataDir, t.name, index)
	log, err := storage.Open(n.fs, dir, logConfig, now)
	if err != nil {
		return nil, fmt.Errorf("open partition %s-%d: %w", t.name, index, err)
	}
	epochs, err := loadEpochs(n.fs, dir)
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("open partition %s-%d: %w", t.name, index, err)
	}
	messageBytesMax, _ := topicInt(n.config, t.configs, "max.message.bytes")
	minInsync, _ := topicInt(n.config, t.configs, "min.insync.replicas")
	state := core.LogState{StartOffset: log.StartOffset(), EndOffset: log.NextOffset(), DurableOffset: log.DurableOffset()}
	p := &partition{
		topic:           t,
		index:           index,
		dir:             dir,
		log:             log,
		pendingTruncate: -1,
		messageBytesMax: int32(messageBytesMax),
		core: core.NewPartition(core.PartitionConfig{
			Topic: t.name, Partition: index, ReplicaID: n.config.NodeID, Durability: n.config.Durability,
			MinInsyncReplicas: int(minInsync), ReplicaLagMax: n.config.ReplicaLagMax,
		}, state, epochs),
		producers:      core.NewProducers(n.config.ProducerIdleMax),
		snapshotOffset: -1,
	}
	if err := n.loadProducers(p, now); err != nil {
		log.Close()
		return nil, fmt.Errorf("open partition %s-%d: %w", t.name, index, err)
	}
	return p, nil
}

// closePartition stops hosting a partition: waiting produces fail, and its
// log is deleted (the partition moved away or its topic is gone) or closed.
func (n *Node) closePartition(p *partition, remove bool) {
	p.closed = true
	p.syncing = nil
	p.core.Failed(errcode.NotLeaderOrFollower)
	for _, ack := range p.core.Ready().Acks {
		n.produceAcked(ack)
	}
	p.core.Advance()
	var err error
	if remove {
		err = p.log.Delete()
	} else {
		err = p.log.Close()
	}
	if err != nil {
		n.logger.Warn("closing partition log", "topic", p.topic.name, "partition", p.index, "err", err)
	}
}

// removeTopic forgets a deleted topic and deletes its local logs.
func (n *Node) removeTopic(t *topic) {
	delete(n.topics, t.name)
	n.removeTopicName(t.name)
	for _, p := range t.partitions {
		if p != nil {
			n.closePartition(p, true)
		}
	}
	n.logger.Info("deleted topic", "topic", t.name)
}

// createDirectoryDurably creates dir and any missing parents, syncing each
// new directory's parent so that the new entries survive a crash: a
// directory that exists only in the page cache vanishes with power loss.
func createDirectoryDurably(fs diskfault.FS, dir string) error {
	var missing []string
	for d := path.Clean(dir); d != "." && d != "/"; d = path.Dir(d) {
		if _, err := fs.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := syncDirectory(fs, path.Dir(missing[i])); err != nil {
			return err
		}
	}
	return nil
}

// LiveBrokers counts the registered, unfenced brokers the node's metadata
// knows.
func (n *Node) LiveBrokers() int { return n.liveBrokers() }
