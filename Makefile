# logplex: `make run` starts the all-in-one router; `make test` checks everything.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/logplex
# packages whose tests involve concurrency run with -race; the rest without.
PKGS := ./...

.PHONY: all build run test deps fmt-check tidy-check vet staticcheck unit race e2e fuzz bench microbench soak clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/logplex

## run: build and start `logplex all` on the embedded store (./data)
run: build
	./$(BIN) all --data-dir ./data

## deps: install what the tests need (redis-server for the Redis tests)
deps:
	@./scripts/install-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }

vet:
	$(GO) vet $(PKGS)

# staticcheck is installed by `make deps` (scripts/install-deps.sh) into $(go env GOPATH)/bin.
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $$($(GO) env GOPATH)/bin/staticcheck)
staticcheck:
	$(STATICCHECK) $(PKGS)

## test: everything CI runs: gofmt, go mod tidy, vet, staticcheck, unit + integration (race), fuzz seeds, end-to-end
test: deps fmt-check tidy-check vet staticcheck build
	$(GO) test -race -count=1 -timeout 8m $$($(GO) list ./... | grep -v '/e2e$$')
	@echo "== end-to-end through the real binary (each fault scenario prints its account)"
	set -o pipefail; $(GO) test -count=1 -timeout 8m -v ./e2e/ | grep -v -E '^=== (RUN|PAUSE|CONT)'
	@echo "== allocation and drain memory tests (without -race, where sync.Pool keeps its items and memory is not the detector's)"
	$(GO) test -count=1 -run 'Alloc|DrainMemory' $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list 'Fuzz.*' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run XXX -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## bench: build, then run the end-to-end benchmark suite (quick set; BENCH_ARGS= for every scenario, see docs/tuning.md)
BENCH_ARGS ?= --quick
bench: build
	./$(BIN) bench $(BENCH_ARGS)

## microbench: the Go micro-benchmarks next to the code
microbench:
	$(GO) test -run XXX -bench . -benchmem ./frame/ ./ringbuf/ ./dataplane/...

## soak: the real binary at SOAK_RATE msgs/s (800000, half the measured maximum) for SOAK_MINUTES (10): RSS flat, no goroutine growth, no unexplained loss (not in CI)
soak: deps
	$(GO) test -tags soak -count=1 -run TestSoak -timeout 30m -v ./e2e/

clean:
	rm -rf bin
