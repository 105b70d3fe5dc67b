package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clusterReadyTimeout is how long the brokers of a cluster have to print
// their ready lines (each waits for the controller quorum to register it).
const clusterReadyTimeout = 60 * time.Second

// brokers are the server processes of one target: one, or a cluster's.
type brokers struct {
	servers []*server
	// readyLogSizes are the sizes of the servers' logs once all were
	// ready, so that reportWarnings skips the start (elections).
	readyLogSizes []int64
}

// address returns the addresses of every broker, comma-separated (the
// producer's and consumer's --brokers).
func (b *brokers) address() string {
	addresses := make([]string, len(b.servers))
	for i, s := range b.servers {
		addresses[i] = s.address
	}
	return strings.Join(addresses, ",")
}

// processorSeconds returns the processor time all the brokers have used so
// far, or a negative number if any is unknown.
func (b *brokers) processorSeconds() float64 {
	total := 0.0
	for _, s := range b.servers {
		seconds := s.processorSeconds()
		if seconds < 0 {
			return -1
		}
		total += seconds
	}
	return total
}

// logTail returns the end of every broker's log.
func (b *brokers) logTail() string {
	if len(b.servers) == 1 {
		return b.servers[0].logTail()
	}
	parts := make([]string, len(b.servers))
	for i, s := range b.servers {
		parts[i] = fmt.Sprintf("-- %s:\n%s", filepath.Base(s.logPath), s.logTail())
	}
	return strings.Join(parts, "\n")
}

// stop stops every broker at once (SIGTERM, then SIGKILL after stopGrace)
// and returns their errors joined.
func (b *brokers) stop() error {
	errs := make([]error, len(b.servers))
	var wg sync.WaitGroup
	for i, s := range b.servers {
		wg.Go(func() {
			if err := s.stop(); err != nil {
				errs[i] = fmt.Errorf("%s: %w", filepath.Base(s.logPath), err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// markReady remembers the sizes of the servers' logs.
func (b *brokers) markReady() {
	b.readyLogSizes = make([]int64, len(b.servers))
	for i, s := range b.servers {
		if info, err := os.Stat(s.logPath); err == nil {
			b.readyLogSizes[i] = info.Size()
		}
	}
}

// reportWarnings logs how many warnings and errors each broker logged since
// all were ready, and the first few, so that a cluster's trouble under load
// (leaders moving, followers falling behind) shows in the benchmark's
// output.
func (b *brokers) reportWarnings() int {
	total := 0
	for i, s := range b.servers {
		var offset int64
		if i < len(b.readyLogSizes) {
			offset = b.readyLogSizes[i]
		}
		count, first := warnings(s.logPath, offset, 3)
		total += count
		if count == 0 {
			logf("  %s: no warnings since ready", filepath.Base(s.logPath))
			continue
		}
		logf("  %s: %d warning or error lines since ready; the first:", filepath.Base(s.logPath), count)
		for _, line := range first {
			logf("    %s", tail(line, 400))
		}
	}
	return total
}

// warnings counts the lines of a broker's log from offset on at level WARN
// or ERROR and returns the first limit of them.
func warnings(logPath string, offset int64, limit int) (int, []string) {
	file, err := os.Open(logPath)
	if err != nil {
		return 0, nil
	}
	defer file.Close()
	if _, err := file.Seek(offset, 0); err != nil {
		return 0, nil
	}
	count := 0
	var first []string
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.Contains(line, "level=WARN") && !strings.Contains(line, "level=ERROR") {
			continue
		}
		count++
		if len(first) < limit {
			first = append(first, line)
		}
	}
	return count, first
}

// startCluster starts the brokers of clustered target t at once, on free
// loopback ports with free Raft ports, each with a fresh data directory
// under runDir, and waits until every one has printed its ready line. On
// failure it stops those that started.
func startCluster(ctx context.Context, processes *supervisor, t target, programs tools, runDir string) (*brokers, error) {
	n := t.brokers()
	ports, raftPortOffset, err := freeClusterPorts(n)
	if err != nil {
		return nil, err
	}
	peers := make([]string, n)
	for i, port := range ports {
		peers[i] = fmt.Sprintf("%d=127.0.0.1:%d", i, port)
	}
	servers := make([]*server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		dataDir := filepath.Join(runDir, fmt.Sprintf("data-%d", i))
		if err := os.RemoveAll(dataDir); err != nil { // fresh on every attempt
			return nil, err
		}
		wg.Go(func() {
			name, arguments := t.clusterArguments(programs, dataDir, i, strings.Join(peers, ","), raftPortOffset)
			servers[i], errs[i] = processes.startServer(ctx, filepath.Join(runDir, fmt.Sprintf("broker-%d.log", i)), clusterReadyTimeout, name, arguments...)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("broker %d: %w", i, errs[i])
			}
		})
	}
	wg.Wait()
	cluster := &brokers{}
	for _, s := range servers {
		if s != nil {
			cluster.servers = append(cluster.servers, s)
		}
	}
	if err := errors.Join(errs...); err != nil {
		cluster.stop()
		return nil, err
	}
	cluster.markReady()
	return cluster, nil
}

// freeClusterPorts returns n distinct loopback ports that were free a
// moment ago, and a Raft port offset such that every port plus the offset
// was free too and collides with none of the others. It tries the brokers'
// default offset (100) first.
func freeClusterPorts(n int) ([]int, int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n { // held open together, so the ports are distinct
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, 0, err
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, offset := range []int{100, 200, 300, 400, 500, -100, -200, -300, -400, -500} {
		if raftPortsFree(ports, offset) {
			return ports, offset, nil
		}
	}
	return nil, 0, fmt.Errorf("no free Raft ports near the Kafka ports %v", ports)
}

// raftPortsFree tells whether every port plus offset is a valid port, not
// one of ports, and free on loopback.
func raftPortsFree(ports []int, offset int) bool {
	var probes []net.Listener
	defer func() {
		for _, l := range probes {
			l.Close()
		}
	}()
	for _, port := range ports {
		raft := port + offset
		if raft < 1024 || raft > 65535 {
			return false
		}
		for _, other := range ports {
			if raft == other {
				return false
			}
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(raft)))
		if err != nil {
			return false
		}
		probes = append(probes, l)
	}
	return true
}
