package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"cairn/bench/natsbench"
)

// Targets the project set for the durable broker (issue requirements).
const (
	produceToBaselineRequired = 1.0
	produceToDiskRequired     = 0.60
	consumeToBaselineRequired = 1.5
	// The 3-broker cluster (replication factor 3) against the single
	// broker, both durable.
	replicatedToSingleRequired = 0.40
)

// Targets the issue set against the peers, produce MB/s at every record
// size: Cairn durable single-node against JetStream R1 (file storage), and
// Cairn RF=3 against JetStream R3.
const (
	singleToJetStreamRequired     = 2.0
	replicatedToJetStreamRequired = 1.5
)

// targetRuns are every repetition against one target at one record size.
type targetRuns struct {
	Target      target
	RecordBytes int
	Runs        []runOutcome
	// Failures are the repetitions that failed (the benchmark goes on
	// without them), one line each.
	Failures []string
}

// report is everything one benchmark run measured.
type report struct {
	Settings     settings
	Started      time.Time
	Elapsed      time.Duration
	Machine      machine
	Limits       limits
	LimitSamples []limits
	Targets      []*targetRuns
	Simulator    *simulatorResult
}

// medianOf returns the median of value over items (the mean of the middle
// two for an even count), or 0 for none.
func medianOf[T any](items []T, value func(T) float64) float64 {
	if len(items) == 0 {
		return 0
	}
	values := make([]float64, len(items))
	for i, item := range items {
		values[i] = value(item)
	}
	slices.Sort(values)
	middle := len(values) / 2
	if len(values)%2 == 1 {
		return values[middle]
	}
	return (values[middle-1] + values[middle]) / 2
}

