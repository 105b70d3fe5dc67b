package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// decodeJSON decodes a command's stdout, which must be exactly one JSON
// document.
func decodeJSON(t *testing.T, what, stdout string, into any) {
	t.Helper()
	decoder := json.NewDecoder(strings.NewReader(stdout))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(into); err != nil {
		t.Fatalf("%s: not the expected JSON document: %v\n%s", what, err, stdout)
	}
	if decoder.More() {
		t.Fatalf("%s: more than one JSON document:\n%s", what, stdout)
	}
}

// TestListingsAsJSON: --json (or -o json) on every listing command prints
// one JSON document with the documented fields, against Cairn and kfake.
func TestListingsAsJSON(t *testing.T) {
	for _, cluster := range []struct {
		name  string
		start func(*testing.T) string
	}{{"cairn", startCairn}, {"kfake", startKfake}} {
		t.Run(cluster.name, func(t *testing.T) { testListingsAsJSON(t, cli{t, cluster.start(t)}) })
	}
}

func testListingsAsJSON(t *testing.T, c cli) {
	c.ok("", "topic", "create", "orders", "-p", "2", "-c", "retention.ms=86400000")
	c.ok("a\nb\nc\n", "produce", "orders", "--partition", "1")
	c.ok("", "consume", "orders", "-g", "billing", "-o", "start", "-n", "3")

	var list struct{ Topics []topicSummary }
	decodeJSON(t, "topic list --json", c.ok("", "topic", "list", "--json"), &list)
	if len(list.Topics) != 1 || list.Topics[0].Name != "orders" || list.Topics[0].Partitions != 2 || list.Topics[0].ReplicationFactor != 1 || list.Topics[0].Error != nil {
		t.Errorf("topic list --json: %+v", list.Topics)
	}

	var described struct{ Topics []topicDescription }
	decodeJSON(t, "topic describe -o json", c.ok("", "topic", "describe", "orders", "-o", "json"), &described)
	if len(described.Topics) != 1 {
		t.Fatalf("topic describe -o json: %+v", described)
	}
	d := described.Topics[0]
	if d.ID == nil || list.Topics[0].ID == nil || *d.ID != *list.Topics[0].ID || d.PartitionCount != 2 || len(d.Partitions) != 2 {
		t.Fatalf("topic describe -o json: %+v (list said id %s)", d, orText(list.Topics[0].ID, "none"))
	}
	if p := d.Partitions[1]; p.Partition != 1 || p.HighWatermark == nil || *p.HighWatermark != 3 || p.Leader == nil || len(p.ISR) != 1 {
		t.Errorf("partition 1: %+v, want high watermark 3, a leader and one in-sync replica", p)
	}
	found := false
	for _, config := range d.Configs {
		found = found || config.Key == "retention.ms" && config.Value != nil && *config.Value == "86400000"
	}
	if !found {
		t.Errorf("topic describe -o json lacks retention.ms=86400000: %+v", d.Configs)
	}

	var groups struct{ Groups []listedGroupJSON }
	decodeJSON(t, "group list --json", c.ok("", "group", "list", "--json"), &groups)
	if len(groups.Groups) != 1 || groups.Groups[0].Group != "billing" {
		t.Errorf("group list --json: %+v", groups.Groups)
	}
	var group struct{ Groups []groupDescription }
	decodeJSON(t, "group describe --json", c.ok("", "group", "describe", "billing", "--json"), &group)
	g := group.Groups[0]
	if g.Group != "billing" || g.Protocol != "classic" || g.Error != nil || g.TotalLag != 0 || g.Coordinator == nil || len(g.Offsets) == 0 {
		t.Fatalf("group describe --json: %+v", g)
	}
	for _, o := range g.Offsets {
		if o.Topic == "orders" && o.Partition == 1 && (o.Committed == nil || *o.Committed != 3 || o.LogEnd == nil || *o.LogEnd != 3 || o.Lag == nil || *o.Lag != 0) {
			t.Errorf("orders/1 in group describe --json: %+v, want committed 3, log end 3, lag 0", o)
		}
	}

	var info struct {
		ClusterID  *string `json:"cluster_id"`
		Controller *int32
		Topics     int
		Partitions int
		Brokers    []brokerJSON
	}
	decodeJSON(t, "cluster info --json", c.ok("", "cluster", "info", "--json"), &info)
	if info.Controller == nil || info.Topics < 1 || info.Partitions < 2 || len(info.Brokers) != 1 || !strings.HasPrefix(c.brokers, info.Brokers[0].Host) {
		t.Errorf("cluster info --json: %+v", info)
	}
	var health struct {
		Healthy                   bool
		Controller                *int32
		Brokers                   []int32
		BrokersDown               []int32 `json:"brokers_down"`
		Partitions                int
		OfflinePartitions         []string `json:"offline_partitions"`
		UnderReplicatedPartitions []string `json:"under_replicated_partitions"`
	}
	decodeJSON(t, "cluster health --json", c.ok("", "cluster", "health", "--json"), &health)
	if !health.Healthy || health.Controller == nil || len(health.Brokers) != 1 || health.BrokersDown == nil || len(health.OfflinePartitions) != 0 || health.Partitions < 2 {
		t.Errorf("cluster health --json: %+v", health)
	}
	if r := c.run("", "topic", "list", "-o", "yaml"); r.err == nil || !strings.Contains(r.err.Error(), "want text or json") {
		t.Errorf("topic list -o yaml: %v", r.err)
	}
}

