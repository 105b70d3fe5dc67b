# Cairn — a Kafka-compatible replicated log, checked by deterministic simulation.
#
#   make run     build and start a single-node broker (127.0.0.1:9092, data in ./data)
#   make test    install what the tests need (if missing) and run every test
#   make bench   benchmark against peers; writes docs/PERFORMANCE.md
#   make fuzz    fuzz request decoding and dispatch for FUZZTIME (default 30s)
#   make sim     a long simulator sweep (SEEDS, default 1-5000) for nightly use
#   make mutants re-introduce known bugs; the simulator must catch each one

SHELL     := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO        ?= go
BIN       := bin/cairn
FUZZTIME  ?= 30s
export GOFLAGS := -buildvcs=false

.PHONY: all build run test deps deps-apt deps-npm vet fuzz bench sim mutants clean
SEEDS     ?= 1-5000

all: build

build:
	$(GO) build -o $(BIN) ./cmd/cairn

run: build
	./$(BIN) serve

vet:
	$(GO) vet ./...

# Tests: vet, then every Go test (unit, property, datadriven, simulation
# sweep, and the real-client compatibility tests, which need deps).
test: deps vet
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -timeout 10m -tags cairn_mutants -run 'Mutant' ./sim ./specs

# What the tests need beyond Go modules: real Kafka clients from Debian and
# npm. Each step runs only when its tool is missing.
deps: deps-apt deps-npm
	$(GO) mod download

APT_PACKAGES := kcat python3-kafka python3-confluent-kafka
deps-apt:
	@missing=""; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	/usr/bin/python3 -c 'import kafka' >/dev/null 2>&1 || missing="$$missing python3-kafka"; \
	/usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1 || missing="$$missing python3-confluent-kafka"; \
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

mutants:
	$(GO) test -count=1 -timeout 30m -tags cairn_mutants -run 'Mutant' -v ./sim ./specs | grep -E '^(---|ok|FAIL)|mutant '

bench: build
	$(GO) run ./bench -out docs/PERFORMANCE.md

clean:
	rm -rf bin data
