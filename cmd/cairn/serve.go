package main

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cairn/core"
	"cairn/diskfault"
	"cairn/replica"
	"cairn/replica/metalog"
	"cairn/replica/shell"
)

const serveUsage = `usage: cairn serve [flags]

Runs a broker. With no flags: a single-node cluster on 127.0.0.1:9092 with
data under ./data. With --peers: one broker of a cluster, in which every
broker is also a voter of the controller quorum (Raft, on the Kafka port +
--raft-port-offset). Start every broker of the cluster with the same --peers.

Every flag can also be given as an environment variable (CAIRN_ and the
flag's name in capitals with - as _: CAIRN_NODE_ID=1) or as a key of the
YAML file named by --config (the name with - as _: node_id: 1). A flag wins
over the environment, which wins over the file; docs/CONFIG.md lists every
setting. Unknown keys and bad values stop the broker before it starts.

Metrics: Prometheus text at http://<--metrics-addr>/metrics, by default the
--listen host on port 9644 + --node-id (9644 for broker 0).

examples:
  cairn serve
  cairn serve --listen 127.0.0.1:9093 --data-dir /var/lib/cairn
  cairn serve --node-id 0 --peers 0=127.0.0.1:9092,1=127.0.0.1:9093,2=127.0.0.1:9094 --data-dir data/node-0
  cairn serve --config cairn.yaml --log-format json
  CAIRN_METRICS_ADDR=0.0.0.0:9644 cairn serve

flags (-name and --name are the same):
`

// envPrefix starts the environment variable of every serve flag.
const envPrefix = "CAIRN_"

// registrationLogInterval is how often a clustered broker that is not yet
// serving says what it waits for.
const registrationLogInterval = 5 * time.Second

