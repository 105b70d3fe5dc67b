package main

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterFromFlags(t *testing.T) {
	cluster, err := clusterFromFlags("0=127.0.0.1:9092, 1=127.0.0.1:9093,2=127.0.0.1:9094", 1, 100, "data/node-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := cluster.Brokers[2]; got != "127.0.0.1:9094" {
		t.Errorf("broker 2 at %q", got)
	}
	if got := cluster.RaftAddresses[0]; got != "127.0.0.1:9192" {
		t.Errorf("broker 0's Raft address %q, want the Kafka port + 100", got)
	}
	if got, want := cluster.RaftDir, filepath.Join("data/node-1", "raft"); got != want {
		t.Errorf("Raft dir %q, want %q", got, want)
	}

	refused := []struct {
		peers  string
		self   int32
		offset int
		says   string
	}{
		{"0=127.0.0.1:9092,1=127.0.0.1:9093", 0, 100, "1 or 3"},
		{"0=127.0.0.1:9092,1=127.0.0.1:9093,2=127.0.0.1:9094", 3, 100, "does not list this broker"},
		{"0=127.0.0.1:9092,0=127.0.0.1:9093,2=127.0.0.1:9094", 0, 100, "listed twice"},
		{"0=127.0.0.1:9092,1=127.0.0.1:9093,2=127.0.0.1:9094", 0, 1, "would both use 127.0.0.1:9093"},
		{"0=127.0.0.1:9092,1=127.0.0.1:9092,2=127.0.0.1:9094", 0, 100, "would both use 127.0.0.1:9092"},
		{"0=127.0.0.1:9092,1=127.0.0.1:9093,2=127.0.0.1:9094", 0, 0, "must not be 0"},
		{"0=127.0.0.1:65500", 0, 100, "out of range"},
		{"0=127.0.0.1", 0, 100, "missing port"},
		{"x=127.0.0.1:9092", 0, 100, "integer"},
		{"-1=127.0.0.1:9092", 0, 100, "integer >= 0"},
		{"0127.0.0.1:9092", 0, 100, "not id=host:port"},
	}
	for _, r := range refused {
		_, err := clusterFromFlags(r.peers, r.self, r.offset, "data")
		if err == nil || !strings.Contains(err.Error(), r.says) {
			t.Errorf("--peers %s --node-id %d --raft-port-offset %d: error %v, want one saying %q", r.peers, r.self, r.offset, err, r.says)
		}
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	nodeID := fs.Int("node-id", 0, "")
	peers := fs.String("peers", "", "")
	t.Setenv("CAIRN_NODE_ID", "2")
	t.Setenv("CAIRN_PEERS", "from-environment")
	if err := setFlagsFromEnvironment(fs); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--peers", "from-command-line"}); err != nil {
		t.Fatal(err)
	}
	if *nodeID != 2 || *peers != "from-command-line" {
		t.Errorf("node id %d, peers %q: want the environment's 2 and the command line's peers", *nodeID, *peers)
	}
	t.Setenv("CAIRN_NODE_ID", "two")
	if err := setFlagsFromEnvironment(fs); err == nil || !strings.Contains(err.Error(), "CAIRN_NODE_ID") {
		t.Errorf("a bad CAIRN_NODE_ID: error %v, want one naming the variable", err)
	}
}
