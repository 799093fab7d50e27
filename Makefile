# The commands the README shows. One release build serves the demo, the tests and the benchmarks.
SWIFT ?= swift
CONFIG ?= release
BIN = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path)
ROUNDS ?= 5

.PHONY: deps build demo test bench clean

deps:
	@ops/install-deps.sh

build: deps
	$(SWIFT) build -c $(CONFIG)

# The embedded listfn pipeline, offline: baseline + $(ROUNDS) rounds, then the held-out curve.
demo: build
	$(BIN)/flywheel run Pipelines/listfn.yaml --rounds $(ROUNDS)

test: build
	@ops/install-deps.sh --test
	@ops/install-llm.sh
	FLYWHEEL_BIN=$(BIN)/flywheel $(SWIFT) test -c $(CONFIG) --disable-xctest

bench: build
	$(BIN)/listfn-bench

clean:
	rm -rf .build .flywheel
