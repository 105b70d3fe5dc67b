package natsbench

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// produceAndConsume publishes a few thousand messages and reads them back,
// checking the counts, bytes and latencies.
func produceAndConsume(t *testing.T, servers []string, replicas int, syncAlways bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const records, recordBytes = 3000, 100
	produced, err := Produce(ctx, ProduceOptions{Servers: servers, Streams: 2, Replicas: replicas, Records: records, RecordBytes: recordBytes,
		PendingMax: 64, Connections: 2, Duration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if produced.Records != records || produced.Bytes != records*recordBytes || produced.RecordsPerSecond <= 0 || produced.MegabytesPerSecond <= 0 {
		t.Fatalf("produced %+v", produced)
	}
	if l := produced.Latency; l == nil || l.Count != records || l.P50 <= 0 || l.P99 < l.P50 || l.Max < l.P99 {
		t.Fatalf("latency %+v", produced.Latency)
	}
	consumed, err := Consume(ctx, ConsumeOptions{Servers: servers, Streams: 2})
	if err != nil {
		t.Fatal(err)
	}
	if consumed.Records != records || consumed.Bytes != records*recordBytes {
		t.Fatalf("consumed %+v (sync always %v)", consumed, syncAlways)
	}
}

func TestSingleServer(t *testing.T) {
	for _, syncAlways := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync-always=%v", syncAlways), func(t *testing.T) {
			s, err := StartServer(ServerOptions{Name: "solo", StoreDir: t.TempDir(), SyncAlways: syncAlways}, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown()
			produceAndConsume(t, []string{s.ClientURL()}, 1, syncAlways)
		})
	}
}

// TestCluster runs three servers in this process, clustered on loopback,
// with streams of three replicas.
func TestCluster(t *testing.T) {
	ports := freePorts(t, 6)
	clientPorts, routePorts := ports[:3], ports[3:]
	var routes []string
	for _, port := range routePorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", port))
	}
	type started struct {
		url string
		err error
	}
	results := make(chan started, 3)
	for i := range 3 {
		go func() {
			s, err := StartServer(ServerOptions{Name: fmt.Sprintf("n%d", i), Port: clientPorts[i], StoreDir: t.TempDir(),
				ClusterPort: routePorts[i], Routes: routes}, 30*time.Second)
			if err != nil {
				results <- started{err: err}
				return
			}
			t.Cleanup(s.Shutdown)
			results <- started{url: s.ClientURL()}
		}()
	}
	var servers []string
	for range 3 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		servers = append(servers, r.url)
	}
	produceAndConsume(t, servers, 3, false)
}

func TestValidate(t *testing.T) {
	good := ProduceOptions{Servers: []string{"nats://127.0.0.1:1"}, Streams: 1, Replicas: 1, Records: 1, RecordBytes: 1, PendingMax: 1, Duration: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.PendingMax = 0
	if bad.Validate() == nil {
		t.Fatal("a zero pending bound was accepted")
	}
	bad = good
	bad.Servers = nil
	if bad.Validate() == nil {
		t.Fatal("no servers was accepted")
	}
	if _, err := StartServer(ServerOptions{}, time.Second); err == nil {
		t.Fatal("a server without a store directory started")
	}
}