// TestTopicIDsAsKafkaPrintsThem: the id topic describe prints is Kafka's
// form, 22 characters of URL-safe base64 without padding, decoding to 16
// bytes.
func TestTopicIDsAsKafkaPrintsThem(t *testing.T) {
	c := cli{t, startCairn(t)}
	c.ok("", "topic", "create", "ids", "-p", "1")
	var id string
	for _, line := range strings.Split(c.ok("", "topic", "describe", "ids"), "\n") {
		if rest, ok := strings.CutPrefix(line, "ID"); ok {
			id = strings.TrimSpace(rest)
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if len(id) != 22 || err != nil || len(raw) != 16 || strings.ContainsAny(id, "+/=") {
		t.Errorf("topic id %q: want 22 characters of unpadded URL-safe base64 (%v)", id, err)
	}
	if got := kafkaTopicID([16]byte{0xfb, 0xff, 0xbf, 15: 1}); got != "-_-_AAAAAAAAAAAAAAAAAQ" {
		t.Errorf("kafkaTopicID = %q", got)
	}
}

// TestCompletionScripts: each script names every command, every verb and
// every flag of the dispatcher's tables; bash accepts the bash script and,
// run, completes a verb and a flag.
func TestCompletionScripts(t *testing.T) {
	tree, err := completionTree()
	if err != nil {
		t.Fatal(err)
	}
	verbs := 0
	for _, shell := range completionShells {
		var script bytes.Buffer
		if err := writeCompletion(&script, shell, tree); err != nil {
			t.Fatal(err)
		}
		for _, c := range commands() {
			mustContain(t, shell+" completion", script.String(), " "+c.name)
			if c.verbs == nil {
				continue
			}
			for _, v := range c.verbs() {
				verbs++
				mustContain(t, shell+" completion", script.String(), " "+v.name)
			}
		}
		for _, flag := range []string{"partitions", "exit-at-end", "json", "log-format", "seeds", "partitioner", "records"} {
			mustContain(t, shell+" completion", script.String(), flag)
		}
	}
	if verbs < 3*13 {
		t.Errorf("%d verbs across three scripts, want every verb of topic, group, cluster and perf", verbs)
	}
	if err := writeCompletion(io.Discard, "tcsh", tree); err == nil {
		t.Error("completion for tcsh: no error")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Log("no bash here: the script's syntax is not checked")
		return
	}
	var script bytes.Buffer
	writeCompletion(&script, "bash", tree)
	path := t.TempDir() + "/cairn.bash"
	if err := os.WriteFile(path, script.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n rejects the script: %v\n%s", err, out)
	}
	complete := func(words ...string) string {
		program := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _cairn; echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, append([]string{"-c", program, "bash", path}, words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("cairn", "to"); got != "topic" {
		t.Errorf("cairn to<TAB> = %q, want topic", got)
	}
	if got := complete("cairn", "group", "de"); got != "describe delete" {
		t.Errorf("cairn group de<TAB> = %q, want describe delete", got)
	}
	if got := complete("cairn", "topic", "create", "demo", "--part"); got != "--partitions" {
		t.Errorf("cairn topic create demo --part<TAB> = %q, want --partitions", got)
	}
	if got := complete("cairn", "completion", "z"); got != "zsh" {
		t.Errorf("cairn completion z<TAB> = %q, want zsh", got)
	}
	if got := complete("cairn", "consume", "--exit"); got != "--exit-at-end" {
		t.Errorf("cairn consume --exit<TAB> = %q", got)
	}
}

// TestConsumeWarnsOutsideTheLog: an exact --offset past a partition's end
// is said on stderr, with the offset, the end and what consume does.
func TestConsumeWarnsOutsideTheLog(t *testing.T) {
	c := cli{t, startCairn(t)}
	c.ok("", "topic", "create", "short", "-p", "1")
	c.ok("a\nb\nc\n", "produce", "short")
	r := c.run("", "consume", "short", "--offset", "500", "--exit-at-end")
	if r.err != nil || r.stdout != "" {
		t.Fatalf("consume --offset 500 --exit-at-end: %v, printed %q", r.err, r.stdout)
	}
	mustContain(t, "the warning", r.stderr, "--offset 500 is past the end of short/0 (offset 3)", "starting at the end, 3")
	// And it does what it says: it waits at the end and prints the next
	// record produced.
	consumed := make(chan cliResult, 1)
	go func() { consumed <- c.run("", "consume", "short", "--offset", "500", "-n", "1") }()
	deadline := time.Now().Add(20 * time.Second)
	var next cliResult
	for waiting := true; waiting; {
		c.ok("d\n", "produce", "short")
		select {
		case next = <-consumed:
			waiting = false
		case <-time.After(500 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("consume --offset 500 -n 1 printed nothing in 20s of producing")
			}
		}
	}
	if next.err != nil || next.stdout != "d\n" {
		t.Errorf("consume --offset 500 -n 1: %v, printed %q; want the next record, d", next.err, next.stdout)
	}
	if r := c.run("", "consume", "short", "--offset", "1", "--exit-at-end"); r.err != nil || r.stderr != "" || !strings.HasPrefix(r.stdout, "b\nc\nd\n") {
		t.Errorf("consume --offset 1: %v, stdout %q, stderr %q; want b, c and the d's, no warning", r.err, r.stdout, r.stderr)
	}
}

// TestConsumeWarnsBelowTheLogStart: against kfake, which serves
// DeleteRecords, an offset below the log start is said too, and consume
// starts at the log start.
func TestConsumeWarnsBelowTheLogStart(t *testing.T) {
	address := startKfake(t)
	c := cli{t, address}
	c.ok("", "topic", "create", "trimmed", "-p", "1")
	c.ok("a\nb\nc\n", "produce", "trimmed")
	client, err := kgo.NewClient(kgo.SeedBrokers(address))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	trim := kadm.Offsets{}
	trim.Add(kadm.Offset{Topic: "trimmed", Partition: 0, At: 2})
	deleted, err := kadm.NewClient(client).DeleteRecords(context.Background(), trim)
	if err == nil {
		err = deleted.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	r := c.run("", "consume", "trimmed", "--offset", "0", "-e")
	if r.err != nil || r.stdout != "c\n" {
		t.Errorf("consume --offset 0 of a log starting at 2: %v, printed %q; want c", r.err, r.stdout)
	}
	mustContain(t, "the warning", r.stderr, "--offset 0 is below the log start of trimmed/0 (offset 2): starting at the log start")
}

// TestProduceToASilentBroker: a broker that accepts connections and never
// answers fails the produce once --timeout passes, saying so, instead of
// hanging.
func TestProduceToASilentBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // held open, never answered
		}
	}()
	began := time.Now()
	r := cli{t, l.Addr().String()}.run("x\n", "produce", "t", "--timeout", "2s")
	if r.err == nil || !strings.Contains(r.err.Error(), "no broker of "+l.Addr().String()+" answered within --timeout 2s") {
		t.Errorf("produce to a silent broker: %v", r.err)
	}
	if elapsed := time.Since(began); elapsed > 15*time.Second {
		t.Errorf("produce took %v to give up with --timeout 2s", elapsed)
	}
}

// TestDescribeUnknownGroup: a group the cluster does not know is named as
// not existing, and the command fails.
func TestDescribeUnknownGroup(t *testing.T) {
	for name, start := range map[string]func(*testing.T) string{"cairn": startCairn, "kfake": startKfake} {
		t.Run(name, func(t *testing.T) {
			c := cli{t, start(t)}
			r := c.run("", "group", "describe", "nobody")
			if r.err == nil || !strings.Contains(r.err.Error(), "group nobody: does not exist") {
				t.Errorf("describe of an unknown group: %v, stdout %q", r.err, r.stdout)
			}
			r = c.run("", "group", "describe", "nobody", "--json")
			var out struct{ Groups []groupDescription }
			decodeJSON(t, "group describe --json of an unknown group", r.stdout, &out)
			if r.err == nil || out.Groups[0].Error == nil || !strings.Contains(*out.Groups[0].Error, "does not exist") {
				t.Errorf("--json of an unknown group: %v, %+v", r.err, out.Groups)
			}
		})
	}
}

// TestConsumeJSONKeepsEveryByte: a value that is not UTF-8 comes out as
// base64 with value_encoding base64, and decodes to the bytes produced.
func TestConsumeJSONKeepsEveryByte(t *testing.T) {
	address := startCairn(t)
	c := cli{t, address}
	c.ok("", "topic", "create", "bytes", "-p", "1")
	client, err := kgo.NewClient(kgo.SeedBrokers(address), kgo.DefaultProduceTopic("bytes"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	binary := []byte{0xff, 0xfe, 0x00, 'a'}
	record := &kgo.Record{Key: []byte("text"), Value: binary, Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{0xc3}}}}
	if err := client.ProduceSync(context.Background(), record).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var got jsonRecord
	decodeJSON(t, "consume --format json", c.ok("", "consume", "bytes", "-e", "-f", "json"), &got)
	value, err := base64.StdEncoding.DecodeString(got.Value)
	if got.ValueEncoding != "base64" || err != nil || !bytes.Equal(value, binary) {
		t.Errorf("value %q (%s): want base64 of % x", got.Value, got.ValueEncoding, binary)
	}
	if got.Key == nil || *got.Key != "text" || got.KeyEncoding == nil || *got.KeyEncoding != "utf8" {
		t.Errorf("key %v (%v): want text, utf8", got.Key, got.KeyEncoding)
	}
	if len(got.Headers) != 1 || got.Headers[0].Encoding != "base64" || got.Headers[0].Value != "ww==" {
		t.Errorf("headers %+v: want h in base64 (ww==)", got.Headers)
	}
}

// TestRoundRobinPartitioner: --partitioner round-robin spreads unkeyed
// records one by one.
func TestRoundRobinPartitioner(t *testing.T) {
	c := cli{t, startCairn(t)}
	c.ok("", "topic", "create", "spread", "-p", "3")
	c.ok("1\n2\n3\n4\n5\n6\n", "produce", "spread", "--partitioner", "round-robin")
	var described struct{ Topics []topicDescription }
	decodeJSON(t, "topic describe --json", c.ok("", "topic", "describe", "spread", "--json"), &described)
	for _, p := range described.Topics[0].Partitions {
		if p.HighWatermark == nil || *p.HighWatermark != 2 {
			t.Errorf("partition %d holds %s records, want 2 of the 6", p.Partition, orText(p.HighWatermark, "?"))
		}
	}
	if r := c.run("", "produce", "spread", "--partitioner", "random"); r.err == nil || !strings.Contains(r.err.Error(), "sticky or round-robin") {
		t.Errorf("--partitioner random: %v", r.err)
	}
}

// TestFailedCreateShowsTheError: a refused create shows dashes and the
// broker's reason once, not PARTITIONS -1 or "invalid.: reason".
func TestFailedCreateShowsTheError(t *testing.T) {
	c := cli{t, startCairn(t)}
	r := c.run("", "topic", "create", "bad", "-c", "no.such.config=1")
	if r.err == nil || r.err.Error() != "the topic was not created" {
		t.Fatalf("create with an unknown config: %v", r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	fields := strings.Fields(lines[len(lines)-1])
	if len(lines) != 2 || len(fields) < 5 || fields[0] != "bad" || fields[1] != "-" || fields[2] != "-" || fields[3] != "INVALID_CONFIG:" || strings.Contains(r.stdout, ".:") {
		t.Errorf("the failed create's table:\n%s", r.stdout)
	}
}

func TestReadyLine(t *testing.T) {
	ready := readyLine{nodeID: 1, address: "127.0.0.1:9093", dataDir: "data/node-1", durability: "durable", brokers: 3, raft: "127.0.0.1:9193"}
	var text, structured bytes.Buffer
	if err := printReady(&text, "text", ready); err != nil {
		t.Fatal(err)
	}
	if want := "cairn: broker 1 ready on 127.0.0.1:9093 (data in data/node-1, durability durable, cluster of 3, raft 127.0.0.1:9193)\n"; text.String() != want {
		t.Errorf("text ready line %q, want %q", text.String(), want)
	}
	if err := printReady(&structured, "json", ready); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(structured.Bytes(), &got); err != nil {
		t.Fatalf("JSON ready line %q: %v", structured.String(), err)
	}
	if got["msg"] != "ready" || got["level"] != "INFO" || got["address"] != "127.0.0.1:9093" || got["node_id"] != 1.0 || got["cluster_brokers"] != 3.0 {
		t.Errorf("JSON ready line: %v", got)
	}
}

func TestPluralsAndFailureCounts(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{plural(1, "record"), "1 record"},
		{plural(0, "record"), "0 records"},
		{plural(2, "active member"), "2 active members"},
		{failedOf(1, 1, "topic", "created"), "the topic was not created"},
		{failedOf(2, 3, "group", "deleted"), "2 of 3 groups not deleted"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
}

// TestHelpSaysWhatIsTrue: help texts that once claimed otherwise.
func TestHelpSaysWhatIsTrue(t *testing.T) {
	var out bytes.Buffer
	std := streams{in: strings.NewReader(""), out: &out, err: io.Discard}
	dispatch(context.Background(), "group", groupUsage, groupCommands(), []string{"-h"}, std)
	mustContain(t, "cairn group -h", out.String(), "KIP-848")
	out.Reset()
	produce(context.Background(), []string{"-h"}, std)
	mustContain(t, "cairn produce -h", out.String(), "sticky", "--partitioner", "--timeout bounds")
	if strings.Contains(out.String(), "or spread when there is none") {
		t.Error("produce -h still says unkeyed records are spread")
	}
}
