package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cairn/perf"
)

func TestParseDD(t *testing.T) {
	output := "1024+0 records in\n1024+0 records out\n1073741824 bytes (1.1 GB, 1.0 GiB) copied, 3.21234 s, 334 MB/s\n"
	bytes, seconds, err := parseDD(output)
	if err != nil || bytes != 1073741824 || seconds != 3.21234 {
		t.Fatalf("got %d bytes, %v s, %v", bytes, seconds, err)
	}
	small := "1000+0 records in\n1000+0 records out\n4096000 bytes (4.1 MB, 3.9 MiB) copied, 0.2 s, 20.5 MB/s\n"
	if bytes, seconds, err := parseDD(small); err != nil || bytes != 4096000 || seconds != 0.2 {
		t.Fatalf("got %d bytes, %v s, %v", bytes, seconds, err)
	}
	tiny := "10+0 records in\n10+0 records out\n40960 bytes (41 kB, 40 KiB) copied, 9.5602e-05 s, 428 MB/s\n"
	if bytes, seconds, err := parseDD(tiny); err != nil || bytes != 40960 || seconds != 9.5602e-05 {
		t.Fatalf("got %d bytes, %v s, %v", bytes, seconds, err)
	}
	for _, bad := range []string{"", "dd: failed to open 'x': Permission denied", "10 bytes copied, 0 s, inf B/s"} {
		if _, _, err := parseDD(bad); err == nil {
			t.Errorf("parseDD(%q) succeeded", bad)
		}
	}
}