// rangeOf returns the smallest and largest value over items.
func rangeOf[T any](items []T, value func(T) float64) (float64, float64) {
	if len(items) == 0 {
		return 0, 0
	}
	low, high := value(items[0]), value(items[0])
	for _, item := range items[1:] {
		low, high = min(low, value(item)), max(high, value(item))
	}
	return low, high
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// row is one target's medians at one record size.
type row struct {
	Name                       string
	Durability                 string
	Baseline, Cairn            bool
	RecordBytes                int
	Brokers, ReplicationFactor int
	// Runs is how many repetitions succeeded.
	Runs                      int
	ProduceMegabytesPerSecond float64
	// ProduceMegabytesLow and High are the smallest and largest
	// repetition: the spread.
	ProduceMegabytesLow, ProduceMegabytesHigh float64
	ProduceRecordsPerSecond                   float64
	ProduceRecords                            float64
	// Capped tells that some repetition stopped at the duration cap
	// before sending every record.
	Capped                    bool
	LatencyP50Milliseconds    float64
	LatencyP99Milliseconds    float64
	ConsumeMegabytesPerSecond float64
	// Ratios to the baseline's medians at the same record size; zero
	// when there is no baseline.
	ProduceRatio, ConsumeRatio float64
}

func (r *report) rows() []row {
	rows := make([]row, 0, len(r.Targets))
	for _, t := range r.Targets {
		runs := t.Runs
		low, high := rangeOf(runs, func(o runOutcome) float64 { return o.Produce.MegabytesPerSecond })
		capped := false
		for _, o := range runs {
			if want := r.Settings.recordsAt(t.RecordBytes); want > 0 && o.Produce.Records < want {
				capped = true
			}
		}
		rows = append(rows, row{
			Name:                      t.Target.Name,
			Durability:                t.Target.Durability,
			Baseline:                  t.Target.Baseline,
			Cairn:                     t.Target.Cairn,
			RecordBytes:               t.RecordBytes,
			Brokers:                   t.Target.brokers(),
			ReplicationFactor:         t.Target.replicationFactor(),
			Runs:                      len(runs),
			ProduceMegabytesPerSecond: medianOf(runs, func(o runOutcome) float64 { return o.Produce.MegabytesPerSecond }),
			ProduceMegabytesLow:       low,
			ProduceMegabytesHigh:      high,
			ProduceRecordsPerSecond:   medianOf(runs, func(o runOutcome) float64 { return o.Produce.RecordsPerSecond }),
			ProduceRecords:            medianOf(runs, func(o runOutcome) float64 { return float64(o.Produce.Records) }),
			Capped:                    capped,
			LatencyP50Milliseconds:    medianOf(runs, func(o runOutcome) float64 { return milliseconds(o.Produce.Latency.P50) }),
			LatencyP99Milliseconds:    medianOf(runs, func(o runOutcome) float64 { return milliseconds(o.Produce.Latency.P99) }),
			ConsumeMegabytesPerSecond: medianOf(runs, func(o runOutcome) float64 { return o.Consume.MegabytesPerSecond }),
		})
	}
	for _, baseline := range rows {
		if !baseline.Baseline {
			continue
		}
		for i := range rows {
			if rows[i].RecordBytes != baseline.RecordBytes {
				continue
			}
			if baseline.ProduceMegabytesPerSecond > 0 {
				rows[i].ProduceRatio = rows[i].ProduceMegabytesPerSecond / baseline.ProduceMegabytesPerSecond
			}
			if baseline.ConsumeMegabytesPerSecond > 0 {
				rows[i].ConsumeRatio = rows[i].ConsumeMegabytesPerSecond / baseline.ConsumeMegabytesPerSecond
			}
		}
	}
	return rows
}

// rowsAt returns the rows of one record size.
func rowsAt(rows []row, recordBytes int) []row {
	var out []row
	for _, r := range rows {
		if r.RecordBytes == recordBytes {
			out = append(out, r)
		}
	}
	return out
}

// findRow returns the row of a target at a record size, or nil.
func findRow(rows []row, name string, recordBytes int) *row {
	for i := range rows {
		if rows[i].Name == name && rows[i].RecordBytes == recordBytes {
			return &rows[i]
		}
	}
	return nil
}

// sizeText names a record size: "100 B", "1 KiB".
func sizeText(recordBytes int) string {
	if recordBytes >= 1024 && recordBytes%1024 == 0 {
		return fmt.Sprintf("%d KiB", recordBytes/1024)
	}
	return fmt.Sprintf("%d B", recordBytes)
}

// table renders the rows of one record size as a markdown table.
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| target | brokers / RF | acknowledged when | produce MB/s | produce rec/s | p50 ms | p99 ms | produce MB/s, min–max | consume MB/s | ratio to kfake (produce / consume) |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if r.Runs == 0 {
			fmt.Fprintf(&b, "| %s | %d / %d | %s | failed | | | | | | |\n", r.Name, r.Brokers, r.ReplicationFactor, r.Durability)
			continue
		}
		ratio := "n/a"
		if r.ProduceRatio > 0 || r.ConsumeRatio > 0 {
			ratio = fmt.Sprintf("%.2fx / %.2fx", r.ProduceRatio, r.ConsumeRatio)
		}
		records := fmt.Sprintf("%.0f", r.ProduceRecordsPerSecond)
		if r.Capped {
			records += " (capped)"
		}
		fmt.Fprintf(&b, "| %s | %d / %d | %s | %.1f | %s | %.1f | %.1f | %.1f–%.1f | %.1f | %s |\n",
			r.Name, r.Brokers, r.ReplicationFactor, r.Durability, r.ProduceMegabytesPerSecond, records, r.LatencyP50Milliseconds, r.LatencyP99Milliseconds,
			r.ProduceMegabytesLow, r.ProduceMegabytesHigh, r.ConsumeMegabytesPerSecond, ratio)
	}
	return b.String()
}

// ratioText is numerator over denominator as "2.31x", or "n/a".
func ratioText(numerator, denominator *row) string {
	if numerator == nil || denominator == nil || numerator.Runs == 0 || denominator.Runs == 0 || denominator.ProduceMegabytesPerSecond <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", numerator.ProduceMegabytesPerSecond/denominator.ProduceMegabytesPerSecond)
}

