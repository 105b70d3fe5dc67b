package controller

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestStories replays the transcripts in testdata/: each tells a story of a
// cluster through the controller's inputs, printing the records committed
// and the answers given. Regenerate with -rewrite after a deliberate change,
// and read the diff as a change of behaviour.
//
// Commands (brokers are numbered; incarnations are tracked per broker):
//
//	config [session-timeout=9s] [unclean-restart-leaves-isr]   reset to an empty cluster
//	register id=N [rack=R] [unclean]          a new process of broker N registers
//	heartbeat ids=N[,M...] [caught-up] [stale]
//	tick [advance=DURATION]                  move the clock, then Tick
//	create-topic name=T partitions=N rf=N [unclean-election]
//	delete-topic name=T
//	alter-partition topic=T partition=N leader=N leader-epoch=N partition-epoch=N isr=N[,M...]
//	elect-preferred
//	rebalance percentage=N                   the auto.leader.rebalance check; prints how many moved
//	elect type=preferred|unclean|N [partitions=T-N[,T-N...]]   an ElectLeaders request; none named: all
//	allocate-producer-ids id=N
//	failover                                 a new active controller, from the committed image
//
// Any command that proposes records may take the argument "lost": its
// batch then fails to commit (the controller lost its quorum), and the
// driver replaces the controller, as a failover does.
//
//	partitions | brokers | image             print the committed image
func TestStories(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if !strings.HasSuffix(path, ".txt") {
			return // rapid keeps its failure files under testdata/rapid
		}
		s := &story{}
		s.reset(Config{})
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return s.run(t, td)
		})
	})
}

type story struct {
	cluster      *cluster
	incarnations map[int32]int64
}

func (s *story) reset(config Config) {
	s.cluster = newCluster(config)
	s.incarnations = map[int32]int64{}
}

func (s *story) run(t *testing.T, td *datadriven.TestData) string {
	var out strings.Builder
	c := s.cluster
	now := c.now
	switch td.Cmd {
	case "config":
		config := Config{UncleanRestartLeavesISR: td.HasArg("unclean-restart-leaves-isr")}
		if td.HasArg("session-timeout") {
			config.SessionTimeout = duration(t, td, "session-timeout")
		}
		s.reset(config)
		return "ok"
	case "register":
		id := int32Arg(t, td, "id")
		s.incarnations[id]++
		var rack string
		td.MaybeScanArgs(t, "rack", &rack)
		// dir=N names the broker's data directory; a new N is a new disk.
		var dir DirectoryID
		if td.HasArg("dir") {
			dir[15] = byte(int32Arg(t, td, "dir"))
		}
		code := c.controller.RegisterBroker(now, RegisterBroker{ID: id, Host: "127.0.0.1", Port: 9092 + id,
			Rack: rack, Incarnation: s.incarnations[id], CleanShutdown: !td.HasArg("unclean"), DirectoryID: dir})
		fmt.Fprintf(&out, "%s\n", codeName(code))
	case "heartbeat":
		for _, id := range idsArg(t, td, "ids") {
			incarnation := s.incarnations[id]
			if td.HasArg("stale") {
				incarnation--
			}
			fenced := c.controller.Heartbeat(now, id, incarnation, td.HasArg("caught-up"))
			fmt.Fprintf(&out, "broker %d fenced=%t\n", id, fenced)
		}
	case "tick":
		if td.HasArg("advance") {
			c.now = c.now.Add(duration(t, td, "advance"))
		}
		c.controller.Tick(c.now)
		fmt.Fprintf(&out, "time +%s\n", c.now.Sub(epoch))
	case "create-topic":
		configs := map[string]string{}
		if td.HasArg("unclean-election") {
			configs[UncleanLeaderElectionConfig] = "true"
		}
		if td.HasArg("min-insync") {
			configs[MinInsyncReplicasConfig] = fmt.Sprint(int32Arg(t, td, "min-insync"))
		}
		code := c.controller.CreateTopic(now, stringArg(t, td, "name"), int32Arg(t, td, "partitions"),
			int16(int32Arg(t, td, "rf")), configs)
		fmt.Fprintf(&out, "%s\n", codeName(code))
	case "delete-topic":
		fmt.Fprintf(&out, "%s\n", codeName(c.controller.DeleteTopic(now, stringArg(t, td, "name"))))
	case "alter-partition":
		code := c.controller.AlterPartition(now, stringArg(t, td, "topic"), int32Arg(t, td, "partition"),
			int32Arg(t, td, "leader"), int32Arg(t, td, "leader-epoch"), int32Arg(t, td, "partition-epoch"),
			idsArg(t, td, "isr"))
		fmt.Fprintf(&out, "%s\n", codeName(code))
	case "elect-preferred":
		c.controller.ElectPreferredLeaders(now)
	case "rebalance":
		moved := c.controller.RebalanceLeaders(now, int32Arg(t, td, "percentage"))
		fmt.Fprintf(&out, "moved %d\n", moved)
	case "elect":
		kind := map[string]ElectionType{"preferred": ElectPreferred, "unclean": ElectUnclean}
		name := stringArg(t, td, "type")
		k, ok := kind[name]
		if !ok {
			k = ElectionType(int32Arg(t, td, "type"))
		}
		c.uncleanAsked = k == ElectUnclean
		var results []ElectionResult
		if td.HasArg("partitions") {
			results = c.controller.ElectLeaders(now, k, partitionsArg(t, td, "partitions"))
		} else {
			results = c.controller.ElectAllLeaders(now, k)
		}
		for _, r := range results {
			fmt.Fprintf(&out, "%s-%d %s\n", r.Topic, r.Partition, codeName(r.Code))
		}
	case "allocate-producer-ids":
		id := int32Arg(t, td, "id")
		first, count, code := c.controller.AllocateProducerIDs(now, id, s.incarnations[id])
		fmt.Fprintf(&out, "%s first=%d count=%d\n", codeName(code), first, count)
	case "failover":
		c.failover()
		return "new active controller"
	case "partitions", "brokers", "image":
		return s.print(td.Cmd)
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	if td.HasArg("lost") {
		for _, r := range c.controller.Ready().Records {
			fmt.Fprintf(&out, "> (lost) %s\n", r)
		}
		c.failover()
		return out.String() + "new active controller"
	}
	s.commit(t, &out)
	return out.String()
}

// commit commits the controller's Ready and prints its records, checking
// after every command that replaying the whole log gives the same image.
func (s *story) commit(t *testing.T, out *strings.Builder) {
	records, err := s.cluster.commit()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		fmt.Fprintf(out, "> %s\n", r)
	}
	if p, bad := offlineNeedlessly(s.cluster.committed); bad {
		t.Fatalf("%s-%d offline with an eligible candidate", p.Topic, p.Partition)
	}
	replayed, err := s.cluster.replay()
	if err != nil {
		t.Fatal(err)
	}
	if replayed.String() != s.cluster.committed.String() {
		t.Fatalf("replayed image differs:\n%s\nvs\n%s", replayed, s.cluster.committed)
	}
}