func TestParseReadyLine(t *testing.T) {
	cases := map[string]string{
		"cairn: broker 0 ready on 127.0.0.1:9092 (data in ./data, durability durable)": "127.0.0.1:9092",
		"kfake: ready on 127.0.0.1:41234":                                              "127.0.0.1:41234",
		"starting":                                                                     "",
		"ready on":                                                                     "",
		"ready on nonsense":                                                            "",
	}
	for line, want := range cases {
		if got := parseReadyLine(line); got != want {
			t.Errorf("parseReadyLine(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestParseProcessStatSeconds(t *testing.T) {
	stat := "1234 (cairn serve) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 10 0 100 0 0"
	if got := parseProcessStatSeconds(stat); got != 3.25 {
		t.Fatalf("got %v, want 3.25", got)
	}
	if got := parseProcessStatSeconds("garbage"); got >= 0 {
		t.Fatalf("garbage gave %v", got)
	}
}

func TestMedianOf(t *testing.T) {
	identity := func(v float64) float64 { return v }
	if got := medianOf([]float64{3, 1, 2}, identity); got != 2 {
		t.Errorf("odd: %v", got)
	}
	if got := medianOf([]float64{4, 1, 3, 2}, identity); got != 2.5 {
		t.Errorf("even: %v", got)
	}
	if got := medianOf(nil, identity); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

func TestMachineParsers(t *testing.T) {
	if got := cpuModel("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n"); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModel: %q", got)
	}
	if got := memoryTotalBytes("MemTotal:       24567890 kB\nMemFree: 1 kB\n"); got != 24567890*1024 {
		t.Errorf("memoryTotalBytes: %d", got)
	}
	if got := memoryTotalBytes("nothing"); got != 0 {
		t.Errorf("memoryTotalBytes of nothing: %d", got)
	}
}

func outcome(produceMegabytes, consumeMegabytes float64, p99 time.Duration) runOutcome {
	return runOutcome{
		Produce: perf.Result{Records: 10, MegabytesPerSecond: produceMegabytes, RecordsPerSecond: produceMegabytes * 1000,
			Latency: &perf.LatencySummary{P50: p99 / 2, P99: p99}},
		Consume: perf.Result{Records: 10, MegabytesPerSecond: consumeMegabytes},
	}
}

func TestReportRowsAndVerdicts(t *testing.T) {
	cairn, _ := targetNamed("cairn")
	kfake, _ := targetNamed("kfake")
	r := &report{
		Settings: settings{Repeats: 3, Records: []int64{10}, RecordSizes: []int{1024}, Partitions: 4, ProduceDuration: time.Second, LoopbackDuration: time.Second, NatsPendingMax: 4000},
		Limits:   limits{SequentialWriteBytesPerSecond: 300e6, SyncWriteLatency: 200 * time.Microsecond, LoopbackBytesPerSecond: 2e9},
		Targets: []*targetRuns{
			{Target: cairn, RecordBytes: 1024, Runs: []runOutcome{outcome(200, 900, 9*time.Millisecond), outcome(100, 600, 3*time.Millisecond), outcome(150, 500, 5*time.Millisecond)}},
			{Target: kfake, RecordBytes: 1024, Runs: []runOutcome{outcome(100, 400, time.Millisecond), outcome(120, 400, time.Millisecond), outcome(140, 400, time.Millisecond)}},
		},
	}
	rows := r.rows()
	if rows[0].ProduceMegabytesPerSecond != 150 || rows[0].ConsumeMegabytesPerSecond != 600 || rows[0].LatencyP99Milliseconds != 5 {
		t.Fatalf("cairn medians: %+v", rows[0])
	}
	if rows[0].ProduceRatio != 1.25 || rows[0].ConsumeRatio != 1.5 || rows[1].ProduceRatio != 1 {
		t.Fatalf("ratios: %+v", rows)
	}
	checks := verdicts(r.Settings, rows, r.Limits.SequentialWriteBytesPerSecond)
	if len(checks) != 3 || !checks[0].Pass || checks[1].Pass || !checks[2].Pass {
		t.Fatalf("verdicts: %+v", checks)
	}
	if checks[1].Measured != 0.5 {
		t.Fatalf("produce to disk: %v", checks[1].Measured)
	}
	text := r.markdown()
	for _, want := range []string{"| cairn | 1 / 1 | fsync before ack (group commit) | 150.0 | 150000 | 2.5 | 5.0 | 100.0–200.0 | 600.0 | 1.25x / 1.50x |", "FAIL", "PASS", "## Machine limits", "make bench", "bin/cairn perf produce --brokers ADDRESS"} {
		if !strings.Contains(text, want) {
			t.Errorf("markdown lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(r.summary(), "50% of the dd durable-write limit") {
		t.Errorf("summary: %s", r.summary())
	}
}

func TestLoopback(t *testing.T) {
	rate, err := measureLoopback(context.Background(), 200*time.Millisecond)
	if err != nil || rate <= 0 {
		t.Fatalf("loopback: %v bytes/s, %v", rate, err)
	}
}

func TestSupervisorServerLifecycle(t *testing.T) {
	processes := newSupervisor()
	defer processes.killAll()
	ctx := context.Background()
	logPath := filepath.Join(t.TempDir(), "server.log")
	script := `trap 'exit 0' TERM; echo starting; echo noise >&2; echo "fake: ready on 127.0.0.1:4321"; while :; do sleep 0.05; done`
	broker, err := processes.startServer(ctx, logPath, 5*time.Second, "sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	if broker.address != "127.0.0.1:4321" {
		t.Fatalf("address %q", broker.address)
	}
	if err := broker.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !strings.Contains(broker.logTail(), "noise") {
		t.Fatalf("log %q", broker.logTail())
	}

	// A server that exits early is reported with its log.
	_, err = processes.startServer(ctx, logPath, 5*time.Second, "sh", "-c", "echo broken >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("early exit: %v", err)
	}

	// killAll ends a running child and its process group.
	hung, err := processes.startServer(ctx, logPath, 5*time.Second, "sh", "-c", `echo "ready on 127.0.0.1:1"; sleep 60 & wait`)
	if err != nil {
		t.Fatal(err)
	}
	processes.killAll()
	select {
	case <-hung.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("killAll left the child running")
	}
	// The group's other member is gone once init reaps it; a zombie
	// still counts, so allow a moment.
	if !groupGone(-hung.command.Process.Pid, 5*time.Second) {
		t.Fatal("the child's process group survived killAll")
	}
	if _, err := processes.run(ctx, time.Second, "true"); err == nil {
		t.Fatal("started a process after killAll")
	}
}

func TestSupervisorRunReportsStderr(t *testing.T) {
	processes := newSupervisor()
	defer processes.killAll()
	output, err := processes.run(context.Background(), 5*time.Second, "sh", "-c", "echo out; echo why >&2; exit 1")
	if err == nil || !strings.Contains(err.Error(), "why") || strings.TrimSpace(string(output)) != "out" {
		t.Fatalf("got %q, %v", output, err)
	}
	_, err = processes.run(context.Background(), 200*time.Millisecond, "sleep", "10")
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("timeout: %v", err)
	}
}

func TestDDProbe(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	bytes, seconds, err := runDD(context.Background(), t.TempDir(), "bs=4k", "count=10")
	if err != nil || bytes != 40960 || seconds <= 0 {
		t.Fatalf("dd: %d bytes, %v s, %v", bytes, seconds, err)
	}
}

// groupGone waits up to limit for no live process to remain in the process
// group (given negated, as kill takes it).
func groupGone(group int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if syscall.Kill(group, 0) != nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestPerGigabyte(t *testing.T) {
	runs := []runOutcome{
		{ProduceProcessorSeconds: 2, Produce: perf.Result{Bytes: 1e9}},
		{ProduceProcessorSeconds: 3, Produce: perf.Result{Bytes: 2e9}},
		{ProduceProcessorSeconds: 8, Produce: perf.Result{Bytes: 2e9}},
	}
	produce := func(o runOutcome) (float64, int64) { return o.ProduceProcessorSeconds, o.Produce.Bytes }
	if got := perGigabyte(runs, produce); got != "2.00" {
		t.Fatalf("got %s, want 2.00", got)
	}
	runs[1].ProduceProcessorSeconds = -1
	if got := perGigabyte(runs, produce); got != "unknown" {
		t.Fatalf("got %s, want unknown", got)
	}
}

func TestMedianLimitsAndSpread(t *testing.T) {
	samples := []limits{
		{SequentialWriteBytesPerSecond: 400e6, SyncWriteLatency: 3 * time.Millisecond, LoopbackBytesPerSecond: 3e9},
		{SequentialWriteBytesPerSecond: 1200e6, SyncWriteLatency: time.Millisecond, LoopbackBytesPerSecond: 1e9},
		{SequentialWriteBytesPerSecond: 500e6, SyncWriteLatency: 2 * time.Millisecond, LoopbackBytesPerSecond: 2e9},
	}
	median := medianLimits(samples)
	if median.SequentialWriteBytesPerSecond != 500e6 || median.SyncWriteLatency != 2*time.Millisecond || median.LoopbackBytesPerSecond != 2e9 {
		t.Fatalf("median %+v", median)
	}
	if spread := limitSpread(samples); spread != 3 {
		t.Fatalf("spread %v, want 3", spread)
	}
	if spread := limitSpread(nil); spread != 1 {
		t.Fatalf("spread of nothing %v", spread)
	}
}

func TestClusterTargetReportAndVerdict(t *testing.T) {
	cairn, _ := targetNamed("cairn")
	replicated, ok := targetNamed("cairn-rf3")
	if !ok || replicated.brokers() != 3 || replicated.ReplicationFactor != 3 {
		t.Fatalf("cairn-rf3: %+v", replicated)
	}
	s := settings{Repeats: 2, Records: []int64{5}, RecordSizes: []int{1024}, Partitions: 4, ProduceDuration: time.Second, LoopbackDuration: time.Second, NatsPendingMax: 4000}
	_, produce, _ := perfArguments(s, tools{}, replicated, 1024, "a:1,b:2,c:3")
	joined := strings.Join(produce, " ")
	if !strings.Contains(joined, "--replication-factor 3") || !strings.Contains(joined, "--records 5 ") || !strings.Contains(joined, "--brokers a:1,b:2,c:3") {
		t.Fatalf("cluster producer: %s", joined)
	}
	if _, produce, _ := perfArguments(s, tools{}, cairn, 1024, "a:1"); strings.Contains(strings.Join(produce, " "), "replication-factor") {
		t.Fatalf("single producer: %v", produce)
	}
	r := &report{
		Settings: s,
		Targets: []*targetRuns{
			{Target: cairn, RecordBytes: 1024, Runs: []runOutcome{outcome(200, 900, 9*time.Millisecond), outcome(100, 600, 3*time.Millisecond)}},
			{Target: replicated, RecordBytes: 1024, Runs: []runOutcome{outcome(60, 300, 9*time.Millisecond)}, Failures: []string{"repetition 2: producing: boom"}},
		},
	}
	checks := verdicts(r.Settings, r.rows(), 0)
	if len(checks) != 1 || checks[0].Measured != 0.4 || !checks[0].Pass {
		t.Fatalf("verdicts: %+v", checks)
	}
	text := r.markdown()
	for _, want := range []string{"| cairn-rf3 | 3 / 3 | fsync on all 3 replicas before ack | 60.0 |", "Cairn RF=3 produce MB/s ÷ Cairn RF=1 produce MB/s, 1 KiB records | 0.40 | >= 0.40 | PASS", "failed in 1 of 2", "--peers 0=127.0.0.1:P0", "ADDRESS0,ADDRESS1,ADDRESS2"} {
		if !strings.Contains(text, want) {
			t.Errorf("markdown lacks %q:\n%s", want, text)
		}
	}
}

func TestFreeClusterPorts(t *testing.T) {
	ports, offset, err := freeClusterPorts(3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		for _, q := range []int{p, p + offset} {
			if seen[q] {
				t.Fatalf("port %d twice: %v offset %d", q, ports, offset)
			}
			seen[q] = true
		}
	}
}

func TestPeerTableAndVerdicts(t *testing.T) {
	names := []string{"cairn", "cairn-rf3", "kfake", "nats-r1", "nats-r1-sync", "nats-r3", "nats-r3-sync"}
	// Produce MB/s per target at 100 and 1024 bytes.
	rates := map[string][2]float64{
		"cairn": {40, 300}, "cairn-rf3": {20, 150}, "kfake": {40, 300},
		"nats-r1": {10, 100}, "nats-r1-sync": {1, 8}, "nats-r3": {5, 35}, "nats-r3-sync": {2, 20},
	}
	s := settings{Repeats: 1, Records: []int64{20, 10}, RecordSizes: []int{100, 1024}, Partitions: 4, ProduceDuration: time.Second, LoopbackDuration: time.Second, NatsPendingMax: 4000}
	r := &report{Settings: s, Machine: machine{Processors: 2, LoadAtStart: "1.00 2.00 3.00", LoadSamples: []string{"4.00 5.00 6.00"}, LoadAtEnd: "7.00 8.00 9.00"}}
	for i, size := range s.RecordSizes {
		for _, name := range names {
			target, ok := targetNamed(name)
			if !ok {
				t.Fatalf("no target %s", name)
			}
			consume := 100.0
			if name == "cairn" {
				consume = 200
			}
			run := outcome(rates[name][i], consume, 10*time.Millisecond)
			run.Produce.Records = s.Records[i]
			if name == "nats-r1-sync" {
				run.Produce.Records = 3 // stopped at the cap
			}
			r.Targets = append(r.Targets, &targetRuns{Target: target, RecordBytes: size, Runs: []runOutcome{run}})
		}
	}
	rows := r.rows()
	peers := r.peerTable(rows)
	for _, want := range []string{
		"| peer | cairn ÷ peer, 100 B | cairn ÷ peer, 1 KiB | cairn-rf3 ÷ peer, 100 B | cairn-rf3 ÷ peer, 1 KiB |",
		"| nats-r1 | 4.00x | 3.00x | 2.00x | 1.50x |",
		"| nats-r1-sync | 40.00x | 37.50x | 20.00x | 18.75x |",
		"| kfake | 1.00x | 1.00x | 0.50x | 0.50x |",
	} {
		if !strings.Contains(peers, want) {
			t.Errorf("peer table lacks %q:\n%s", want, peers)
		}
	}
	if strings.Contains(peers, "| cairn-rf3 |") {
		t.Errorf("a Cairn target is listed as a peer:\n%s", peers)
	}
	checks := verdicts(s, rows, 0)
	results := map[string]bool{}
	for _, v := range checks {
		results[v.Description] = v.Pass
	}
	for description, pass := range map[string]bool{
		"Cairn durable produce MB/s ÷ JetStream R1 (default sync) produce MB/s, 100 B records": true,
		"Cairn durable produce MB/s ÷ JetStream R1 (sync always) produce MB/s, 1 KiB records":  true,
		"Cairn RF=3 produce MB/s ÷ JetStream R3 (default sync) produce MB/s, 100 B records":    true,
		"Cairn RF=3 produce MB/s ÷ JetStream R3 (default sync) produce MB/s, 1 KiB records":    true,
		"Cairn RF=3 produce MB/s ÷ JetStream R3 (sync always) produce MB/s, 1 KiB records":     true,
	} {
		got, ok := results[description]
		if !ok || got != pass {
			t.Errorf("verdict %q: got %v (present %v), want %v", description, got, ok, pass)
		}
	}
	// 150 / 150: the RF=3 cluster is 0.5 of the single broker, above 0.40.
	text := r.markdown()
	for _, want := range []string{"### 100-byte records", "### 1024-byte records", "### Cairn's ratio to each peer", "(capped)",
		"4.00 5.00 6.00", "--cluster-port P0+100 --routes nats-route://127.0.0.1:P0+100,nats-route://127.0.0.1:P1+100", "natsperf produce --servers nats://ADDRESS0,nats://ADDRESS1,nats://ADDRESS2", "--sync-always", "All 11 targets met", "load average reached 7.0 on 2 processors"} {
		if !strings.Contains(text, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if summary := r.summary(); !strings.Contains(summary, "100-byte records:") || !strings.Contains(summary, "| nats-r3-sync |") {
		t.Errorf("summary lacks the peer tables:\n%s", summary)
	}
}

func TestNatsArguments(t *testing.T) {
	programs := tools{NatsServer: "ns", NatsPerf: "np"}
	r3, _ := targetNamed("nats-r3-sync")
	binary, arguments := r3.clusterArguments(programs, "d", 1, "0=127.0.0.1:4000,1=127.0.0.1:4001,2=127.0.0.1:4002", 200)
	joined := binary + " " + strings.Join(arguments, " ")
	want := "ns --name nats-1 --port 4001 --cluster-port 4201 --routes nats-route://127.0.0.1:4200,nats-route://127.0.0.1:4201,nats-route://127.0.0.1:4202 --store-dir d --sync-always"
	if joined != want {
		t.Fatalf("got  %s\nwant %s", joined, want)
	}
	r1, _ := targetNamed("nats-r1")
	if binary, arguments := r1.arguments(programs, "d", 5); binary != "ns" || strings.Join(arguments, " ") != "--port 5 --store-dir d" {
		t.Fatalf("nats-r1: %s %v", binary, arguments)
	}
	s := settings{Records: []int64{7}, RecordSizes: []int{100}, Partitions: 4, ProduceDuration: time.Second, NatsPendingMax: 4000, NatsConnections: 1}
	client, produce, consume := perfArguments(s, programs, r3, 100, "a:1,b:2")
	if client != "np" || strings.Join(produce, " ") != "produce --servers nats://a:1,nats://b:2 --streams 4 --replicas 3 --records 7 --record-size 100 --pending-max 4000 --connections 1 --duration 1s" ||
		strings.Join(consume, " ") != "consume --servers nats://a:1,nats://b:2 --streams 4" {
		t.Fatalf("natsperf: %s %v %v", client, produce, consume)
	}
}

func TestParseList(t *testing.T) {
	sizes, err := parseList("100, 1024", strconv.Atoi)
	if err != nil || len(sizes) != 2 || sizes[0] != 100 || sizes[1] != 1024 {
		t.Fatalf("got %v, %v", sizes, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-5"} {
		if _, err := parseList(bad, strconv.Atoi); err == nil {
			t.Errorf("parseList(%q) succeeded", bad)
		}
	}
}

func TestVerdictText(t *testing.T) {
	miss := verdict{Measured: 0.998, Required: 1, Pass: false}
	if got := miss.measuredText(); got != "0.998" {
		t.Errorf("a near miss reads %s", got)
	}
	if got := (verdict{Measured: 1.234, Required: 1, Pass: true}).measuredText(); got != "1.23" {
		t.Errorf("a pass reads %s", got)
	}
}