func runServe(args []string) error {
	defaults := replica.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	settings := defineSettings(fs, serveSettings())
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	sources, err := parseSettings(fs, settings, args, os.LookupEnv)
	if err != nil {
		return err
	}
	given := map[string]bool{}
	for name := range settings {
		given[name] = sources.given(name)
	}
	get := func(name string) any { return fs.Lookup(name).Value.(flag.Getter).Get() }
	listen, advertise := get("listen").(string), get("advertise").(string)
	dataDir, peers, clusterID := get("data-dir").(string), get("peers").(string), get("cluster-id").(string)
	raftPortOffset, replicationFactor := get("raft-port-offset").(int64), get("replication-factor-default").(int64)
	segmentBytes, sessionTimeout := get("segment-bytes").(int64), get("broker-session-timeout").(time.Duration)
	durability, autoCreate, metricsSetting := get("durability").(string), get("auto-create-topics").(bool), get("metrics-addr").(string)
	// Errors name a setting as it was given: --node-id, CAIRN_NODE_ID, or
	// cairn.yaml: node_id.
	label := func(name string) string { return sources.label(name, settings[name]) }
	logger, err := newLogger(get("log-format").(string), get("log-level").(string), label("log-format"), label("log-level"))
	if err != nil {
		return err
	}
	config := defaults
	// Parsing only: each value into its Config field's type. The rules are
	// Config.Validate's, below.
	fit32 := func(name string) (int32, error) {
		v := get(name).(int64)
		if v < math.MinInt32 || v > math.MaxInt32 {
			return 0, fmt.Errorf("%s %d: out of range", label(name), v)
		}
		return int32(v), nil
	}
	for _, field := range []struct {
		name string
		to   *int32
	}{
		{"node-id", &config.NodeID},
		{"default-partitions", &config.DefaultPartitions},
		{"offsets-topic-partitions", &config.OffsetsTopicPartitions},
		{"leader-imbalance-per-broker-percentage", &config.LeaderImbalancePerBrokerPercentage},
	} {
		if *field.to, err = fit32(field.name); err != nil {
			return err
		}
	}
	config.DataDir = dataDir
	config.ClusterID = clusterID
	config.SessionTimeout = sessionTimeout
	config.Log.SegmentBytesMax = segmentBytes
	config.AutoCreateTopics = autoCreate
	config.GroupInitialRebalanceDelay = get("group-initial-rebalance-delay").(time.Duration)
	config.GroupConsumerHeartbeatInterval = get("group-consumer-heartbeat-interval").(time.Duration)
	config.GroupConsumerSessionTimeout = get("group-consumer-session-timeout").(time.Duration)
	config.GroupConsumerAssignor = get("group-consumer-assignor").(string)
	config.ProducerIdleMax = get("producer-id-expiration").(time.Duration)
	config.AutoLeaderRebalance = get("auto-leader-rebalance-enable").(bool)
	config.LeaderImbalanceCheckInterval = get("leader-imbalance-check-interval").(time.Duration)
	switch durability {
	case "durable":
		config.Durability = core.DurableAcks
	case "replication":
		config.Durability = core.ReplicationAcks
	default:
		return fmt.Errorf("%s %q: want durable or replication", label("durability"), durability)
	}
	var cluster *shell.ClusterConfig
	brokers := 1
	if peers != "" {
		if raftPortOffset < -65535 || raftPortOffset > 65535 {
			return fmt.Errorf("%s %d: out of range", label("raft-port-offset"), raftPortOffset)
		}
		cluster, err = clusterFromFlags(peers, config.NodeID, int(raftPortOffset), dataDir)
		if err != nil {
			return err
		}
		config.Standalone = false
		self := cluster.Brokers[config.NodeID]
		if !given["listen"] {
			listen = self
		}
		if !given["advertise"] {
			advertise = self
		}
		brokers = len(cluster.Brokers)
		config.DefaultReplicationFactor = int16(min(3, brokers))
	} else if given["raft-port-offset"] {
		return fmt.Errorf("%s: only meaningful with --peers", label("raft-port-offset"))
	}
	// 0 keeps the derived factor. The bound by the number of brokers is
	// checked here, not in Validate, because only --peers knows them.
	if replicationFactor != 0 {
		if replicationFactor > int64(brokers) {
			return fmt.Errorf("%s %d: must be between 1 and the number of brokers (%d)", label("replication-factor-default"), replicationFactor, brokers)
		}
		config.DefaultReplicationFactor = int16(max(replicationFactor, math.MinInt16))
	}
	if err := config.Validate(); err != nil {
		return namedSetting(err, label)
	}
	if _, err := metricsAddress(metricsSetting, listen, config.NodeID); err != nil {
		return fmt.Errorf("%s %w", label("metrics-addr"), err)
	}
	advertised := advertise
	if advertised == "" {
		advertised = listen
	}
	host, port, err := splitAddress(advertised)
	if err != nil {
		return fmt.Errorf("advertised address (set it with --advertise): %w", err)
	}
	config.AdvertisedHost, config.AdvertisedPort = host, int32(port)
	if cluster != nil {
		// dragonboat fixes each package's logger at its first message, so
		// this must come before the Raft replica starts. Its INFO level
		// reports every election and connection.
		raftLevel := slog.LevelWarn
		if logger.Enabled(context.Background(), slog.LevelDebug) {
			raftLevel = slog.LevelInfo
		}
		metalog.RouteDragonboatLogs(logger, raftLevel)
	}

	lock, err := lockDataDir(config.DataDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	node, err := replica.Open(config, replica.Env{FS: diskfault.OS{}, Logger: logger, Rand: seededRand()}, time.Now())
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		node.Close()
		return err
	}
	var server *shell.Server
	if cluster != nil {
		server, err = shell.NewClusteredServer(node, logger, *cluster)
		if err != nil {
			l.Close()
			node.Close()
			return err
		}
	} else {
		server = shell.NewServer(node, logger)
	}
	metricsServer, err := startMetrics(server, metricsSetting, given["metrics-addr"], l.Addr().String(), config.NodeID, logger)
	if err != nil {
		l.Close()
		return errors.Join(err, server.Close())
	}
	if metricsServer != nil {
		defer metricsServer.Close()
	}
	done := make(chan error, 1)
	go func() { done <- server.Serve(l) }()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)

	// A clustered broker serves once the controller has registered and
	// unfenced it; until then Metadata would not list it. Say what it waits
	// for now and then, rather than print the ready line early. A
	// standalone broker registered itself when it opened.
	waitLog := time.NewTicker(registrationLogInterval)
	defer waitLog.Stop()
	for registered := cluster == nil; !registered; {
		select {
		case <-server.Registered():
			registered = true
		case <-waitLog.C:
			logger.Info("waiting to be registered by the controller (a majority of the brokers in --peers must be up)")
		case sig := <-signals:
			logger.Info("shutting down before ready", "signal", sig.String())
			return server.Close()
		case err := <-done:
			if err != nil {
				logger.Error("listener failed", "err", err)
			}
			return errors.Join(err, server.Close())
		}
	}
	ready := readyLine{nodeID: config.NodeID, address: l.Addr().String(), dataDir: config.DataDir, durability: config.Durability.String()}
	if cluster != nil {
		ready.brokers, ready.raft = len(cluster.Brokers), cluster.RaftAddresses[config.NodeID]
	}
	if err := printReady(os.Stdout, get("log-format").(string), ready); err != nil {
		logger.Error("printing the ready line", "err", err)
	}
	select {
	case sig := <-signals:
		logger.Info("shutting down", "signal", sig.String())
	case err := <-done:
		if err != nil {
			logger.Error("listener failed", "err", err)
		}
	}
	return server.Close()
}

