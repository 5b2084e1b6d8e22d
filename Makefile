# homeip — build, demo, tests and benchmarks.
# Every target that needs system packages installs them first (Debian/Ubuntu, as root).

GO        ?= go
BIN       := $(CURDIR)/bin
APT_PKGS  := iproute2 nftables wireguard-tools dnsutils procps ethtool iptables
# Packages whose logic runs without root and is checked with the race detector.
GOTESTFLAGS ?= -shuffle=on -timeout 25m

.PHONY: all deps build lab-tool baseline demo test test-long test-unit vet fmt-check tidy-check bench bench-etcd bench-handover bench-idle bench-throughput lab-clean clean

all: build

# deps installs the Debian packages the lab needs (only those missing) and
# downloads the Go modules.
deps:
	@missing=""; \
	for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(GO) mod download

build: deps
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/ha ./cmd/mnode ./internal/cmd/homeip-lab

# lab-tool builds only the lab tool (clean, stream, baseline), so the test
# target can clean up before anything else is compiled.
lab-tool: deps
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./internal/cmd/homeip-lab

# demo: the lab, a home agent, a mobile node, a live TCP stream and moves.
demo: build
	$(BIN)/homeip-lab demo

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# tidy-check fails when go.mod or go.sum is not what `go mod tidy` would
# write (a requirement missing, unused, or marked indirect by mistake).
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1; }

vet:
	$(GO) vet ./...

# test: the whole suite, root lab tests included. HOMEIP_REQUIRE_LAB=1 turns
# "cannot build a lab here" from a skip into a failure.
test: deps lab-tool fmt-check tidy-check vet
	$(BIN)/homeip-lab clean
	HOMEIP_REQUIRE_LAB=1 $(GO) test -race $(GOTESTFLAGS) ./...
	@left=$$(ip netns list | grep '^hip' || true); \
	if [ -n "$$left" ]; then echo "namespaces left behind:"; echo "$$left"; exit 1; fi

# test-long: the suite plus its long runs (the two-minute idle
# reachability run of internal/idlebench).
test-long: deps lab-tool
	$(BIN)/homeip-lab clean
	HOMEIP_LONG=1 HOMEIP_REQUIRE_LAB=1 $(GO) test -race $(GOTESTFLAGS) ./...

# test-unit: only what runs without root.
test-unit:
	$(GO) test -race $(GOTESTFLAGS) ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pool/... ./store/... ./binding/... ./tunnel/...

# bench-etcd: three home agents (three stores, three pools) sharing one
# embedded etcd allocate VIPs for 10,000 devices at once, in a sparse and a
# dense pool: allocs/s, conflicts and lost races per allocation, duplicates.
bench-etcd:
	$(GO) test -run '^$$' -bench BenchmarkConcurrentAllocation -benchtime 10000x ./store/etcdstore

# bench-handover: moves 1-8 with the node receive-only under the field
# profile, homeip vs plain WireGuard (stock wireguard-go, built here) vs no
# tunnel, in one run. Quick run with a column group per profile:
# make bench-handover BENCH_HANDOVER_FLAGS="-moves=5 -profiles=ideal,field"
BENCH_HANDOVER_FLAGS ?=
bench-handover: build
	$(GO) build -o $(BIN)/wireguard-go golang.zx2c4.com/wireguard
	$(BIN)/homeip-lab bench-handover $(BENCH_HANDOVER_FLAGS)

# bench-idle: an idle device behind 30 s NATs pinged at random gaps
# longer than the timeout, homeip vs plain WireGuard (25 s keepalive):
# reachability and packets sent per hour (6 minutes by default).
BENCH_IDLE_FLAGS ?=
bench-idle: build
	$(GO) build -o $(BIN)/wireguard-go golang.zx2c4.com/wireguard
	$(BIN)/homeip-lab bench-idle $(BENCH_IDLE_FLAGS)

# bench-throughput: TCP over bare veth vs stock wireguard-go vs homeip.
BENCH_THROUGHPUT_FLAGS ?=
bench-throughput: build
	$(BIN)/homeip-lab bench-throughput $(BENCH_THROUGHPUT_FLAGS)

# lab-clean removes every lab namespace left by a killed run.
lab-clean: lab-tool
	$(BIN)/homeip-lab clean

# baseline: the broken-stream baseline alone (plain routing, no homeip).
baseline: lab-tool
	$(BIN)/homeip-lab baseline

clean:
	rm -rf $(BIN)
