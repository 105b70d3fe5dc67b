package main

import (
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