// settingOfField names the serve setting of each replica.Config field that
// has one, so that Validate's errors name the setting as it was given.
var settingOfField = map[string]string{
	"NodeID":                             "node-id",
	"ClusterID":                          "cluster-id",
	"DataDir":                            "data-dir",
	"SessionTimeout":                     "broker-session-timeout",
	"DefaultPartitions":                  "default-partitions",
	"DefaultReplicationFactor":           "replication-factor-default",
	"Durability":                         "durability",
	"Log.SegmentBytesMax":                "segment-bytes",
	"ProducerIdleMax":                    "producer-id-expiration",
	"OffsetsTopicPartitions":             "offsets-topic-partitions",
	"GroupInitialRebalanceDelay":         "group-initial-rebalance-delay",
	"GroupConsumerHeartbeatInterval":     "group-consumer-heartbeat-interval",
	"GroupConsumerSessionTimeout":        "group-consumer-session-timeout",
	"GroupConsumerAssignor":              "group-consumer-assignor",
	"AutoLeaderRebalance":                "auto-leader-rebalance-enable",
	"LeaderImbalanceCheckInterval":       "leader-imbalance-check-interval",
	"LeaderImbalancePerBrokerPercentage": "leader-imbalance-per-broker-percentage",
}

// namedSetting rewrites a Validate error to name the setting as given
// (--node-id, CAIRN_NODE_ID, cairn.yaml: node_id) in place of the field.
func namedSetting(err error, label func(string) string) error {
	var refused *replica.ConfigError
	if !errors.As(err, &refused) {
		return err
	}
	if name, ok := settingOfField[refused.Field]; ok {
		return errors.New(refused.Describe(label(name)))
	}
	return err
}

// readyLine is what a broker says once it serves; brokers is 0 for a
// standalone broker.
type readyLine struct {
	nodeID     int32
	address    string
	dataDir    string
	durability string
	brokers    int
	raft       string
}

// printReady prints the ready line on standard output: in the text format
// the line that make cluster and the compat tests wait for ("cairn: broker
// N ready on ADDRESS"); with --log-format json one JSON log record (msg
// "ready") in the same shape as the JSON logs on stderr, so that a log
// shipper parsing JSON sees no stray text line.
func printReady(w io.Writer, format string, r readyLine) error {
	if format == "json" {
		attributes := []any{"node_id", r.nodeID, "address", r.address, "data_dir", r.dataDir, "durability", r.durability}
		if r.brokers > 0 {
			attributes = append(attributes, "cluster_brokers", r.brokers, "raft_address", r.raft)
		}
		slog.New(slog.NewJSONHandler(w, nil)).Info("ready", attributes...)
		return nil
	}
	var err error
	if r.brokers > 0 {
		_, err = fmt.Fprintf(w, "cairn: broker %d ready on %s (data in %s, durability %s, cluster of %d, raft %s)\n",
			r.nodeID, r.address, r.dataDir, r.durability, r.brokers, r.raft)
	} else {
		_, err = fmt.Fprintf(w, "cairn: broker %d ready on %s (data in %s, durability %s)\n", r.nodeID, r.address, r.dataDir, r.durability)
	}
	return err
}

