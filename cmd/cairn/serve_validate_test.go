package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/replica"
)

// TestMain lets a test run this binary as cairn itself: with CAIRN_TEST_MAIN
// set, the process is `cairn <args>` and exits as cairn would.
func TestMain(m *testing.M) {
	if os.Getenv("CAIRN_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runCairn runs `cairn args...` as a process and returns its stderr and
// exit code.
func runCairn(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "CAIRN_TEST_MAIN=1"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return stderr.String(), cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("cairn %v still running after 30s (it should have refused its settings)", args)
		return "", 0
	}
}

// TestServeExitsWithValidateMessage: for every rule of replica.Config.Validate
// that a setting reaches, `cairn serve` with a bad value exits non-zero and
// prints Validate's own message, with the field named as the setting was
// given. The expected text is computed by Validate itself from the same
// change, so the CLI cannot drift from it.
func TestServeExitsWithValidateMessage(t *testing.T) {
	for _, c := range []struct {
		flag, value string
		change      func(*replica.Config)
	}{
		{"node-id", "-1", func(c *replica.Config) { c.NodeID = -1 }},
		{"cluster-id", "", func(c *replica.Config) { c.ClusterID = "" }},
		{"data-dir", "", func(c *replica.Config) { c.DataDir = "" }},
		{"broker-session-timeout", "1s", func(c *replica.Config) { c.SessionTimeout = time.Second }},
		{"default-partitions", "0", func(c *replica.Config) { c.DefaultPartitions = 0 }},
		{"replication-factor-default", "-2", func(c *replica.Config) { c.DefaultReplicationFactor = -2 }},
		{"segment-bytes", "100", func(c *replica.Config) { c.Log.SegmentBytesMax = 100 }},
		{"producer-id-expiration", "-1s", func(c *replica.Config) { c.ProducerIdleMax = -time.Second }},
		{"offsets-topic-partitions", "10001", func(c *replica.Config) { c.OffsetsTopicPartitions = 10001 }},
		{"group-initial-rebalance-delay", "-1s", func(c *replica.Config) { c.GroupInitialRebalanceDelay = -time.Second }},
		{"group-consumer-heartbeat-interval", "10ms", func(c *replica.Config) { c.GroupConsumerHeartbeatInterval = 10 * time.Millisecond }},
		{"group-consumer-session-timeout", "2s", func(c *replica.Config) { c.GroupConsumerSessionTimeout = 2 * time.Second }},
		{"group-consumer-assignor", "roundrobin", func(c *replica.Config) { c.GroupConsumerAssignor = "roundrobin" }},
		{"leader-imbalance-check-interval", "100ms", func(c *replica.Config) { c.LeaderImbalanceCheckInterval = 100 * time.Millisecond }},
		{"leader-imbalance-per-broker-percentage", "101", func(c *replica.Config) { c.LeaderImbalancePerBrokerPercentage = 101 }},
	} {
		config := replica.DefaultConfig()
		c.change(&config)
		var refused *replica.ConfigError
		if err := config.Validate(); !errors.As(err, &refused) || settingOfField[refused.Field] != c.flag {
			t.Fatalf("--%s %s: Validate said %v, want a refusal of the field behind --%s", c.flag, c.value, err, c.flag)
		}
		want := refused.Describe("--" + c.flag)
		dir := t.TempDir()
		stderr, code := runCairn(t, nil, "serve", "--data-dir", filepath.Join(dir, "data"), "--metrics-addr", "", "--"+c.flag+"="+c.value)
		if code == 0 || !strings.Contains(stderr, "cairn serve: "+want+"\n") {
			t.Errorf("cairn serve --%s=%q: exit %d, stderr %q; want non-zero and %q", c.flag, c.value, code, stderr, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
			t.Errorf("--%s=%q: the refused configuration still created the data directory", c.flag, c.value)
		}
	}
	// Named as given: an environment variable, a key of the file.
	stderr, code := runCairn(t, []string{"CAIRN_LEADER_IMBALANCE_PER_BROKER_PERCENTAGE=101"}, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"))
	if want := "CAIRN_LEADER_IMBALANCE_PER_BROKER_PERCENTAGE 101: must be between 0 and 100"; code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("from the environment: exit %d, stderr %q; want %q", code, stderr, want)
	}
	file := filepath.Join(t.TempDir(), "cairn.yaml")
	if err := os.WriteFile(file, []byte("broker_session_timeout: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr, code = runCairn(t, nil, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--config", file)
	if want := file + ": broker_session_timeout 1s: must be at least 2s"; code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("from the file: exit %d, stderr %q; want %q", code, stderr, want)
	}
}

// TestSettingOfFieldNamesSettings: every Config field mapped to a setting
// names one that exists, so a Validate error is never labelled with a
// setting the user cannot find.
func TestSettingOfFieldNamesSettings(t *testing.T) {
	names := map[string]bool{}
	for _, s := range serveSettings() {
		names[s.name] = true
	}
	for field, name := range settingOfField {
		if !names[name] {
			t.Errorf("field %s maps to --%s, which is not a serve setting", field, name)
		}
	}
}
