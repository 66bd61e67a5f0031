# agentgateway-go. `make help` lists the targets.
SHELL := /usr/bin/env bash
# go.mod needs Go 1.27; the go command fetches this toolchain from the module proxy.
export GOTOOLCHAIN := go1.27.3
GO ?= go
BIN := $(CURDIR)/bin
# Tests of CRDs, webhooks and the aggregated API run against a real kube-apiserver and etcd
# built from the Go module proxy (hack/kube-binaries.sh, cached after the first build).
KUBE_ASSETS = $(shell hack/kube-binaries.sh --print-dir)

.PHONY: help
help: ## Show this help.
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-22s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the operator, proxy and local-cluster binaries into bin/.
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./proxy/cmd/proxy ./operator/cmd/operator ./e2e/cmd/localcluster

.PHONY: generate
generate: ## Regenerate generated/ and the CRDs from apis/, then the Helm charts from manifests/.
	hack/update-codegen.sh
	$(GO) run ./hack/chart generate

.PHONY: verify
verify: ## Fail if generated code, README tables or docs/metrics.md are stale, code is unformatted, vet or lint complain, or a commit message breaks the rule.
	hack/verify-codegen.sh
	$(GO) run ./hack/chart verify
	$(GO) run ./hack/conformancetable -check
	$(GO) run ./hack/metricsdoc -check
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^generated/')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	hack/lint.sh
	hack/commit-check.sh

.PHONY: chart
chart: ## Regenerate the Helm charts in manifests/charts from the kustomize base in manifests/.
	$(GO) run ./hack/chart generate

.PHONY: release
release: ## Build images and package a release into build/release: charts, install.yaml, digests (VERSION=x.y.z).
	@if [ "$(origin VERSION)" != "command line" ] && [ "$(origin VERSION)" != "environment" ]; then \
	  echo "usage: make release VERSION=x.y.z"; exit 2; fi
	hack/release.sh $(VERSION)

.PHONY: lint
lint: ## Run golangci-lint (pinned in hack/tools/lint, built once into the cache) with .golangci.yml.
	hack/lint.sh

.PHONY: hooks
hooks: ## Install the repository's git hooks (commit-msg checks the subject line).
	git config core.hooksPath hack/hooks

.PHONY: kube-binaries
kube-binaries: ## Build (once) etcd and the Kubernetes control-plane binaries used by tests and the local cluster.
	hack/kube-binaries.sh

.PHONY: test
test: kube-binaries ## Run all tests (unit, integration over real sockets, real kube-apiserver) with the race detector.
	KUBEBUILDER_ASSETS=$(KUBE_ASSETS) $(GO) test -race -count=1 ./...

.PHONY: test-short
test-short: ## Run the tests that need no control-plane binaries.
	$(GO) test -short -count=1 ./...

.PHONY: run
run: ## Bring up the local cluster with the operator and a demo Gateway, and print how to reach it.
	hack/run-demo.sh

.PHONY: kubeconfig
kubeconfig: ## Print the path of the local cluster's kubeconfig (export KUBECONFIG=$$(make -s kubeconfig)).
	@hack/local-cluster.sh kubeconfig

.PHONY: cluster-up
cluster-up: ## Start the local cluster only (no operator).
	hack/local-cluster.sh up

.PHONY: cluster-status
cluster-status: ## Processes, memory and health of the local cluster.
	hack/local-cluster.sh status

.PHONY: down
down: ## Stop the local cluster and remove everything it created (processes, namespaces, links, rules).
	hack/local-cluster.sh down

.PHONY: e2e-local
e2e-local: kube-binaries ## End-to-end test of the local cluster itself (root).
	AGW_E2E=1 $(GO) test ./e2e/localcluster/... -count=1 -v

# Fuzzing: every FuzzXxx target of the module, one at a time, FUZZTIME each (hack/fuzz.sh).
FUZZTIME ?= 60s

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 60s) each, one at a time; fails if any fails.
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

