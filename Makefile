# Two commands: `make run` starts everything, `make test` runs every test.
SHELL := /bin/bash
# Every module of the workspace, in go.work's order: a module added there is
# tested, vetted, linted and checked without touching this file.
MODULES := $(shell sed -n 's|^[[:space:]]*\./||p' go.work)
GOLANGCI_LINT_VERSION ?= v2.15.0
GO ?= go
# go1.26.8 (this machine's) has standard-library vulnerabilities fixed in
# 1.26.10; the go command fetches that toolchain from the module proxy.
export GOTOOLCHAIN ?= go1.26.10
GOTESTFLAGS ?= -race -count=1 -timeout 10m

.PHONY: all build run test test-short lint vet fmt tidy modcheck bench clean help vulncheck fuzz chaos chaos-short

all: build

help:
	@echo "make run    build and start NATS (embedded), Redis, revocation and auth (:8080)"
	@echo "make test   every test of every module, with the race detector"
	@echo "make build  bin/auth and bin/revocation"
	@echo "make lint   gofmt, go vet and golangci-lint in every module"
	@echo "make modcheck  every module builds alone (GOWORK=off) and is tidy"
	@echo "make fuzz   every fuzz target for FUZZTIME (10s)"
	@echo "make vulncheck  govulncheck every module (offline database)"
	@echo "make chaos  the full fault-injection run (minutes); writes docs/RELIABILITY.md"
	@echo "make bench  every performance figure beside its baseline (<10 min); writes docs/PERFORMANCE.md"

build:
	$(GO) build -o bin/auth ./services/auth/cmd/auth
	$(GO) build -o bin/revocation ./services/revocation/cmd/revocation

run: build
	$(GO) run ./tools/devstack

# Modules are tested one after another (each with its own packages in
# parallel); a failing module does not hide the others' results.
test:
	@failed=""; \
	for m in $(MODULES); do \
		echo "=== module $$m"; \
		(cd $$m && $(GO) test $(GOTESTFLAGS) ./...) || failed="$$failed $$m"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED modules:$$failed"; exit 1; fi; \
	echo "all modules passed"

vet:
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: fmt vet
	@command -v golangci-lint >/dev/null || { echo "install: go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)"; exit 1; }
	@for m in $(MODULES); do echo "=== lint $$m"; (cd $$m && golangci-lint run --config $(CURDIR)/.golangci.yml ./...) || exit 1; done

tidy:
	@for m in $(MODULES); do (cd $$m && GOWORK=off GOFLAGS=-mod=mod $(GO) mod tidy) || exit 1; done

# Each module builds on its own (GOWORK=off, as a user who clones one
# module's directory would), and go mod tidy changes nothing in it.
modcheck:
	@for m in $(MODULES); do \
		echo "=== modcheck $$m"; \
		(cd $$m && GOWORK=off $(GO) build -o /dev/null ./... && GOWORK=off GOFLAGS=-mod=mod $(GO) mod tidy && \
			git diff --exit-code -- go.mod go.sum) || { echo "$$m: does not build with GOWORK=off, or is not tidy (run make tidy)"; exit 1; }; \
	done

# The chaos harness (tests/chaos): every fault scenario under load against
# the real binaries. `make test` runs the short version (TestChaosShort);
# `make chaos` the full one, which rewrites the figures in docs/RELIABILITY.md.
chaos:
	cd tests/chaos && $(GO) run ./cmd/chaos -full -root $(CURDIR)

chaos-short:
	cd tests/chaos && $(GO) test $(GOTESTFLAGS) -run TestChaosShort ./...

# govulncheck, offline (see scripts/vulncheck).
vulncheck:
	scripts/vulncheck $(MODULES)

# Each fuzz target for a short, bounded time (FUZZTIME), on its committed
# corpus under testdata/fuzz.
FUZZTIME ?= 10s
fuzz:
	@set -e; for t in FuzzParse FuzzSignedPayload FuzzSignedHeader FuzzCheckJSON FuzzParsePayloadReference FuzzParseJWKSKeys; do \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./pkg/jwtx; done
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./pkg/revocation
	cd services/auth && $(GO) test -run '^$$' -fuzz '^FuzzDecodeCredentials$$' -fuzztime $(FUZZTIME) ./internal/httpapi
	cd services/auth && $(GO) test -run '^$$' -fuzz '^FuzzDecodeRefresh$$' -fuzztime $(FUZZTIME) ./internal/httpapi

# Every performance figure beside its baseline (docs/PERFORMANCE.md): Go
# benchmarks of each module, outputs in $(BENCH_DIR), then the table and
# plots. Under 10 minutes on 2 cores.
BENCH_DIR ?= .bench
BENCH = $(GO) test -run '^$$' -benchmem
bench:
	@rm -rf $(BENCH_DIR) && mkdir -p $(BENCH_DIR)/samples
	@set -eo pipefail; export EVENTJWT_BENCH_SAMPLES=$(CURDIR)/$(BENCH_DIR)/samples; out=$(CURDIR)/$(BENCH_DIR); \
	(cd pkg/jwtx && $(BENCH) -bench '^(BenchmarkParse|BenchmarkVerifiedCache)$$' -count 3 . | tee $$out/jwtx-parse.txt); \
	(cd pkg/jwtx && $(BENCH) -bench '^(BenchmarkValidateRedis|BenchmarkRevocationCheck|BenchmarkRedisConcurrency|BenchmarkFailClosedHung)$$' . | tee $$out/jwtx-redis.txt); \
	(cd pkg/jwtx && $(BENCH) -bench '^BenchmarkSessionCheck$$' -count 3 . | tee $$out/jwtx-session.txt); \
	(cd pkg/jwtx/nearcache && $(BENCH) -bench '^(BenchmarkNearCacheValidate|BenchmarkLocalRevocationState)$$' -count 3 . | tee $$out/nearcache.txt); \
	(cd pkg/jwtxgrpc && $(BENCH) -bench '^BenchmarkUnaryOverhead$$' -count 3 . | tee $$out/jwtxgrpc.txt); \
	(cd pkg/jwtx/nearcache && $(BENCH) -bench '^(BenchmarkRevokeToReject|BenchmarkColdStart|BenchmarkEntryMemory)$$' -benchtime 1x -timeout 20m . | tee $$out/nearcache-load.txt); \
	(cd services/revocation && $(BENCH) -bench '^(BenchmarkIngest|BenchmarkRebuild)$$' -benchtime 1x -timeout 20m ./internal/ingest | tee $$out/ingest.txt); \
	(cd services/revocation && $(BENCH) -bench '^BenchmarkPublish$$' -benchtime 2000x ./internal/ingest | tee $$out/publish.txt); \
	(cd tests/integration && $(BENCH) -bench '^(BenchmarkLogout|BenchmarkSessions|BenchmarkOpenLoopNoop|BenchmarkLogoutCluster)$$' -benchtime 1x -timeout 10m . | tee $$out/logout.txt)
	$(GO) run ./tools/benchreport -in $(BENCH_DIR) -doc docs/PERFORMANCE.md -plots docs/perf -machine "$$(scripts/machine)"

clean:
	rm -rf bin .run
