package compat

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSecondBrokerOnOneDataDirRefuses starts a broker, acknowledges a
// record, and starts a second `cairn serve` on the same data directory: it
// must exit non-zero naming the first broker's pid, while the first keeps
// serving what it acknowledged. After a SIGKILL of the first (the kernel
// drops its flock with the process) a broker starts on the directory again
// and still serves the record.
func TestSecondBrokerOnOneDataDirRefuses(t *testing.T) {
	t.Parallel()
	if shared.err != nil {
		t.Fatalf("no broker to test: %v", shared.err)
	}
	dir := t.TempDir()
	dataDir, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "broker.log")
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	first, err := startBroker(shared.bin, dataDir, addr, logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if first.alive() {
			first.kill()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.ProduceSync(ctx, &kgo.Record{Topic: "locked", Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	otherAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	second := exec.CommandContext(ctx, shared.bin, "serve", "--data-dir", dataDir, "--listen", otherAddr)
	out, err := second.CombinedOutput()
	if err == nil {
		t.Fatalf("a second broker on %s started:\n%s", dataDir, out)
	}
	wantPid := fmt.Sprintf("pid %d", first.cmd.Process.Pid)
	if !strings.Contains(string(out), "in use by another broker") || !strings.Contains(string(out), wantPid) {
		t.Fatalf("second broker's refusal %q does not name the holder (%s)", out, wantPid)
	}
	if !first.alive() {
		t.Fatal("the first broker exited when the second was refused")
	}
	if got := consumeValues(ctx, t, addr, "locked", 1); len(got) != 1 || got[0] != "kept" {
		t.Fatalf("first broker serves %q after the refusal, want [kept]", got)
	}

	client.Close()
	first.kill()
	again, err := startBroker(shared.bin, dataDir, addr, logPath)
	if err != nil {
		t.Fatalf("no broker starts on %s after its holder was killed: %v", dataDir, err)
	}
	defer again.stop()
	if got := consumeValues(ctx, t, addr, "locked", 1); len(got) != 1 || got[0] != "kept" {
		t.Fatalf("after the restart the broker serves %q, want [kept]", got)
	}
}

// consumeValues reads n records of topic from the start.
func consumeValues(ctx context.Context, t *testing.T, addr, topic string, n int) []string {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var got []string
	for len(got) < n && ctx.Err() == nil {
		fetches := client.PollFetches(ctx)
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// TestDataDirRefusesAnotherClusterOrNode: a data directory remembers the
// cluster id and node id it was created under (meta.properties); starting
// on it with another of either must fail naming both, and the right ones
// still start.
func TestDataDirRefusesAnotherClusterOrNode(t *testing.T) {
	t.Parallel()
	if shared.err != nil {
		t.Fatalf("no broker to test: %v", shared.err)
	}
	dir := t.TempDir()
	dataDir, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "broker.log")
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p, err := startServe(shared.bin, []string{"--listen", addr, "--data-dir", dataDir, "--cluster-id", "east"}, readyPrefix, addr, dataDir, logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, wrong := range []struct {
		args []string
		says []string
	}{
		{[]string{"--cluster-id", "west"}, []string{`cluster "east"`, `not "west"`, "--cluster-id east"}},
		{[]string{"--cluster-id", "east", "--node-id", "1"}, []string{"node 0", "not node 1", "--node-id 0"}},
	} {
		args := append([]string{"serve", "--listen", addr, "--data-dir", dataDir}, wrong.args...)
		out, err := exec.CommandContext(ctx, shared.bin, args...).CombinedOutput()
		if err == nil {
			t.Fatalf("cairn %s started on a directory of cluster east, node 0:\n%s", strings.Join(args, " "), out)
		}
		for _, s := range wrong.says {
			if !strings.Contains(string(out), s) {
				t.Errorf("cairn %s: %q does not say %q", strings.Join(args, " "), out, s)
			}
		}
	}
	p, err = startServe(shared.bin, []string{"--listen", addr, "--data-dir", dataDir, "--cluster-id", "east"}, readyPrefix, addr, dataDir, logPath)
	if err != nil {
		t.Fatalf("the directory's own cluster id no longer starts: %v", err)
	}
	p.stop()
}
