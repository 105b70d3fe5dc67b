package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
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

// targetRuns are every repetition against one target.
type targetRuns struct {
	Target target
	Runs   []runOutcome
	// Failures are the repetitions of a cluster target that failed (the
	// benchmark goes on without them), one line each.
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

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// row is one target's medians.
type row struct {
	Name                       string
	Baseline                   bool
	Brokers, ReplicationFactor int
	// Runs is how many repetitions succeeded.
	Runs                      int
	ProduceMegabytesPerSecond float64
	ProduceRecordsPerSecond   float64
	ProduceRecords            float64
	LatencyP50Milliseconds    float64
	LatencyP99Milliseconds    float64
	ConsumeMegabytesPerSecond float64
	// Ratios to the baseline's medians; zero when there is no baseline.
	ProduceRatio, ConsumeRatio float64
}

func (r *report) rows() []row {
	rows := make([]row, 0, len(r.Targets))
	for _, t := range r.Targets {
		runs := t.Runs
		rows = append(rows, row{
			Name:                      t.Target.Name,
			Baseline:                  t.Target.Baseline,
			Brokers:                   t.Target.brokers(),
			ReplicationFactor:         max(t.Target.ReplicationFactor, 1),
			Runs:                      len(runs),
			ProduceMegabytesPerSecond: medianOf(runs, func(o runOutcome) float64 { return o.Produce.MegabytesPerSecond }),
			ProduceRecordsPerSecond:   medianOf(runs, func(o runOutcome) float64 { return o.Produce.RecordsPerSecond }),
			ProduceRecords:            medianOf(runs, func(o runOutcome) float64 { return float64(o.Produce.Records) }),
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

// table renders the rows as a markdown table.
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| target | brokers / RF | produce MB/s | produce rec/s | p50 ms | p99 ms | consume MB/s | ratio to kfake (produce / consume) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if r.Runs == 0 {
			fmt.Fprintf(&b, "| %s | %d / %d | failed | | | | | |\n", r.Name, r.Brokers, r.ReplicationFactor)
			continue
		}
		ratio := "n/a"
		if r.ProduceRatio > 0 || r.ConsumeRatio > 0 {
			ratio = fmt.Sprintf("%.2fx / %.2fx", r.ProduceRatio, r.ConsumeRatio)
		}
		fmt.Fprintf(&b, "| %s | %d / %d | %.1f | %.0f | %.1f | %.1f | %.1f | %s |\n",
			r.Name, r.Brokers, r.ReplicationFactor, r.ProduceMegabytesPerSecond, r.ProduceRecordsPerSecond, r.LatencyP50Milliseconds, r.LatencyP99Milliseconds, r.ConsumeMegabytesPerSecond, ratio)
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

// verdicts checks the durable broker ("cairn") against kfake and dd, and
// the durable 3-broker cluster ("cairn-rf3") against the single broker.
func verdicts(rows []row, diskBytesPerSecond float64) []verdict {
	var cairn, replicated, baseline *row
	for i := range rows {
		switch {
		case rows[i].Name == "cairn":
			cairn = &rows[i]
		case rows[i].Name == "cairn-rf3":
			replicated = &rows[i]
		case rows[i].Baseline:
			baseline = &rows[i]
		}
	}
	var out []verdict
	check := func(description string, measured, required float64) {
		out = append(out, verdict{Description: description, Measured: measured, Required: required, Pass: measured >= required})
	}
	if cairn == nil {
		return nil
	}
	if baseline != nil {
		check("Cairn durable produce MB/s ÷ kfake produce MB/s", cairn.ProduceRatio, produceToBaselineRequired)
	}
	if diskBytesPerSecond > 0 {
		check("Cairn durable produce MB/s ÷ dd durable write MB/s", cairn.ProduceMegabytesPerSecond*1e6/diskBytesPerSecond, produceToDiskRequired)
	}
	if baseline != nil {
		check("Cairn consume MB/s ÷ kfake consume MB/s", cairn.ConsumeRatio, consumeToBaselineRequired)
	}
	if replicated != nil && cairn.ProduceMegabytesPerSecond > 0 {
		// A cluster that failed every repetition measures 0: FAIL.
		check("Cairn RF=3 produce MB/s ÷ Cairn RF=1 produce MB/s", replicated.ProduceMegabytesPerSecond/cairn.ProduceMegabytesPerSecond, replicatedToSingleRequired)
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
	return fmt.Sprintf("%s: %.2f (target >= %.2f) %s", v.Description, v.Measured, v.Required, passText(v.Pass))
}

// limitsText describes the machine's measured limits in one paragraph.
func (r *report) limitsText() string {
	return fmt.Sprintf("durable sequential write (dd bs=1M count=1024 conv=fdatasync): %.0f MB/s; one 4 KiB write + fdatasync (dd bs=4k count=1000 oflag=dsync): %.3f ms; loopback TCP, one stream, 1 MiB writes: %.0f MB/s",
		r.Limits.SequentialWriteBytesPerSecond/1e6, milliseconds(r.Limits.SyncWriteLatency), r.Limits.LoopbackBytesPerSecond/1e6)
}

// summary is what the benchmark prints when it is done.
func (r *report) summary() string {
	rows := r.rows()
	var b strings.Builder
	fmt.Fprintf(&b, "\nmedians of %d repetitions, %d records of %d bytes, acks=all, %d partitions:\n\n", r.Settings.Repeats, r.Settings.Records, r.Settings.RecordBytes, r.Settings.Partitions)
	if clustered := r.clusterTargets(); len(clustered) > 0 {
		fmt.Fprintf(&b, "(%s: %d records, replication factor 3)\n\n", strings.Join(clustered, ", "), r.Settings.ClusterRecords)
	}
	b.WriteString(table(rows))
	fmt.Fprintf(&b, "\nmachine limits (medians): %s\n", r.limitsText())
	for _, row := range rows {
		if row.Name == "cairn" && r.Limits.SequentialWriteBytesPerSecond > 0 {
			fmt.Fprintf(&b, "Cairn durable produce is %.0f%% of the dd durable-write limit\n", 100*row.ProduceMegabytesPerSecond*1e6/r.Limits.SequentialWriteBytesPerSecond)
		}
	}
	b.WriteString("\n")
	for _, v := range verdicts(rows, r.Limits.SequentialWriteBytesPerSecond) {
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

	b.WriteString("## Result\n\n")
	fmt.Fprintf(&b, "Medians of %d repetitions. Each repetition starts a fresh broker, produces %d records of %d bytes (uncompressed, acks=all, no key) "+
		"to one topic of %d partitions (at most %s of producing), then reads them all back. MB/s is 10^6 bytes per second of record values. "+
		"p50 and p99 are per-record produce latency, from handing the record to the client to its acknowledgment.\n\n",
		s.Repeats, s.Records, s.RecordBytes, s.Partitions, s.ProduceDuration)
	if clustered := r.clusterTargets(); len(clustered) > 0 {
		fmt.Fprintf(&b, "The cluster target (%s) runs three brokers on this same 2-processor machine, creates the topic with replication factor 3, "+
			"and produces **%d** records instead (fewer, to keep `make bench` short; its MB/s and latencies are rates and percentiles, so they compare, "+
			"but the run is shorter). Its ratio to the single broker is the cost of replication plus that of running three brokers on one machine's processors and disk.\n\n",
			strings.Join(clustered, ", "), s.ClusterRecords)
	}
	b.WriteString(table(rows))
	b.WriteString("\n")
	for _, t := range r.Targets {
		if t.Target.clustered() && len(t.Runs) > 0 {
			counts := make([]string, len(t.Runs))
			for i, o := range t.Runs {
				counts[i] = fmt.Sprint(o.LogWarnings)
			}
			fmt.Fprintf(&b, "%s's brokers (run with `--log-level warn`) logged %s warning or error lines, in repetition order, between all being ready and the end of the consumer.\n\n",
				t.Target.Name, strings.Join(counts, ", "))
		}
		if len(t.Failures) == 0 {
			continue
		}
		fmt.Fprintf(&b, "**%s failed in %d of %d repetitions** (its figures are medians of the others):\n\n", t.Target.Name, len(t.Failures), s.Repeats)
		for _, failure := range t.Failures {
			fmt.Fprintf(&b, "- %s\n", failure)
		}
		b.WriteString("\n")
	}
	for _, row := range rows {
		if row.Name == "cairn" && r.Limits.SequentialWriteBytesPerSecond > 0 {
			fmt.Fprintf(&b, "Cairn's durable produce is **%.0f%%** of the disk's durable-write limit measured by dd in the same run (%.0f MB/s).\n\n",
				100*row.ProduceMegabytesPerSecond*1e6/r.Limits.SequentialWriteBytesPerSecond, r.Limits.SequentialWriteBytesPerSecond/1e6)
		}
	}

	b.WriteString("### Targets\n\n")
	if checks := verdicts(rows, r.Limits.SequentialWriteBytesPerSecond); len(checks) > 0 {
		b.WriteString("| target | measured | required | result |\n|---|---:|---:|---|\n")
		for _, v := range checks {
			fmt.Fprintf(&b, "| %s | %.2f | >= %.2f | %s |\n", v.Description, v.Measured, v.Required, passText(v.Pass))
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
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) at start: %s; at end: %s\n", m.LoadAtStart, m.LoadAtEnd)
	fmt.Fprintf(&b, "- date: %s; the whole run took %s\n\n", r.Started.UTC().Format(time.RFC3339), r.Elapsed.Round(time.Second))

	b.WriteString("## Method\n\n")
	fmt.Fprintf(&b, "Command: `make bench`, which builds `bin/cairn` and runs `%s`.\n\n", s.CommandLine)
	b.WriteString("Targets, each started fresh for every repetition and stopped (SIGTERM) after it:\n\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "- **%s**: %s; the producer was %s\n", t.Target.Name, t.Target.Description, idempotence(t.Runs))
	}
	produceArguments, consumeArguments := perfArguments(s, target{}, "ADDRESS")
	b.WriteString("\nThe producer and the consumer are separate processes, run one after the other against the broker:\n\n")
	fmt.Fprintf(&b, "    bin/cairn %s\n    bin/cairn %s\n\n", strings.Join(produceArguments, " "), strings.Join(consumeArguments, " "))
	for _, t := range r.Targets {
		if !t.Target.clustered() {
			continue
		}
		produceArguments, consumeArguments := perfArguments(s, t.Target, "ADDRESS0,ADDRESS1,ADDRESS2")
		fmt.Fprintf(&b, "Against %s, with every broker's address:\n\n    bin/cairn %s\n    bin/cairn %s\n\n",
			t.Target.Name, strings.Join(produceArguments, " "), strings.Join(consumeArguments, " "))
		name, arguments := t.Target.clusterArguments("bin/cairn", "DIR/data-N", 0, "0=127.0.0.1:P0,1=127.0.0.1:P1,2=127.0.0.1:P2", 100)
		arguments[2] = "N"
		fmt.Fprintf(&b, "Its brokers (N = 0, 1, 2; P0-P2 free loopback ports, and the Raft ports P+100 free too, or another offset that is):\n\n    %s %s\n\n",
			name, strings.Join(arguments, " "))
	}
	b.WriteString("Fairness: every target gets the same client (franz-go kgo with its defaults: linger 10 ms, batches up to 1,000,012 bytes, " +
		"at most 50,000 buffered records, idempotent when the broker grants a producer id, as said per target above) and the same parameters; repetitions interleave the targets so that " +
		"drift in the machine's load spreads over all of them. kfake keeps records in memory and never touches the disk, so it is the ceiling of a broker " +
		"with free storage and the same client; Cairn (durable) fsyncs before acknowledging. Both brokers, the producer and the consumer share the " +
		"machine's processors. Latency is measured by an unthrottled producer, so it is dominated by time spent in the client's buffer behind earlier records; " +
		"it compares targets, not the latency of a lightly loaded broker.\n\n")
	fmt.Fprintf(&b, "Rerun: `make bench` (%s here). Fewer or other targets, shorter runs: `go run ./bench -h`, e.g. "+
		"`go run ./bench -targets cairn,kfake -records 500000 -repeats 1` (without `-out` the report is only printed).\n\n", r.Elapsed.Round(time.Second))

	b.WriteString("## Broker processor time\n\n")
	b.WriteString("Processor seconds (user + system) the broker process used (all three together for a cluster) per 10^9 bytes of record values, medians; " +
		"a broker that needs more processor per byte leaves less of the two processors to the client on the same machine.\n\n")
	b.WriteString("| target | produce s/GB | consume s/GB |\n|---|---:|---:|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Target.Name,
			perGigabyte(t.Runs, func(o runOutcome) (float64, int64) { return o.ProduceProcessorSeconds, o.Produce.Bytes }),
			perGigabyte(t.Runs, func(o runOutcome) (float64, int64) { return o.ConsumeProcessorSeconds, o.Consume.Bytes }))
	}
	b.WriteString("\n")

	b.WriteString("## Every run\n\n")
	b.WriteString("| target | repetition | records | produce MB/s | produce rec/s | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms | consume MB/s | broker CPU s (produce / consume) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range r.Targets {
		for i, o := range t.Runs {
			l := o.Produce.Latency
			fmt.Fprintf(&b, "| %s | %d | %d | %.1f | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f / %.1f |\n",
				t.Target.Name, i+1, o.Produce.Records, o.Produce.MegabytesPerSecond, o.Produce.RecordsPerSecond,
				milliseconds(l.P50), milliseconds(l.P95), milliseconds(l.P99), milliseconds(l.P999), milliseconds(l.Max),
				o.Consume.MegabytesPerSecond, o.ProduceProcessorSeconds, o.ConsumeProcessorSeconds)
		}
	}
	return b.String()
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
