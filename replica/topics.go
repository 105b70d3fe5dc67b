package replica

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"time"

	"cairn/core"
	"cairn/diskfault"
	"cairn/replica/storage"
)

// Topic-name rules, as Kafka enforces them.
const (
	topicNameBytesMax = 249
	partitionsMax     = 10000
	metadataFileName  = "cairn-metadata.json"
)

// topic is a topic hosted on this node.
type topic struct {
	name       string
	id         [16]byte
	configs    map[string]string // overrides only; defaults come from topicConfigDefaults
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
	// messageBytesMax is the topic's max.message.bytes.
	messageBytesMax int32
}

// metadataFile is the node's persisted view of its topics. It is replaced
// atomically (write, sync, rename, sync directory) on every change.
type metadataFile struct {
	ClusterID string          `json:"cluster_id"`
	Topics    []topicMetadata `json:"topics"`
}

type topicMetadata struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
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

// loadMetadata reads the metadata file, or returns an empty one for a new
// data directory.
func loadMetadata(fs diskfault.FS, dataDir string) (metadataFile, bool, error) {
	var m metadataFile
	f, err := fs.Open(path.Join(dataDir, metadataFileName))
	if err != nil {
		if _, statErr := fs.Stat(path.Join(dataDir, metadataFileName)); statErr != nil {
			return m, false, nil
		}
		return m, false, fmt.Errorf("open metadata: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return m, false, fmt.Errorf("stat metadata: %w", err)
	}
	buf := make([]byte, info.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && int64(len(buf)) != 0 {
		return m, false, fmt.Errorf("read metadata: %w", err)
	}
	if err := json.Unmarshal(buf, &m); err != nil {
		return m, false, fmt.Errorf("metadata file %s is corrupt: %w", metadataFileName, err)
	}
	return m, true, nil
}

// saveMetadata replaces the metadata file atomically and durably.
func (n *Node) saveMetadata() error {
	m := metadataFile{ClusterID: n.clusterID}
	for _, name := range n.topicNames {
		t := n.topics[name]
		m.Topics = append(m.Topics, topicMetadata{
			Name: t.name, ID: hex.EncodeToString(t.id[:]), Partitions: int32(len(t.partitions)), Configs: t.configs,
		})
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(n.fs, n.config.DataDir, metadataFileName, data)
}

// writeFileAtomic writes dir/name through a temporary file so that a crash
// leaves either the old or the new content, never a mix.
func writeFileAtomic(fs diskfault.FS, dir, name string, data []byte) error {
	tmp := path.Join(dir, name+".tmp")
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path.Join(dir, name)); err != nil {
		return err
	}
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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
		messageBytesMax: int32(messageBytesMax),
		core: core.NewPartition(core.PartitionConfig{
			Topic: t.name, Partition: index, ReplicaID: n.config.NodeID, Durability: n.config.Durability,
			MinInsyncReplicas: int(minInsync), ReplicaLagMax: n.config.ReplicaLagMax,
		}, state, epochs),
	}
	// One broker: this replica leads, alone in its ISR, in epoch 0.
	self := []int32{n.config.NodeID}
	p.core.SetLeadership(now, core.Leadership{Leader: n.config.NodeID, LeaderEpoch: 0, Replicas: self, ISR: self})
	n.afterCore(now, p)
	return p, nil
}

// createTopic creates a topic's partitions and persists the metadata. On any
// failure it removes what it created, so a half-made topic never lingers.
func (n *Node) createTopic(name string, partitions int32, configs map[string]string, now time.Time) (*topic, error) {
	t := &topic{name: name, configs: configs}
	binary.BigEndian.PutUint64(t.id[:8], n.rand.Uint64())
	binary.BigEndian.PutUint64(t.id[8:], n.rand.Uint64())
	for i := int32(0); i < partitions; i++ {
		p, err := n.openPartition(t, i, now)
		if err != nil {
			n.discardPartitions(t)
			return nil, err
		}
		t.partitions = append(t.partitions, p)
	}
	n.topics[name] = t
	n.insertTopicName(name)
	if err := n.saveMetadata(); err != nil {
		delete(n.topics, name)
		n.removeTopicName(name)
		n.discardPartitions(t)
		return nil, fmt.Errorf("persist metadata: %w", err)
	}
	return t, nil
}

func (n *Node) discardPartitions(t *topic) {
	for _, p := range t.partitions {
		if err := p.log.Delete(); err != nil {
			n.logger.Warn("removing partition", "topic", t.name, "partition", p.index, "err", err)
		}
	}
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
		parent, err := fs.OpenDir(path.Dir(missing[i]))
		if err != nil {
			return err
		}
		err = parent.Sync()
		if closeErr := parent.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
