// Command natsserver runs one nats-server (embedded, from the Go module
// github.com/nats-io/nats-server/v2) with JetStream on file storage, alone
// or as one server of a cluster on loopback, until it is interrupted or
// terminated. The benchmark runs it as a peer of the broker, in its own
// process as it runs the broker.
//
// It prints "nats: ready on ADDR" on stdout once it accepts connections
// and, in a cluster, once its JetStream meta group is current.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"cairn/bench/natsbench"
)

func main() {
	var o natsbench.ServerOptions
	var routes string
	flag.StringVar(&o.Name, "name", "nats-0", "server name, unique in a cluster")
	flag.IntVar(&o.Port, "port", 0, "client port on 127.0.0.1; 0 picks a free one")
	flag.StringVar(&o.StoreDir, "store-dir", "", "JetStream file storage directory (required)")
	flag.BoolVar(&o.SyncAlways, "sync-always", false, "JetStream sync_interval: always (fsync every write); without it NATS's default (fsync every 2 minutes)")
	flag.IntVar(&o.ClusterPort, "cluster-port", 0, "route port on 127.0.0.1; 0 runs alone")
	flag.StringVar(&routes, "routes", "", "comma-separated route URLs of the cluster's servers (nats-route://127.0.0.1:PORT)")
	readyTimeout := flag.Duration("ready-timeout", time.Minute, "how long to wait to be ready")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "natsserver: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if routes != "" {
		o.Routes = strings.Split(routes, ",")
	}
	server, err := natsbench.StartServer(o, *readyTimeout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsserver: %v\n", err)
		os.Exit(1)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	fmt.Printf("nats: ready on %s\n", server.Addr())
	<-signals
	server.Shutdown()
	server.WaitForShutdown()
}
