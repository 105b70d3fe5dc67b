# Cairn — a Kafka-compatible replicated log, checked by deterministic simulation.
#
#   make run     build and start a single-node broker (127.0.0.1:9092, data in ./data)
#   make cluster start a 3-broker cluster in the background (127.0.0.1:9092-9094,
#                data and logs under ./data/node-N); make cluster-stop stops it
#   make test    install what the tests need (if missing) and run every test
#   make bench   benchmark against peers; writes docs/PERFORMANCE.md
#   make fuzz    fuzz request decoding and dispatch for FUZZTIME (default 30s)
#   make sim     a long simulator sweep (SEEDS, default 1-5000) for nightly use,
#                then GROUP_SEEDS with a three-member consumer group, classic
#                on even seeds and KIP-848's consumer protocol on odd ones
#   make mutants re-introduce known bugs; the simulator must catch each one
#   make chaos   3 brokers under load and a committing consumer group while
#                SIGKILL/SIGSTOP hit leaders, the controller and the group's
#                coordinator, for CHAOS_DURATION (default 10m); `make test` runs 20s

SHELL     := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO        ?= go
BIN       := bin/cairn
FUZZTIME  ?= 30s
export GOFLAGS := -buildvcs=false

.PHONY: all build mutants-bin run cluster cluster-stop test deps deps-apt deps-npm vet fuzz bench sim mutants chaos clean
SEEDS     ?= 1-5000
GROUP_SEEDS ?= 1-2000
CHAOS_DURATION ?= 10m

all: build

# The version and commit that `cairn version` prints, stamped at link time
# (GOFLAGS has -buildvcs=false here, so Go's own VCS stamp is off).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cairn

# A cairn binary with the catalogued bugs compiled in, for
# `bin/cairn-mutants sim --mutant NAME` (make mutants runs them as tests).
mutants-bin:
	$(GO) build -tags cairn_mutants -ldflags "$(LDFLAGS)" -o bin/cairn-mutants ./cmd/cairn

run: build
	./$(BIN) serve

# A local three-broker cluster: broker N listens for Kafka clients on
# 127.0.0.1:909(2+N) and for Raft on 127.0.0.1:919(2+N), keeps its data in
# data/node-N, appends stdout and stderr to data/node-N.log and its pid to
# data/node-N.pid. `make cluster` starts the brokers that are not running
# (so it also restarts one that was killed) and returns once each has
# printed its ready line in this run's part of its log; if one does not
# within CLUSTER_START_TIMEOUT seconds, it shows the log and stops them all.
CLUSTER_IDS           := 0 1 2
CLUSTER_PEERS         ?= 0=127.0.0.1:9092,1=127.0.0.1:9093,2=127.0.0.1:9094
CLUSTER_START_TIMEOUT ?= 60
CLUSTER_STOP_GRACE    ?= 15

cluster: build
	@mkdir -p data; started=""; \
	for i in $(CLUSTER_IDS); do \
		pid=$$(cat data/node-$$i.pid 2>/dev/null); \
		if [ -n "$$pid" ] && [ "$$(ps -p $$pid -o comm= 2>/dev/null)" = cairn ]; then \
			echo "broker $$i is already running (pid $$pid)"; continue; \
		fi; \
		log=data/node-$$i.log; touch $$log; \
		stat -c %s $$log > data/node-$$i.offset; \
		nohup ./$(BIN) serve --node-id $$i --peers $(CLUSTER_PEERS) --data-dir data/node-$$i \
			< /dev/null >> $$log 2>&1 & echo $$! > data/node-$$i.pid; \
		started="$$started $$i"; \
	done; \
	deadline=$$(( $$(date +%s) + $(CLUSTER_START_TIMEOUT) )); \
	for i in $$started; do \
		until tail -c +$$(( $$(cat data/node-$$i.offset) + 1 )) data/node-$$i.log | grep -q "^cairn: broker $$i ready on "; do \
			if ! kill -0 $$(cat data/node-$$i.pid) 2>/dev/null || [ $$(date +%s) -ge $$deadline ]; then \
				echo "broker $$i did not become ready; last lines of data/node-$$i.log:"; \
				tail -n 30 data/node-$$i.log; \
				$(MAKE) --no-print-directory cluster-stop; exit 1; \
			fi; \
			sleep 0.2; \
		done; \
		tail -c +$$(( $$(cat data/node-$$i.offset) + 1 )) data/node-$$i.log | grep "^cairn: broker $$i ready on "; \
		rm -f data/node-$$i.offset; \
	done

