package specs

import (
	"errors"
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
//	new replicas=N [min-isr=N] [mode=durable|replication] [sync-followers]
//	produce [acks=all|1]      at the current leader
//	sync r=N                  replica N's log becomes durable
//	deliver r=N [i=N] | drop r=N [i=N]   replica N's request i in flight (oldest 0)
//	serve r=N [i=N]           the leader serves it; the answer stays on its way
//	answer r=N [i=N]          replica N gets answer i on its way (oldest 0)
//	consume r=N [offset=N] [epoch=N]     a consumer's fetch naming a leader epoch
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
			var refused *RefusedError
			switch {
			case errors.As(err, &refused):
				out += "refused: " + err.Error() + "\n"
			case err != nil:
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
	config.SyncFollowers = d.HasArg("sync-followers")
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
	case "deliver", "drop", "serve", "answer":
		i := 0
		if d.HasArg("i") {
			d.ScanArgs(t, "i", &i)
		}
		return map[string]func(int32, int) error{"deliver": c.Deliver, "drop": c.Drop,
			"serve": c.Serve, "answer": c.Answer}[d.Cmd](replica(), i)
	case "consume":
		offset, epoch := int64(0), int32(-1)
		if d.HasArg("offset") {
			d.ScanArgs(t, "offset", &offset)
		}
		if d.HasArg("epoch") {
			d.ScanArgs(t, "epoch", &epoch)
		}
		return c.Consume(replica(), offset, epoch)
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
