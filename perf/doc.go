// Package perf is a load generator for Kafka-compatible clusters, in the
// manner of kafka-producer-perf-test and kafka-consumer-perf-test: Produce
// sends fixed-size records (optionally rate-limited) and reports throughput
// and per-record acknowledgment latency; Consume reads a topic back and
// reports throughput. Latencies are kept in a bounded log-linear Histogram.
// `cairn perf` and the benchmark (bench/) are built on it.
package perf
