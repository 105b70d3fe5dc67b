package main

import (
	crand "crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"cairn/core"
	"cairn/diskfault"
	"cairn/replica"
)

func runServe(args []string) error {
	defaults := replica.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9092", "address to listen on for Kafka clients")
	dataDir := fs.String("data-dir", defaults.DataDir, "directory for the broker's logs and metadata")
	nodeID := fs.Int("node-id", int(defaults.NodeID), "this broker's id")
	advertise := fs.String("advertise", "", "host:port clients should connect to (default: the listen address)")
	durability := fs.String("durability", defaults.Durability.String(), "when a record counts toward an ack: durable (fsynced) or replication (Kafka's page-cache mode)")
	autoCreate := fs.Bool("auto-create-topics", defaults.AutoCreateTopics, "create unknown topics when a client asks for their metadata")
	partitions := fs.Int("default-partitions", int(defaults.DefaultPartitions), "partitions of an auto-created topic")
	segmentBytes := fs.Int64("segment-bytes", defaults.Log.SegmentBytesMax, "roll a segment file at this size")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: cairn serve [flags]\n\nRuns a broker. With no flags: a single-node cluster on 127.0.0.1:9092 with data under ./data.\n\nexamples:\n  cairn serve\n  cairn serve --listen 127.0.0.1:9093 --data-dir /var/lib/cairn\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	logger, err := newLogger(*logFormat, *logLevel)
	if err != nil {
		return err
	}
	config := defaults
	config.NodeID = int32(*nodeID)
	config.DataDir = *dataDir
	config.AutoCreateTopics = *autoCreate
	config.DefaultPartitions = int32(*partitions)
	config.Log.SegmentBytesMax = *segmentBytes
	switch *durability {
	case "durable":
		config.Durability = core.DurableAcks
	case "replication":
		config.Durability = core.ReplicationAcks
	default:
		return fmt.Errorf("--durability %q: want durable or replication", *durability)
	}
	advertised := *advertise
	if advertised == "" {
		advertised = *listen
	}
	host, portText, err := net.SplitHostPort(advertised)
	if err != nil {
		return fmt.Errorf("advertised address %q: %w", advertised, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("advertised address %q: bad port", advertised)
	}
	config.AdvertisedHost, config.AdvertisedPort = host, int32(port)

	node, err := replica.Open(config, replica.Env{FS: diskfault.OS{}, Logger: logger, Rand: seededRand()}, time.Now())
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		node.Close()
		return err
	}
	server := replica.NewServer(node, logger)
	done := make(chan error, 1)
	go func() { done <- server.Serve(l) }()
	fmt.Printf("cairn: broker %d ready on %s (data in %s, durability %s)\n", config.NodeID, l.Addr(), config.DataDir, config.Durability)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
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

// seededRand is the one place production randomness is drawn: a seed from
// the operating system, so that the node itself only ever sees a *rand.Rand.
func seededRand() *rand.Rand {
	var seed [16]byte
	if _, err := crand.Read(seed[:]); err != nil {
		panic(err)
	}
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
}

func newLogger(format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	options := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, options)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, options)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
