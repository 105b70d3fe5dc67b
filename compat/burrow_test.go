package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// zookeeperJar is where Debian's zookeeper package puts the server, which
// Debian's Burrow (1.2) needs for its own coordination.
const zookeeperJar = "/usr/share/java/zookeeper.jar"

// TestBurrowReadsLag: Burrow (LinkedIn's lag monitor, Debian's package)
// reads the group's commits from __consumer_offsets, in Kafka's record
// formats, and reports the lag of a group that committed 100 of 150
// records: 50.
func TestBurrowReadsLag(t *testing.T) {
	t.Parallel()
	burrow := requireTool(t, "Burrow")
	java := requireTool(t, "java")
	if _, err := os.Stat(zookeeperJar); err != nil {
		t.Fatalf("%s is missing (%v): apt package zookeeper; %s", zookeeperJar, err, depsHint)
	}
	addr := sharedAddr(t)
	topic := uniqueTopic("burrow")
	group := topic + "-group"
	createTopic(t, addr, topic, 1)
	produceN(t, addr, topic, 150, "a")

	// The group reads everything and commits 100.
	cl := newKgo(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for read := 0; read < 150; {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 150 records", read)
		}
		read += fetches.NumRecords()
	}
	offsets := map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 100}}}
	var commitErr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
		if err == nil {
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 {
						commitErr = kerr.ErrorForCode(rp.ErrorCode)
					}
				}
			}
		}
	})
	if commitErr != nil {
		t.Fatalf("commit: %v", commitErr)
	}

	dir := t.TempDir()
	zkAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, zkPort, err := net.SplitHostPort(zkAddr)
	if err != nil {
		t.Fatal(err)
	}
	zk := exec.Command(java, "-cp", zookeeperJar, "-Dzookeeper.admin.enableServer=false",
		"org.apache.zookeeper.server.ZooKeeperServerMain", zkPort, filepath.Join(dir, "zookeeper"))
	startDaemon(t, zk, filepath.Join(dir, "zookeeper.log"))
	// Ready when it answers the srvr four-letter word as a standalone server.
	if !waitFor(30*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", zkAddr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("srvr")); err != nil {
			return false
		}
		answer, _ := io.ReadAll(c)
		return strings.Contains(string(answer), "Mode: standalone")
	}) {
		log, _ := os.ReadFile(filepath.Join(dir, "zookeeper.log"))
		t.Fatalf("ZooKeeper did not listen on %s within 30s:\n%s", zkAddr, lastBytes(log, 2000))
	}

	httpAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`[general]
pidfile=%q
[logging]
level="info"
[zookeeper]
servers=[%q]
root-path="/burrow"
[client-profile.cairn]
client-id="burrow"
kafka-version="2.0.0"
[cluster.cairn]
class-name="kafka"
servers=[%q]
client-profile="cairn"
topic-refresh=5
offset-refresh=1
[consumer.cairn]
class-name="kafka"
cluster="cairn"
servers=[%q]
client-profile="cairn"
start-latest=false
[httpserver.default]
address=%q
[storage.default]
class-name="inmemory"
workers=2
intervals=10
min-distance=1
`, filepath.Join(dir, "burrow.pid"), zkAddr, addr, addr, httpAddr)
	if err := os.WriteFile(filepath.Join(dir, "burrow.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	b := exec.Command(burrow, "--config-dir", dir)
	b.Dir = dir
	startDaemon(t, b, filepath.Join(dir, "burrow.log"))

	url := fmt.Sprintf("http://%s/v3/kafka/cairn/consumer/%s/lag", httpAddr, group)
	var last string
	if !waitFor(60*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		last = string(body)
		var lag struct {
			Status struct {
				TotalLag   int64 `json:"totallag"`
				Partitions []struct {
					Topic      string `json:"topic"`
					Partition  int32  `json:"partition"`
					CurrentLag int64  `json:"current_lag"`
					End        struct {
						Offset int64 `json:"offset"`
					} `json:"end"`
				} `json:"partitions"`
			} `json:"status"`
		}
		if json.Unmarshal(body, &lag) != nil || len(lag.Status.Partitions) != 1 {
			return false
		}
		p := lag.Status.Partitions[0]
		return p.Topic == topic && p.End.Offset == 100 && p.CurrentLag == 50 && lag.Status.TotalLag == 50
	}) {
		log, _ := os.ReadFile(filepath.Join(dir, "burrow.log"))
		t.Fatalf("Burrow never reported the lag of 50 at committed offset 100; last answer: %s\nBurrow's log:\n%s", last, lastBytes(log, 3000))
	}
}

// startDaemon starts cmd with its output in logPath and kills it when the
// test ends.
func startDaemon(t *testing.T, cmd *exec.Cmd, logPath string) {
	t.Helper()
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
	})
}