.PHONY: bench
bench: ## Proxy benchmark against direct, nginx and haproxy (hack/bench-proxy.sh).
	hack/bench-proxy.sh

.PHONY: bench-mcp
bench-mcp: ## MCP gateway: added latency per tools/call against calling the MCP server directly (hack/bench/mcp).
	$(GO) run ./hack/bench/mcp

.PHONY: bench-policy
bench-policy: ## Policy-path benchmark: JWT + CEL transformation + rate limit vs no policy (hack/bench-policy.sh).
	hack/bench-policy.sh

.PHONY: bench-paths bench-https bench-h2 bench-grpc bench-h3 bench-bodies
bench-paths: ## Every request path (h1, HTTPS h1 with and without resumption, h2, h2c, gRPC, h3, policy, 1 MiB bodies) vs nginx and haproxy (hack/bench-paths.sh).
	hack/bench-paths.sh
bench-https: ## HTTPS HTTP/1.1 paths only: keep-alive, new connections with and without session resumption.
	BENCH_PATHS="https-h1 https-h1-resume https-h1-full" hack/bench-paths.sh
bench-h2: ## HTTPS HTTP/2 and h2c paths only.
	BENCH_PATHS="https-h2 h2c" hack/bench-paths.sh
bench-grpc: ## gRPC unary and streaming paths only.
	BENCH_PATHS="grpc-unary grpc-stream" hack/bench-paths.sh
bench-h3: ## HTTP/3 against our HTTPS h2 and Caddy's HTTP/3.
	BENCH_PATHS=h3 hack/bench-paths.sh
bench-bodies: ## 1 MiB request and response bodies.
	BENCH_PATHS="body-up body-down" hack/bench-paths.sh

.PHONY: bench-failover
bench-failover: ## Failover benchmark: a flapping endpoint's share with no checks, outlier detection, health checks (hack/bench-failover.sh).
	hack/bench-failover.sh

.PHONY: bench-control-plane
bench-control-plane: ## Route-lifecycle benchmark on the local cluster, with the apiserver floor.
	hack/bench-control-plane.sh

.PHONY: bench-rollout
bench-rollout: ## Zero-downtime benchmark on the local cluster: backend and proxy rollouts, route changes under traffic.
	hack/bench-rollout.sh

.PHONY: conformance
conformance: ## Upstream Gateway API conformance suite on the local cluster; report in e2e/conformance-report.yaml, tables in README.md.
	hack/conformance.sh

# Container images, built without Docker (hack/images). VERSION tags the images and labels them;
# created times come from HEAD's commit time, so a clean tree rebuilds to the same digests.
PLATFORMS ?= linux/amd64,linux/arm64
VERSION ?= $(shell git describe --always --dirty)
IMAGE_LAYOUT ?= build/oci

.PHONY: images
images: ## Build the operator and proxy OCI images (PLATFORMS, VERSION) into build/oci and lint them.
	$(GO) run ./hack/images build --out $(IMAGE_LAYOUT) --platforms $(PLATFORMS) --version $(VERSION)
	$(GO) run ./hack/images lint --layout $(IMAGE_LAYOUT) --platforms $(PLATFORMS)

.PHONY: image-lint
image-lint: ## Lint build/oci: non-root user, no shell or stray files, labels, every platform.
	$(GO) run ./hack/images lint --layout $(IMAGE_LAYOUT) --platforms $(PLATFORMS)

.PHONY: push
push: ## Push build/oci to IMAGE_REPO with TAG (INSECURE=1 for a plain-HTTP registry such as the local cluster's).
	@if [ -z "$(IMAGE_REPO)" ] || [ -z "$(TAG)" ]; then echo "usage: make push IMAGE_REPO=host/prefix TAG=tag [INSECURE=1]"; exit 2; fi
	$(GO) run ./hack/images push --layout $(IMAGE_LAYOUT) --repo $(IMAGE_REPO) --tag $(TAG) $(if $(INSECURE),--insecure)
