package perf

import (
	"encoding/json"
	"fmt"
	"time"
)

// bytesPerMegabyte is the megabyte of every MB/s figure: 10^6 bytes, the
// unit dd reports in, so that the two can be compared directly.
const bytesPerMegabyte = 1e6

// Operation names what a Result measured.
type Operation string

// The operations a Result can describe.
const (
	OperationProduce Operation = "produce"
	OperationConsume Operation = "consume"
)

// Result is the outcome of a load test.
type Result struct {
	// Operation is produce or consume.
	Operation Operation
	// Records is how many records were acknowledged (produce) or read
	// (consume).
	Records int64
	// Bytes is the size of those records' keys and values.
	Bytes int64
	// Elapsed runs from the first send (or the start of fetching) to the
	// last acknowledgment (or the last record read).
	Elapsed time.Duration
	// RecordsPerSecond is Records over Elapsed.
	RecordsPerSecond float64
	// MegabytesPerSecond is Bytes over Elapsed, in 10^6 bytes per second.
	MegabytesPerSecond float64
	// Latency summarizes per-record acknowledgment latency, from the call
	// that handed the record to the client to the acknowledgment callback.
	// Produce only.
	Latency *LatencySummary
	// Idempotent tells whether the producer ran with a producer id
	// (idempotent writes): with acks -1 when the broker grants one.
	// Produce only.
	Idempotent bool
}

// LatencySummary holds percentiles of a latency distribution.
type LatencySummary struct {
	// Count is how many latencies were recorded.
	Count int64
	// Mean is the exact mean.
	Mean time.Duration
	// P50, P95, P99 and P999 are the 50th, 95th, 99th and 99.9th
	// percentiles, to about 1%.
	P50, P95, P99, P999 time.Duration
	// Max is the exact maximum.
	Max time.Duration
}

// summarize returns the latency summary of a histogram of nanoseconds.
func summarize(h *Histogram) *LatencySummary {
	return &LatencySummary{
		Count: h.Count(),
		Mean:  time.Duration(h.Mean()),
		P50:   time.Duration(h.ValueAtQuantile(0.50)),
		P95:   time.Duration(h.ValueAtQuantile(0.95)),
		P99:   time.Duration(h.ValueAtQuantile(0.99)),
		P999:  time.Duration(h.ValueAtQuantile(0.999)),
		Max:   time.Duration(h.Max()),
	}
}

// newResult fills in the rates of a result.
func newResult(operation Operation, records, bytes int64, elapsed time.Duration) Result {
	result := Result{Operation: operation, Records: records, Bytes: bytes, Elapsed: elapsed}
	if seconds := elapsed.Seconds(); seconds > 0 {
		result.RecordsPerSecond = float64(records) / seconds
		result.MegabytesPerSecond = float64(bytes) / bytesPerMegabyte / seconds
	}
	return result
}

// String is the result in one line for people, in the manner of Kafka's
// perf tools.
func (r Result) String() string {
	verb := "sent"
	if r.Operation == OperationConsume {
		verb = "read"
	}
	line := fmt.Sprintf("%d records %s in %.2f s, %.1f records/s (%.2f MB/s)",
		r.Records, verb, r.Elapsed.Seconds(), r.RecordsPerSecond, r.MegabytesPerSecond)
	if l := r.Latency; l != nil && l.Count > 0 {
		line += fmt.Sprintf(", latency ms: mean %s, p50 %s, p95 %s, p99 %s, p99.9 %s, max %s",
			milliseconds(l.Mean), milliseconds(l.P50), milliseconds(l.P95), milliseconds(l.P99), milliseconds(l.P999), milliseconds(l.Max))
	}
	return line
}

func milliseconds(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

// resultJSON is the machine-readable form of a Result: durations are
// seconds or milliseconds as named.
type resultJSON struct {
	Operation          Operation    `json:"operation"`
	Records            int64        `json:"records"`
	Bytes              int64        `json:"bytes"`
	ElapsedSeconds     float64      `json:"elapsed_seconds"`
	RecordsPerSecond   float64      `json:"records_per_second"`
	MegabytesPerSecond float64      `json:"megabytes_per_second"`
	Latency            *latencyJSON `json:"latency_milliseconds,omitempty"`
	Idempotent         bool         `json:"idempotent,omitempty"`
}

type latencyJSON struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

func toMilliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fromMilliseconds(m float64) time.Duration { return time.Duration(m * float64(time.Millisecond)) }

// MarshalJSON encodes the result with durations in seconds (elapsed) and
// milliseconds (latencies), and MB/s in 10^6 bytes per second.
func (r Result) MarshalJSON() ([]byte, error) {
	out := resultJSON{
		Operation:          r.Operation,
		Records:            r.Records,
		Bytes:              r.Bytes,
		ElapsedSeconds:     r.Elapsed.Seconds(),
		RecordsPerSecond:   r.RecordsPerSecond,
		MegabytesPerSecond: r.MegabytesPerSecond,
		Idempotent:         r.Idempotent,
	}
	if l := r.Latency; l != nil {
		out.Latency = &latencyJSON{
			Count: l.Count,
			Mean:  toMilliseconds(l.Mean),
			P50:   toMilliseconds(l.P50),
			P95:   toMilliseconds(l.P95),
			P99:   toMilliseconds(l.P99),
			P999:  toMilliseconds(l.P999),
			Max:   toMilliseconds(l.Max),
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (r *Result) UnmarshalJSON(data []byte) error {
	var in resultJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*r = Result{
		Operation:          in.Operation,
		Records:            in.Records,
		Bytes:              in.Bytes,
		Elapsed:            time.Duration(in.ElapsedSeconds * float64(time.Second)),
		RecordsPerSecond:   in.RecordsPerSecond,
		MegabytesPerSecond: in.MegabytesPerSecond,
		Idempotent:         in.Idempotent,
	}
	if l := in.Latency; l != nil {
		r.Latency = &LatencySummary{
			Count: l.Count,
			Mean:  fromMilliseconds(l.Mean),
			P50:   fromMilliseconds(l.P50),
			P95:   fromMilliseconds(l.P95),
			P99:   fromMilliseconds(l.P99),
			P999:  fromMilliseconds(l.P999),
			Max:   fromMilliseconds(l.Max),
		}
	}
	return nil
}
