package specs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"cairn/core"
	"cairn/core/mutant"
)

// TestClusterTranscripts runs the replication stories in testdata/cluster.
// Regenerate with: go test ./specs -run TestClusterTranscripts -rewrite
//
// Commands:
//
//	new replicas=N [min-isr=N] [mode=durable|replication]
//	produce [acks=all|1]      at the current leader
//	sync r=N                  replica N's log becomes durable
//	deliver r=N [i=N] | drop r=N [i=N]   replica N's request i in flight (oldest 0)
//	crash r=N [keep=N]        keep defaults to the durable offset
//	restart r=N | shrink | elect | stabilize | status
//	mutant name=NAME          (only under -tags cairn_mutants)
func TestClusterTranscripts(t *testing.T) { runClusterTranscripts(t, "testdata/cluster") }

func runClusterTranscripts(t *testing.T, dir string) {
	datadriven.Walk(t, dir, func(t *testing.T, path string) {
		var c *Cluster
		defer mutant.Set(mutant.None)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "new" {
				c = NewCluster(newClusterConfig(t, d))
				return c.String()
			}
			if d.Cmd == "mutant" {
				var name string
				d.ScanArgs(t, "name", &name)
				id, err := mutant.Parse(name)
				if err == nil {
					err = mutant.Set(id)
				}
				if err != nil {
					return "skipped: " + err.Error() + "\n"
				}
				return "mutant " + name + " on\n"
			}
			c.Log = nil
			err := runClusterCommand(t, c, d)
			out := strings.Join(c.Log, "\n")
			if out != "" {
				out += "\n"
			}
			if err != nil {
				out += "VIOLATION: " + err.Error() + "\n"
			}
			if d.Cmd == "status" || d.Cmd == "stabilize" {
				out += c.String()
			}
			return out
		})
	})
}

func newClusterConfig(t *testing.T, d *datadriven.TestData) ClusterConfig {
	config := ClusterConfig{MinInsyncReplicas: 1}
	d.ScanArgs(t, "replicas", &config.Replicas)
	if d.HasArg("min-isr") {
		d.ScanArgs(t, "min-isr", &config.MinInsyncReplicas)
	}
	if d.HasArg("mode") {
		var mode string
		d.ScanArgs(t, "mode", &mode)
		if mode == "replication" {
			config.Durability = core.ReplicationAcks
		}
	}
	return config
}

func runClusterCommand(t *testing.T, c *Cluster, d *datadriven.TestData) error {
	replica := func() int32 {
		var r int
		d.ScanArgs(t, "r", &r)
		return int32(r)
	}
	switch d.Cmd {
	case "produce":
		acks := core.Acks(-1)
		if d.HasArg("acks") {
			var a string
			d.ScanArgs(t, "acks", &a)
			if a == "1" {
				acks = 1
			}
		}
		return c.Produce(acks)
	case "sync":
		return c.Sync(replica())
	case "deliver", "drop":
		i := 0
		if d.HasArg("i") {
			d.ScanArgs(t, "i", &i)
		}
		if d.Cmd == "drop" {
			return c.Drop(replica(), i)
		}
		return c.Deliver(replica(), i)
	case "crash":
		r := replica()
		keep := c.nodes[r].durable
		if d.HasArg("keep") {
			d.ScanArgs(t, "keep", &keep)
		}
		return c.Crash(r, keep)
	case "restart":
		return c.Restart(replica())
	case "shrink":
		return c.Shrink()
	case "elect":
		return c.Elect()
	case "stabilize":
		return c.Stabilize()
	case "status":
		return nil
	}
	return fmt.Errorf("unknown command %q", d.Cmd)
}