// clusterFromFlags turns --peers and --raft-port-offset into the shell's
// cluster configuration, refusing anything two brokers could disagree on or
// collide over.
func clusterFromFlags(peers string, self int32, raftPortOffset int, dataDir string) (*shell.ClusterConfig, error) {
	brokers := map[int32]string{}
	for _, item := range strings.Split(peers, ",") {
		item = strings.TrimSpace(item)
		idText, address, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("--peers: %q is not id=host:port", item)
		}
		id, err := strconv.ParseInt(strings.TrimSpace(idText), 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("--peers: %q: the id must be an integer >= 0", item)
		}
		address = strings.TrimSpace(address)
		if _, _, err := splitAddress(address); err != nil {
			return nil, fmt.Errorf("--peers: broker %d: %w", id, err)
		}
		if _, dup := brokers[int32(id)]; dup {
			return nil, fmt.Errorf("--peers: broker %d is listed twice", id)
		}
		brokers[int32(id)] = address
	}
	if _, ok := brokers[self]; !ok {
		return nil, fmt.Errorf("--peers does not list this broker (--node-id %d)", self)
	}
	// metalog's quorum is fixed at its first start: one voter, or three.
	if len(brokers) != 1 && len(brokers) != 3 {
		return nil, fmt.Errorf("--peers lists %d brokers; the controller quorum supports 1 or 3", len(brokers))
	}
	if raftPortOffset == 0 {
		return nil, errors.New("--raft-port-offset: must not be 0 (Raft cannot share the Kafka port)")
	}
	raft := map[int32]string{}
	owner := map[string]string{} // address → what uses it, to report collisions
	ids := make([]int32, 0, len(brokers))
	for id := range brokers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		host, port, _ := splitAddress(brokers[id])
		raftPort := port + raftPortOffset
		if raftPort < 1 || raftPort > 65535 {
			return nil, fmt.Errorf("--raft-port-offset %d: broker %d's Raft port %d is out of range", raftPortOffset, id, raftPort)
		}
		raft[id] = net.JoinHostPort(host, strconv.Itoa(raftPort))
		for _, use := range []struct{ address, what string }{
			{brokers[id], fmt.Sprintf("broker %d's Kafka listener", id)},
			{raft[id], fmt.Sprintf("broker %d's Raft transport", id)},
		} {
			if other, taken := owner[use.address]; taken {
				return nil, fmt.Errorf("--peers/--raft-port-offset: %s and %s would both use %s", other, use.what, use.address)
			}
			owner[use.address] = use.what
		}
	}
	return &shell.ClusterConfig{
		Brokers:       brokers,
		RaftAddresses: raft,
		RaftDir:       filepath.Join(dataDir, "raft"),
	}, nil
}

// splitAddress checks host:port and returns its parts.
func splitAddress(address string) (string, int, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", address, err)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q: no host", address)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", address)
	}
	return host, port, nil
}

// seededRand is the one place production randomness is drawn: a seed from
// the operating system, so that the node itself only ever sees a *rand.Rand.
func seededRand() *rand.Rand {
	var seed [16]byte
	if _, err := crand.Read(seed[:]); err != nil {
		panic(err)
	}
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
}

// newLogger builds the broker's logger; formatLabel and levelLabel name the
// settings in errors.
func newLogger(format, level, formatLabel, levelLabel string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%s %q: want debug, info, warn or error", levelLabel, level)
	}
	options := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, options)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, options)), nil
	}
	return nil, fmt.Errorf("%s %q: want text or json", formatLabel, format)
}

// metricsAddress resolves --metrics-addr: empty disables the endpoint, auto
// is the --listen host on port metricsPortBase + node id (9644 for node 0,
// 9645 for node 1: distinct for the brokers of one machine), anything else
// must be host:port.
func metricsAddress(setting, listen string, nodeID int32) (string, error) {
	switch setting {
	case "":
		return "", nil
	case metricsAddressAuto:
		host, _, err := net.SplitHostPort(listen)
		if err != nil {
			return "", fmt.Errorf("auto: cannot take the host of --listen %q: %v", listen, err)
		}
		port := metricsPortBase + int(nodeID)
		if port > 65535 {
			return "", fmt.Errorf("auto: node id %d puts the port past 65535; give host:port", nodeID)
		}
		return net.JoinHostPort(host, strconv.Itoa(port)), nil
	}
	if _, _, err := net.SplitHostPort(setting); err != nil {
		return "", fmt.Errorf("%q: want host:port, auto, or empty to disable: %v", setting, err)
	}
	return setting, nil
}

// startMetrics serves /metrics for server. When the address was derived
// (auto) and is taken, the broker runs without the endpoint and says so:
// several brokers started with defaults on one machine (as tests do) must
// not fail for it. An address given explicitly must work.
func startMetrics(server *shell.Server, setting string, explicit bool, listen string, nodeID int32, logger *slog.Logger) (*http.Server, error) {
	address, err := metricsAddress(setting, listen, nodeID)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %w", err)
	}
	if address == "" {
		return nil, nil
	}
	metrics := shell.NewMetrics()
	server.AttachMetrics(metrics)
	l, err := net.Listen("tcp", address)
	if err != nil {
		if explicit {
			return nil, fmt.Errorf("--metrics-addr %s: %v; pick a free port, or --metrics-addr '' to run without metrics", address, err)
		}
		logger.Warn("no /metrics endpoint: the default address is taken; set --metrics-addr", "address", address, "err", err)
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler())
	httpServer := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := httpServer.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics endpoint failed", "err", err)
		}
	}()
	logger.Info("metrics endpoint", "url", "http://"+l.Addr().String()+"/metrics")
	return httpServer, nil
}
