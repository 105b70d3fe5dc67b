package compat

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestInternalTopicRefusesDeletion commits an offset (which creates
// __consumer_offsets), then tries to delete the topic with kadm and with
// `cairn topic delete`: both are refused with INVALID_TOPIC_EXCEPTION and
// the commit is still there.
func TestInternalTopicRefusesDeletion(t *testing.T) {
	t.Parallel()
	addr := sharedAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	adm := kadm.NewClient(client)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "internal-refusal"); err != nil {
		t.Fatal(err)
	}
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "internal-refusal", Partition: 0, At: 7, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "internal-refusal-group", offsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	resp, err := adm.DeleteTopics(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if got := resp["__consumer_offsets"].Err; !errors.Is(got, kerr.InvalidTopicException) {
		t.Fatalf("kadm DeleteTopics(__consumer_offsets): %v, want INVALID_TOPIC_EXCEPTION", got)
	}

	out, err := exec.CommandContext(ctx, shared.bin, "topic", "delete", "__consumer_offsets", "--brokers", addr).CombinedOutput()
	if err == nil {
		t.Fatalf("cairn topic delete __consumer_offsets succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "internal topic") {
		t.Fatalf("cairn topic delete __consumer_offsets says %q, want it to name the internal topic", out)
	}

	fetched, err := adm.FetchOffsets(ctx, "internal-refusal-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("internal-refusal", 0); !ok || o.At != 7 {
		t.Fatalf("after the refused deletes the commit reads %+v (found %t), want offset 7", o, ok)
	}
}
