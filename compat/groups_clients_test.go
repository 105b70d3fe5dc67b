package compat

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
)

// groupClientRun consumes expect records of topic as a member of group
// and commits them, with one client, and returns the values read.
type groupClientRun func(t *testing.T, addr, topic, group string, expect int) []string

// TestGroupClients checks each client's group consumer the same way: it
// reads every record of a three-partition topic and commits; the group's
// committed offsets then stand at the end of every partition; a second run
// after more records are written reads only the new ones.
func TestGroupClients(t *testing.T) {
	clients := []struct {
		name string
		run  groupClientRun
	}{
		{"sarama", saramaGroupRun},
		{"kafka-go", kafkaGoGroupRun},
		{"kcat", kcatGroupRun},
		{"kafka-python", pythonGroupRun("kafka-python", "kafka", "python3-kafka")},
		{"confluent", pythonGroupRun("confluent", "confluent_kafka", "python3-confluent-kafka")},
		{"kafkajs", kafkajsGroupRun},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr := sharedAddr(t)
			topic := uniqueTopic("group-" + c.name)
			group := topic + "-group"
			createTopic(t, addr, topic, roundTripPartitions)
			produceN(t, addr, topic, 200, "a")
			checkValues(t, c.name+" first run", c.run(t, addr, topic, group, 200), "a", 200)
			waitCommittedAtEnd(t, addr, topic, group)
			produceN(t, addr, topic, 50, "b")
			checkValues(t, c.name+" second run", c.run(t, addr, topic, group, 50), "b", 50)
			waitCommittedAtEnd(t, addr, topic, group)
		})
	}
}

// checkValues wants exactly the values prefix-0 .. prefix-(n-1), each once.
func checkValues(t *testing.T, who string, got []string, prefix string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	var problems []string
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s-%d", prefix, i)
		if seen[v] != 1 {
			problems = append(problems, fmt.Sprintf("%s read %d times", v, seen[v]))
		}
		delete(seen, v)
	}
	for v := range seen {
		problems = append(problems, fmt.Sprintf("unexpected %s (committed before this run)", v))
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Fatalf("%s: %d problems: %s", who, len(problems), strings.Join(problems[:min(len(problems), 10)], "; "))
	}
}

// waitCommittedAtEnd waits until the group's committed offsets stand at
// the end of every partition of topic.
func waitCommittedAtEnd(t *testing.T, addr, topic, group string) {
	t.Helper()
	adm := kadm.NewClient(newKgo(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	if !waitFor(15*time.Second, func() bool {
		committed, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			last = err.Error()
			return false
		}
		var off []string
		ok := true
		ends.Each(func(e kadm.ListedOffset) {
			o, found := committed.Lookup(topic, e.Partition)
			off = append(off, fmt.Sprintf("%d: committed %d end %d", e.Partition, o.At, e.Offset))
			if !found || o.At != e.Offset {
				ok = false
			}
		})
		last = strings.Join(off, ", ")
		return ok
	}) {
		t.Fatalf("group %s: committed offsets never reached the end: %s", group, last)
	}
}

func saramaGroupRun(t *testing.T, addr, topic, group string, expect int) []string {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "cairn-compat-sarama-group"
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumerGroup: %v", err)
	}
	h := &saramaHandler{expect: expect, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	errs := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	select {
	case <-h.done:
	case <-ctx.Done():
		t.Fatalf("sarama: timed out with %d of %d records", len(h.values), expect)
	}
	cancel()
	if err := <-errs; err != nil {
		t.Fatalf("sarama consume: %v", err)
	}
	if err := cg.Close(); err != nil { // commits the marked offsets, leaves
		t.Fatalf("sarama close: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.values
}

type saramaHandler struct {
	mu     sync.Mutex
	values []string
	expect int
	once   sync.Once
	done   chan struct{}
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.mu.Lock()
		h.values = append(h.values, string(m.Value))
		n := len(h.values)
		h.mu.Unlock()
		s.MarkMessage(m, "")
		if n >= h.expect {
			s.Commit()
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}

func kafkaGoGroupRun(t *testing.T, addr, topic, group string, expect int) []string {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, GroupID: group, Topic: topic,
		StartOffset: kafka.FirstOffset, SessionTimeout: 10 * time.Second,
		MaxWait: 200 * time.Millisecond, CommitInterval: 0, // commit each message synchronously
	})
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	var values []string
	for len(values) < expect {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			r.Close()
			t.Fatalf("kafka-go ReadMessage after %d of %d records: %v", len(values), expect, err)
		}
		values = append(values, string(m.Value))
	}
	if err := r.Close(); err != nil {
		t.Fatalf("kafka-go close: %v", err)
	}
	return values
}

// kcatGroupRun runs kcat's balanced consumer (-G) until every assigned
// partition reaches its end (-e); librdkafka commits on close.
func kcatGroupRun(t *testing.T, addr, topic, group string, expect int) []string {
	kcat := requireTool(t, "kcat")
	// No -o: in -G mode an explicit offset overrides the committed one.
	out := string(run(t, scriptTimeout, nil, nil, kcat, "-b", addr, "-G", group, "-e",
		"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=10000", "-f", `%s\n`, topic))
	var values []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line != "" {
			values = append(values, line)
		}
	}
	return values
}

func pythonGroupRun(client, module, pkg string) groupClientRun {
	return func(t *testing.T, addr, topic, group string, expect int) []string {
		requirePythonModule(t, module, pkg)
		out := run(t, scriptTimeout, nil, scriptEnv(addr, topic, "GROUP="+group, fmt.Sprintf("EXPECT=%d", expect)),
			debianPython, pythonIsolated, filepath.Join("testdata", "group_consume.py"), client)
		return decodeJSON[struct{ Values []string }](t, client+" group consume", out).Values
	}
}

func kafkajsGroupRun(t *testing.T, addr, topic, group string, expect int) []string {
	node := requireKafkajs(t)
	out := run(t, scriptTimeout, nil, scriptEnv(addr, topic, "GROUP="+group, fmt.Sprintf("EXPECT=%d", expect)),
		node, filepath.Join("node", "group_consume.js"))
	return decodeJSON[struct{ Values []string }](t, "kafkajs group consume", out).Values
}