# Stops what `make cluster` started: SIGTERM (a clean shutdown), then SIGKILL
# for a broker still running after CLUSTER_STOP_GRACE seconds. A pid file
# whose process is not a cairn any more (a stale file) is only removed.
cluster-stop:
	@for i in $(CLUSTER_IDS); do \
		pid=$$(cat data/node-$$i.pid 2>/dev/null) || continue; \
		if [ "$$(ps -p $$pid -o comm= 2>/dev/null)" = cairn ]; then kill -TERM $$pid; fi; \
	done; \
	deadline=$$(( $$(date +%s) + $(CLUSTER_STOP_GRACE) )); \
	for i in $(CLUSTER_IDS); do \
		pid=$$(cat data/node-$$i.pid 2>/dev/null) || continue; \
		while [ "$$(ps -p $$pid -o comm= 2>/dev/null)" = cairn ]; do \
			if [ $$(date +%s) -ge $$deadline ]; then \
				echo "broker $$i (pid $$pid) still running after $(CLUSTER_STOP_GRACE)s: SIGKILL"; kill -KILL $$pid; break; \
			fi; \
			sleep 0.2; \
		done; \
		rm -f data/node-$$i.pid; echo "broker $$i stopped"; \
	done

vet:
	$(GO) vet ./...

# Tests: vet, then every Go test (unit, property, datadriven, simulation
# sweep, and the real-client compatibility tests, which need deps).
test: deps vet
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -timeout 10m -tags cairn_mutants -run 'Mutant|TeachingCase' ./sim ./specs ./core/group ./cmd/cairn

# What the tests need beyond Go modules: real Kafka clients from Debian and
# npm. Each step runs only when its tool is missing.
deps: deps-apt deps-npm
	$(GO) mod download

# burrow (consumer lag monitor) and zookeeper (which Debian's Burrow needs)
# are for compat/burrow_test.go.
APT_PACKAGES := kcat python3-kafka python3-confluent-kafka burrow zookeeper
deps-apt:
	@missing=""; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	/usr/bin/python3 -c 'import kafka' >/dev/null 2>&1 || missing="$$missing python3-kafka"; \
	/usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1 || missing="$$missing python3-confluent-kafka"; \
	command -v Burrow >/dev/null 2>&1 || missing="$$missing burrow"; \
	[ -f /usr/share/java/zookeeper.jar ] || missing="$$missing zookeeper"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

deps-npm:
	@if [ ! -d compat/node/node_modules/kafkajs ]; then \
		echo "installing kafkajs"; \
		cd compat/node && npm ci --no-audit --no-fund --silent; \
	fi

fuzz:
	$(GO) test ./replica -run '^$$' -fuzz FuzzHandleFrame -fuzztime $(FUZZTIME)

sim:
	$(GO) run ./cmd/cairn sim --seeds $(SEEDS)
	$(GO) run ./cmd/cairn sim --seeds $(GROUP_SEEDS) --group 3 --group-protocol mixed

# Each simulated mutant prints two columns: the first seed caught with every
# check on, and with the history checks alone (sim.Options.SpecChecksOff,
# `cairn sim --history-only`), the latter within 2,000 seeds.
mutants:
	$(GO) test -count=1 -timeout 60m -tags cairn_mutants -run 'Mutant' -v ./sim ./specs ./core/group ./cmd/cairn | grep -E '^(---|ok|FAIL)|mutant '

# Chaos (compat/chaos_test.go): three `cairn serve` processes under franz-go
# producers, consumers and a committing consumer group while a nemesis
# SIGKILLs and restarts, or SIGSTOPs and SIGCONTs, partition leaders, the
# controller and the group's coordinator for CHAOS_DURATION; then the
# clients' history is judged as the simulator's are (every acknowledged
# record read, in order, at its acknowledged offset; a linearizable log), and
# every acknowledged commit must still be there. A failed run prints seed=N;
# CAIRN_CHAOS_SEED=N replays its faults.
chaos:
	CAIRN_CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -count=1 -run TestChaos -v -timeout 30m ./compat

# Benchmark (about 10 minutes; not part of test): the machine's limits, then
# Cairn (one broker and a 3-broker RF=3 cluster), franz-go's kfake and NATS
# JetStream (nats-server embedded from the Go module proxy; R1 and R3, its
# default sync and sync_interval always) at 100 B and 1 KiB records; prints
# the peer table and writes docs/PERFORMANCE.md. Nothing to install beyond
# Go modules. `go run ./bench -h` for shorter runs.
bench: build
	$(GO) run ./bench -out docs/PERFORMANCE.md

clean:
	rm -rf bin data