// peerTable renders Cairn's produce throughput over every other target's,
// at every record size: a column per Cairn target and size, a row per peer.
func (r *report) peerTable(rows []row) string {
	var cairns, peers []string
	seen := map[string]bool{}
	for _, t := range r.Targets {
		if seen[t.Target.Name] {
			continue
		}
		seen[t.Target.Name] = true
		if t.Target.Name == "cairn" || t.Target.Name == "cairn-rf3" {
			cairns = append(cairns, t.Target.Name)
		} else if !t.Target.Cairn {
			peers = append(peers, t.Target.Name)
		}
	}
	if len(cairns) == 0 || len(peers) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| peer |")
	for _, c := range cairns {
		for _, size := range r.Settings.RecordSizes {
			fmt.Fprintf(&b, " %s ÷ peer, %s |", c, sizeText(size))
		}
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(cairns)*len(r.Settings.RecordSizes)) + "\n")
	for _, peer := range peers {
		fmt.Fprintf(&b, "| %s |", peer)
		for _, c := range cairns {
			for _, size := range r.Settings.RecordSizes {
				fmt.Fprintf(&b, " %s |", ratioText(findRow(rows, c, size), findRow(rows, peer, size)))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// verdict is one target the project set, checked.
type verdict struct {
	Description string
	Measured    float64
	Required    float64
	Pass        bool
}

// verdicts checks, at the largest record size, the durable broker
// ("cairn") against kfake and dd and the durable 3-broker cluster
// ("cairn-rf3") against the single broker; and at every record size Cairn
// against NATS JetStream (R1 against the single broker, R3 against the
// cluster, in both of JetStream's sync settings).
func verdicts(s settings, rows []row, diskBytesPerSecond float64) []verdict {
	var out []verdict
	check := func(description string, measured, required float64) {
		out = append(out, verdict{Description: description, Measured: measured, Required: required, Pass: measured >= required})
	}
	if len(s.RecordSizes) == 0 {
		return nil
	}
	largest := slices.Max(s.RecordSizes)
	cairn := findRow(rows, "cairn", largest)
	if cairn == nil {
		return nil
	}
	var baseline *row
	for i := range rows {
		if rows[i].Baseline && rows[i].RecordBytes == largest {
			baseline = &rows[i]
		}
	}
	at := fmt.Sprintf(", %s records", sizeText(largest))
	if baseline != nil {
		check("Cairn durable produce MB/s ÷ kfake produce MB/s"+at, cairn.ProduceRatio, produceToBaselineRequired)
	}
	if diskBytesPerSecond > 0 {
		check("Cairn durable produce MB/s ÷ dd durable write MB/s"+at, cairn.ProduceMegabytesPerSecond*1e6/diskBytesPerSecond, produceToDiskRequired)
	}
	if baseline != nil {
		check("Cairn consume MB/s ÷ kfake consume MB/s"+at, cairn.ConsumeRatio, consumeToBaselineRequired)
	}
	if replicated := findRow(rows, "cairn-rf3", largest); replicated != nil && cairn.ProduceMegabytesPerSecond > 0 {
		// A cluster that failed every repetition measures 0: FAIL.
		check("Cairn RF=3 produce MB/s ÷ Cairn RF=1 produce MB/s"+at, replicated.ProduceMegabytesPerSecond/cairn.ProduceMegabytesPerSecond, replicatedToSingleRequired)
	}
	peers := []struct {
		cairn, peer, description string
		required                 float64
	}{
		{"cairn", "nats-r1", "Cairn durable produce MB/s ÷ JetStream R1 (default sync) produce MB/s", singleToJetStreamRequired},
		{"cairn", "nats-r1-sync", "Cairn durable produce MB/s ÷ JetStream R1 (sync always) produce MB/s", singleToJetStreamRequired},
		{"cairn-rf3", "nats-r3", "Cairn RF=3 produce MB/s ÷ JetStream R3 (default sync) produce MB/s", replicatedToJetStreamRequired},
		{"cairn-rf3", "nats-r3-sync", "Cairn RF=3 produce MB/s ÷ JetStream R3 (sync always) produce MB/s", replicatedToJetStreamRequired},
	}
	for _, size := range s.RecordSizes {
		for _, p := range peers {
			ours, theirs := findRow(rows, p.cairn, size), findRow(rows, p.peer, size)
			if ours == nil || theirs == nil || theirs.Runs == 0 || theirs.ProduceMegabytesPerSecond <= 0 {
				continue
			}
			check(fmt.Sprintf("%s, %s records", p.description, sizeText(size)), ours.ProduceMegabytesPerSecond/theirs.ProduceMegabytesPerSecond, p.required)
		}
	}
	return out
}

func passText(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

func (v verdict) String() string {
	return fmt.Sprintf("%s: %s (target >= %.2f) %s", v.Description, v.measuredText(), v.Required, passText(v.Pass))
}

// measuredText is the measured value to two decimals, or three when two
// would round a miss up to the requirement.
func (v verdict) measuredText() string {
	if text := fmt.Sprintf("%.2f", v.Measured); v.Pass || text != fmt.Sprintf("%.2f", v.Required) {
		return text
	}
	return fmt.Sprintf("%.3f", v.Measured)
}

// limitsText describes the machine's measured limits in one paragraph.
func (r *report) limitsText() string {
	return fmt.Sprintf("durable sequential write (dd bs=1M count=1024 conv=fdatasync): %.0f MB/s; one 4 KiB write + fdatasync (dd bs=4k count=1000 oflag=dsync): %.3f ms; loopback TCP, one stream, 1 MiB writes: %.0f MB/s",
		r.Limits.SequentialWriteBytesPerSecond/1e6, milliseconds(r.Limits.SyncWriteLatency), r.Limits.LoopbackBytesPerSecond/1e6)
}

// recordsText says how many records of each size every target sends.
func (r *report) recordsText() string {
	parts := make([]string, len(r.Settings.RecordSizes))
	for i, size := range r.Settings.RecordSizes {
		parts[i] = fmt.Sprintf("%d records of %d bytes (%.0f MB)", r.Settings.recordsAt(size), size, float64(r.Settings.recordsAt(size))*float64(size)/1e6)
	}
	return strings.Join(parts, " and ")
}

// loadText is the load averages seen during the run.
func (m machine) loadText() string {
	text := fmt.Sprintf("at start %s; at the start of each repetition %s; at end %s", m.LoadAtStart, strings.Join(m.LoadSamples, " / "), m.LoadAtEnd)
	return text
}

// summary is what the benchmark prints when it is done.
func (r *report) summary() string {
	rows := r.rows()
	var b strings.Builder
	fmt.Fprintf(&b, "\nmedians of %d repetitions; every target sends %s (at most %s of producing), %d partitions or streams:\n",
		r.Settings.Repeats, r.recordsText(), r.Settings.ProduceDuration, r.Settings.Partitions)
	for _, size := range r.Settings.RecordSizes {
		fmt.Fprintf(&b, "\n%d-byte records:\n\n", size)
		b.WriteString(table(rowsAt(rows, size)))
	}
	if peers := r.peerTable(rows); peers != "" {
		b.WriteString("\nCairn's produce MB/s over each peer's (the same ratio as records/s):\n\n")
		b.WriteString(peers)
	}
	fmt.Fprintf(&b, "\nmachine limits (medians): %s\n", r.limitsText())
	fmt.Fprintf(&b, "load average (1, 5, 15 min): %s\n", r.Machine.loadText())
	for _, row := range rows {
		if row.Name == "cairn" && r.Limits.SequentialWriteBytesPerSecond > 0 {
			fmt.Fprintf(&b, "Cairn durable produce at %d-byte records is %.0f%% of the dd durable-write limit\n", row.RecordBytes, 100*row.ProduceMegabytesPerSecond*1e6/r.Limits.SequentialWriteBytesPerSecond)
		}
	}
	b.WriteString("\n")
	for _, v := range verdicts(r.Settings, rows, r.Limits.SequentialWriteBytesPerSecond) {
		b.WriteString(v.String() + "\n")
	}
	fmt.Fprintf(&b, "\nwall time %s\n", r.Elapsed.Round(time.Second))
	return b.String()
}

// markdown is the report written to docs/PERFORMANCE.md.
func (r *report) markdown() string {
	rows := r.rows()
	s := r.Settings
	var b strings.Builder
	b.WriteString("# Performance\n\n")
	fmt.Fprintf(&b, "Written by `make bench` on %s; rerun it rather than editing this file.\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Cairn against the machine's limits and against its peers — franz-go's kfake and NATS JetStream (%s) — in one run on one machine "+
		"(%d processors, shared with other work: load average %s).\n\n", natsServerVersion, r.Machine.Processors, r.Machine.loadText())

	if peak := r.Machine.peakLoad(); peak > float64(r.Machine.Processors) {
		fmt.Fprintf(&b, "**The machine was overloaded during this run**: the 1-minute load average reached %.1f on %d processors, from other work sharing it. "+
			"Absolute rates are lower and noisier than on an idle machine; the ratios between targets, measured in the same run with interleaved repetitions, are less affected, but they move too (see the min–max column).\n\n",
			peak, r.Machine.Processors)
	}
	b.WriteString("## Result\n\n")
	fmt.Fprintf(&b, "Medians of %d repetitions; the min–max column is the spread of produce MB/s over them. Each repetition starts a fresh broker (or cluster), "+
		"produces, then reads everything back. Every target gets the same records: %s, uncompressed, no key, spread over %d partitions "+
		"(Kafka targets: one topic, acks=all) or %d streams (NATS: one stream per partition), with at most %s of producing: a target that reaches the cap sends fewer "+
		"(marked \"capped\"; its rates and percentiles still compare). MB/s is 10^6 bytes per second of record values. p50 and p99 are per-record produce latency, "+
		"from handing the record to the client to its acknowledgment.\n\n",
		s.Repeats, r.recordsText(), s.Partitions, s.Partitions, s.ProduceDuration)
	for _, size := range s.RecordSizes {
		fmt.Fprintf(&b, "### %d-byte records\n\n", size)
		b.WriteString(table(rowsAt(rows, size)))
		b.WriteString("\n")
	}
	if peers := r.peerTable(rows); peers != "" {
		b.WriteString("### Cairn's ratio to each peer\n\n")
		b.WriteString("Produce MB/s of `cairn` (one durable broker) and `cairn-rf3` (three durable brokers, replication factor 3) over each peer's, at each record size " +
			"(at one record size this is also the ratio of records/s). Which peer compares with which Cairn target: `nats-r1-sync` is the one single node that, like " +
			"`cairn`, fsyncs before acknowledging; `nats-r1` and `nats-r3` (JetStream's defaults) acknowledge from the page cache, as `cairn-replication` does; " +
			"`nats-r3-sync` fsyncs a majority (2 of 3) where `cairn-rf3` fsyncs all three replicas.\n\n")
		b.WriteString(peers)
		b.WriteString("\n")
	}
	for _, t := range r.Targets {
		if t.Target.clustered() && t.Target.Client == kafkaClient && len(t.Runs) > 0 {
			counts := make([]string, len(t.Runs))
			for i, o := range t.Runs {
				counts[i] = fmt.Sprint(o.LogWarnings)
			}
			fmt.Fprintf(&b, "%s's brokers (run with `--log-level warn`) logged %s warning or error lines at %d-byte records, in repetition order, between all being ready and the end of the consumer.\n\n",
				t.Target.Name, strings.Join(counts, ", "), t.RecordBytes)
		}
		if len(t.Failures) == 0 {
			continue
		}
		fmt.Fprintf(&b, "**%s failed in %d of %d repetitions at %d-byte records** (its figures are medians of the others):\n\n", t.Target.Name, len(t.Failures), s.Repeats, t.RecordBytes)
		for _, failure := range t.Failures {
			fmt.Fprintf(&b, "- %s\n", failure)
		}
		b.WriteString("\n")
	}
	for _, row := range rows {
		if row.Name == "cairn" && r.Limits.SequentialWriteBytesPerSecond > 0 {
			fmt.Fprintf(&b, "Cairn's durable produce at %d-byte records is **%.0f%%** of the disk's durable-write limit measured by dd in the same run (%.0f MB/s).\n\n",
				row.RecordBytes, 100*row.ProduceMegabytesPerSecond*1e6/r.Limits.SequentialWriteBytesPerSecond, r.Limits.SequentialWriteBytesPerSecond/1e6)
		}
	}

	b.WriteString("### Targets\n\n")
	if checks := verdicts(s, rows, r.Limits.SequentialWriteBytesPerSecond); len(checks) > 0 {
		b.WriteString("| target | measured | required | result |\n|---|---:|---:|---|\n")
		failed := 0
		for _, v := range checks {
			fmt.Fprintf(&b, "| %s | %s | >= %.2f | %s |\n", v.Description, v.measuredText(), v.Required, passText(v.Pass))
			if !v.Pass {
				failed++
			}
		}
		if failed > 0 {
			fmt.Fprintf(&b, "\n**%d of %d targets not met in this run.**\n", failed, len(checks))
		} else {
			fmt.Fprintf(&b, "\nAll %d targets met in this run.\n", len(checks))
		}
	} else {
		b.WriteString("Not checked: this run did not include the `cairn` target.\n")
	}
	b.WriteString("\n")

	if r.Simulator != nil {
		b.WriteString(r.Simulator.markdown())
	}
	b.WriteString("## Machine limits\n\nMeasured in the same run, in the work directory (the same file system as the brokers' data), once at the start of every repetition, just before the brokers; medians of " + fmt.Sprint(len(r.LimitSamples)) + ", samples in repetition order.\n\n")
	b.WriteString("| measurement | median | samples |\n|---|---:|---|\n")
	sample := func(value func(limits) string) string {
		parts := make([]string, len(r.LimitSamples))
		for i, l := range r.LimitSamples {
			parts[i] = value(l)
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(&b, "| durable sequential write: `dd if=/dev/zero bs=1M count=1024 conv=fdatasync` | %.0f MB/s | %s |\n",
		r.Limits.SequentialWriteBytesPerSecond/1e6, sample(func(l limits) string { return fmt.Sprintf("%.0f", l.SequentialWriteBytesPerSecond/1e6) }))
	fmt.Fprintf(&b, "| one 4 KiB write + fdatasync: `dd if=/dev/zero bs=4k count=1000 oflag=dsync` | %.3f ms | %s |\n",
		milliseconds(r.Limits.SyncWriteLatency), sample(func(l limits) string { return fmt.Sprintf("%.3f", milliseconds(l.SyncWriteLatency)) }))
	fmt.Fprintf(&b, "| loopback TCP, one Go connection, 1 MiB writes for %s | %.0f MB/s | %s |\n\n",
		s.LoopbackDuration, r.Limits.LoopbackBytesPerSecond/1e6, sample(func(l limits) string { return fmt.Sprintf("%.0f", l.LoopbackBytesPerSecond/1e6) }))

	if spread := limitSpread(r.LimitSamples); spread > 1.5 {
		fmt.Fprintf(&b, "The durable-write limit moved by a factor of %.1f between repetitions: this machine's disk (a virtual one) is not steady, "+
			"so any ratio to it is uncertain by about as much.\n\n", spread)
	}

	m := r.Machine
	b.WriteString("## Machine\n\n")
	fmt.Fprintf(&b, "- processors: %d (%s)\n", m.Processors, m.ProcessorModel)
	fmt.Fprintf(&b, "- memory: %.1f GiB\n", float64(m.MemoryBytes)/(1<<30))
	fmt.Fprintf(&b, "- kernel: %s\n", m.Kernel)
	fmt.Fprintf(&b, "- go: %s\n", m.GoVersion)
	fmt.Fprintf(&b, "- file system of the data (df -hP): `%s`\n", m.Filesystem)
	fmt.Fprintf(&b, "- load average (1, 5, 15 min, from /proc/loadavg as `uptime` prints it): %s. The machine is shared: other work ran alongside, so rates move between repetitions (see the min–max column and every run below)\n", m.loadText())
	fmt.Fprintf(&b, "- date: %s; the whole run took %s\n\n", r.Started.UTC().Format(time.RFC3339), r.Elapsed.Round(time.Second))

	r.writeMethod(&b)

	b.WriteString("## Broker processor time\n\n")
	b.WriteString("Processor seconds (user + system) the broker process used (all three together for a cluster) per 10^9 bytes of record values, medians; " +
		"a broker that needs more processor per byte leaves less of the two processors to the client on the same machine.\n\n")
	b.WriteString("| target | record bytes | produce s/GB | consume s/GB |\n|---|---:|---:|---:|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", t.Target.Name, t.RecordBytes,
			perGigabyte(t.Runs, func(o runOutcome) (float64, int64) { return o.ProduceProcessorSeconds, o.Produce.Bytes }),
			perGigabyte(t.Runs, func(o runOutcome) (float64, int64) { return o.ConsumeProcessorSeconds, o.Consume.Bytes }))
	}
	b.WriteString("\n")

	b.WriteString("## Every run\n\n")
	b.WriteString("| target | record bytes | repetition | records | produce MB/s | produce rec/s | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms | consume MB/s | broker CPU s (produce / consume) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range r.Targets {
		for i, o := range t.Runs {
			l := o.Produce.Latency
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %.1f | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f / %.1f |\n",
				t.Target.Name, t.RecordBytes, i+1, o.Produce.Records, o.Produce.MegabytesPerSecond, o.Produce.RecordsPerSecond,
				milliseconds(l.P50), milliseconds(l.P95), milliseconds(l.P99), milliseconds(l.P999), milliseconds(l.Max),
				o.Consume.MegabytesPerSecond, o.ProduceProcessorSeconds, o.ConsumeProcessorSeconds)
		}
	}
	return b.String()
}

// writeMethod writes the Method section: the command, every target and the
// clients' settings.
func (r *report) writeMethod(b *strings.Builder) {
	s := r.Settings
	b.WriteString("## Method\n\n")
	fmt.Fprintf(b, "Command: `make bench`, which builds `bin/cairn` and runs `%s`.\n\n", s.CommandLine)
	b.WriteString("Targets, each started fresh for every repetition and stopped (SIGTERM) after it:\n\n")
	described := map[string]bool{}
	for _, t := range r.Targets {
		if described[t.Target.Name] {
			continue
		}
		described[t.Target.Name] = true
		var runs []runOutcome
		for _, other := range r.Targets {
			if other.Target.Name == t.Target.Name {
				runs = append(runs, other.Runs...)
			}
		}
		client := "the producer was " + idempotence(runs)
		if t.Target.Client == natsClient {
			client = "measured with bench/natsperf"
		}
		fmt.Fprintf(b, "- **%s**: %s; %s\n", t.Target.Name, t.Target.Description, client)
	}
	size := s.RecordSizes[len(s.RecordSizes)-1]
	programs := tools{Cairn: "bin/cairn", NatsPerf: "natsperf"}
	_, produceArguments, consumeArguments := perfArguments(s, programs, target{}, size, "ADDRESS")
	fmt.Fprintf(b, "\nKafka targets: the producer and the consumer are separate processes (`cairn perf`, franz-go), run one after the other against the broker; at %d-byte records:\n\n", size)
	fmt.Fprintf(b, "    bin/cairn %s\n    bin/cairn %s\n\n", strings.Join(produceArguments, " "), strings.Join(consumeArguments, " "))
	for _, name := range []string{"cairn-rf3"} {
		t, ok := targetNamed(name)
		if !ok || !described[name] {
			continue
		}
		_, produceArguments, consumeArguments := perfArguments(s, programs, t, size, "ADDRESS0,ADDRESS1,ADDRESS2")
		fmt.Fprintf(b, "Against %s, with every broker's address:\n\n    bin/cairn %s\n    bin/cairn %s\n\n",
			t.Name, strings.Join(produceArguments, " "), strings.Join(consumeArguments, " "))
		binary, arguments := t.clusterArguments(programs, "DIR/data-N", 0, "0=127.0.0.1:P0,1=127.0.0.1:P1,2=127.0.0.1:P2", 100)
		arguments[2] = "N"
		fmt.Fprintf(b, "Its brokers (N = 0, 1, 2; P0-P2 free loopback ports, and the Raft ports P+100 free too, or another offset that is):\n\n    %s %s\n\n",
			binary, strings.Join(arguments, " "))
	}
	if t, ok := targetNamed("nats-r3-sync"); ok {
		_, produceArguments, consumeArguments := perfArguments(s, programs, t, size, "ADDRESS0,ADDRESS1,ADDRESS2")
		fmt.Fprintf(b, "NATS targets: bench/natsserver is nats-server %s embedded (`server.NewServer` with JetStream, file storage, its defaults otherwise), "+
			"one process per server; bench/natsperf is the publisher and the reader (nats.go's `jetstream` package), separate processes, one after the other. "+
			"Against nats-r3-sync at %d-byte records:\n\n    natsperf %s\n    natsperf %s\n\n",
			natsServerVersion, size, strings.Join(produceArguments, " "), strings.Join(consumeArguments, " "))
		binary, arguments := t.clusterArguments(tools{NatsServer: "natsserver"}, "DIR/data-N", 0, "0=127.0.0.1:P0,1=127.0.0.1:P1,2=127.0.0.1:P2", 100)
		fmt.Fprintf(b, "Its servers (shown for N = 0; P0-P2 free loopback client ports, route ports P+100 or another free offset, the store directory fresh; without `--sync-always` for nats-r3, "+
			"and a single server, `natsserver --port P --store-dir DIR [--sync-always]`, for nats-r1 and nats-r1-sync):\n\n    %s %s\n\n",
			binary, strings.Join(arguments, " "))
	}
	fmt.Fprintf(b, "Clients and their settings:\n\n"+
		"- **Kafka targets** (cairn, cairn-rf3, cairn-replication, kfake): one franz-go kgo client with its defaults: linger 10 ms, batches up to 1,000,012 bytes, "+
		"at most 50,000 buffered records (produce blocks beyond that), idempotent when the broker grants a producer id (as said per target above), acks=all, "+
		"records spread over the %d partitions.\n"+
		"- **NATS targets**: nats.go's `jetstream` package publishing asynchronously (`PublishMsgAsync`) over %d streams (stream i captures subject bench.i: "+
		"the streams stand for the partitions), file storage, limits retention, replicas 1 or 3; %s, publishing round robin over the streams, "+
		"with at most %d messages published and not yet acknowledged per connection "+
		"(nats.go's own default bound for asynchronous publishing; the publisher blocks beyond that, as the Kafka producer does beyond its buffer). "+
		"A message's latency runs from just before the publisher waits for room to the acknowledgment callback. Reading back: one ordered consumer per stream, "+
		"all at once, pulling up to %d messages at a time.\n\n",
		s.Partitions, s.Partitions, connectionsText(s.natsConnections()), s.NatsPendingMax, natsbench.ConsumeBatchMax)
	b.WriteString("Fairness: every target runs on the same machine in the same run, with the same records (count and size) and the same cap on producing; " +
		"repetitions interleave the targets (every target at every size, then the next repetition) so that drift in the machine's load spreads over all of them. " +
		"The clients differ because the protocols do; each is the ordinary Go client of its system, with its defaults except where stated above. " +
		"kfake keeps records in memory and never touches the disk, so it is the ceiling of a Kafka broker with free storage and the same client. " +
		"Durability differs per target and is in the table's \"acknowledged when\" column: only `cairn`, `cairn-rf3`, `nats-r1-sync` and `nats-r3-sync` have a record on disk when it is acknowledged; " +
		"JetStream's default (`nats-r1`, `nats-r3`) is the page cache with a background fsync every 2 minutes. Brokers, producers and consumers share the " +
		"machine's two processors. Latency is measured by an unthrottled producer, so it is dominated by time spent queued behind earlier records " +
		"(up to 50,000 in the Kafka client, up to the NATS bounds above); it compares targets, not the latency of a lightly loaded broker.\n\n")
	fmt.Fprintf(b, "Rerun: `make bench` (%s here). Fewer or other targets, shorter runs: `go run ./bench -h`, e.g. "+
		"`go run ./bench -targets cairn,nats-r1 -record-sizes 1024 -records 200000 -repeats 1` (without `-out` the report is only printed).\n\n", r.Elapsed.Round(time.Second))
}

// clusterTargets returns the names of the cluster targets in this run.
func (r *report) clusterTargets() []string {
	var names []string
	for _, t := range r.Targets {
		if t.Target.clustered() {
			names = append(names, t.Target.Name)
		}
	}
	return names
}

// connectionsText describes the NATS publisher's connections.
func connectionsText(connections int) string {
	if connections == 1 {
		return "one connection, as the Kafka client has one per broker (in trials on this machine, one connection per stream gave the same throughput " +
			"within the machine's noise, with four times the messages in flight and so higher latency; `-nats-connections` sets it)"
	}
	return fmt.Sprintf("%d connections, each publishing to its share of the streams", connections)
}

// perGigabyte returns the median processor seconds per 10^9 bytes, or
// "unknown" when a run could not read the broker's processor time.
func perGigabyte(runs []runOutcome, measure func(runOutcome) (seconds float64, bytes int64)) string {
	if len(runs) == 0 {
		return "n/a"
	}
	for _, o := range runs {
		if seconds, bytes := measure(o); seconds < 0 || bytes <= 0 {
			return "unknown"
		}
	}
	return fmt.Sprintf("%.2f", medianOf(runs, func(o runOutcome) float64 {
		seconds, bytes := measure(o)
		return seconds / (float64(bytes) / 1e9)
	}))
}

// limitSpread is the largest dd sample over the smallest (1 when steady).
func limitSpread(samples []limits) float64 {
	if len(samples) == 0 {
		return 1
	}
	smallest, largest := samples[0].SequentialWriteBytesPerSecond, samples[0].SequentialWriteBytesPerSecond
	for _, l := range samples[1:] {
		smallest = min(smallest, l.SequentialWriteBytesPerSecond)
		largest = max(largest, l.SequentialWriteBytesPerSecond)
	}
	if smallest <= 0 {
		return 1
	}
	return largest / smallest
}

// idempotence says whether the producer had a producer id in the runs.
func idempotence(runs []runOutcome) string {
	idempotent := 0
	for _, o := range runs {
		if o.Produce.Idempotent {
			idempotent++
		}
	}
	switch idempotent {
	case len(runs):
		return "idempotent (the broker granted a producer id)"
	case 0:
		return "not idempotent (the broker granted no producer id)"
	}
	return fmt.Sprintf("idempotent in %d of %d runs", idempotent, len(runs))
}
