// Package compat checks that unmodified Kafka clients work against a real
// `cairn serve` process: franz-go (kgo), sarama, segmentio/kafka-go, kcat and
// confluent-kafka-python (librdkafka), kafka-python and kafkajs.
//
// The package is only tests. TestMain builds cmd/cairn once, starts one broker
// on a free port with a temporary data directory, and every test works on its
// own uniquely named topics. The crash test starts (and kills) brokers of its
// own, and the cluster tests (cluster_test.go) run three-broker clusters of
// their own; they and the chaos test record what their franz-go clients did
// as a linearizability.History and judge it by the checks the simulator
// uses (history_test.go). Non-Go clients are driven through the small
// scripts in testdata/ and node/, which read records as JSON on stdin and
// print JSON on stdout.
//
// The non-Go clients come from Debian (kcat, python3-kafka,
// python3-confluent-kafka, run with /usr/bin/python3) and npm (kafkajs, from
// node/package-lock.json); `make deps` installs them. A missing client fails
// its test rather than skipping it, so that a run without them cannot pass
// silently.
//
// Set CAIRN_COMPAT_BIN to a prebuilt broker binary to test it instead of
// building cmd/cairn (for example a binary built with -race).
package compat