func (s *story) print(what string) string {
	image := s.cluster.committed
	if what == "image" {
		return strings.TrimSuffix(image.String(), "\n")
	}
	var out strings.Builder
	if what == "brokers" {
		for _, b := range image.Brokers() {
			fmt.Fprintf(&out, "broker %d rack=%q incarnation=%d fenced=%t\n", b.ID, b.Rack, b.Incarnation, b.Fenced)
		}
	}
	if what == "partitions" {
		for _, topic := range image.Topics() {
			for _, p := range image.Partitions(topic.Name) {
				fmt.Fprintf(&out, "%s-%d replicas=%v isr=%v%s leader=%d leaderEpoch=%d partitionEpoch=%d\n",
					p.Topic, p.Partition, formatIDs(p.Replicas), formatIDs(p.ISR), formatELR(p.ELR), p.Leader, p.LeaderEpoch, p.PartitionEpoch)
			}
		}
	}
	return strings.TrimSuffix(out.String(), "\n")
}

func codeName(code *kerr.Error) string {
	if code == nil {
		return "OK"
	}
	return code.Message
}

func stringArg(t *testing.T, td *datadriven.TestData, key string) string {
	var v string
	td.ScanArgs(t, key, &v)
	return v
}

func int32Arg(t *testing.T, td *datadriven.TestData, key string) int32 {
	v, err := strconv.ParseInt(stringArg(t, td, key), 10, 32)
	if err != nil {
		td.Fatalf(t, "%s: %v", key, err)
	}
	return int32(v)
}

func duration(t *testing.T, td *datadriven.TestData, key string) time.Duration {
	d, err := time.ParseDuration(stringArg(t, td, key))
	if err != nil {
		td.Fatalf(t, "%s: %v", key, err)
	}
	return d
}

// partitionsArg reads a list of partitions written T-N,T-N.
func partitionsArg(t *testing.T, td *datadriven.TestData, key string) []PartitionRef {
	arg, _ := td.Arg(key)
	var refs []PartitionRef
	for _, v := range arg.Vals {
		for _, item := range strings.Split(v, ",") {
			i := strings.LastIndex(item, "-")
			n, err := strconv.ParseInt(item[i+1:], 10, 32)
			if i < 0 || err != nil {
				td.Fatalf(t, "%s: %q is not topic-partition", key, item)
			}
			refs = append(refs, PartitionRef{item[:i], int32(n)})
		}
	}
	return refs
}

// idsArg reads a list of broker IDs written N,M,... or (N, M, ...).
func idsArg(t *testing.T, td *datadriven.TestData, key string) []int32 {
	arg, ok := td.Arg(key)
	if !ok {
		td.Fatalf(t, "missing %s", key)
	}
	var ids []int32
	for _, v := range strings.Split(strings.Join(arg.Vals, ","), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		id, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			td.Fatalf(t, "%s: %v", key, err)
		}
		ids = append(ids, int32(id))
	}
	return ids
}
