# The commands the README shows. One release build serves the demo, the tests and the benchmarks.
SWIFT ?= swift
CONFIG ?= release
BIN = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path)
ROUNDS ?= 5
# `swift test` compiles every module with -enable-testing unless told not to, while `swift build` does so in debug
# only: in release each would recompile every module the other built. The tests use no @testable import.
TESTABLE = $(if $(filter debug,$(CONFIG)),,--disable-testable-imports)
# Tests that run at once. Most end-to-end tests start the binary and several plugin processes each; on 2 cores an
# unbounded number of them starve one another past their plugins' timeouts.
TEST_WIDTH ?= 3

.PHONY: deps build demo demo-llm demo-train test bench clean

deps:
	@ops/install-deps.sh

build: deps
	$(SWIFT) build -c $(CONFIG)

# The embedded listfn pipeline, offline: baseline + $(ROUNDS) rounds, then the held-out curve.
demo: build
	$(BIN)/flywheel run Pipelines/listfn.yaml --rounds $(ROUNDS)

# The real small LLM learning word tasks from its own verified answers, against a local llama-server that is
# started on a free port and stopped by its PID.
demo-llm: build
	@ops/install-llm.sh
	@set -a; eval "$$(ops/llm-server.sh start)"; set +a; \
	$(BIN)/flywheel run Pipelines/words.yaml --rounds 3; status=$$?; \
	ops/llm-server.sh stop "$$FLYWHEEL_LLM_PID"; exit $$status

# The words pipeline learning by its weights: each round fine-tunes the promoted model with llama-finetune on its
# verified answers, and every version answers from its own model file through a llama-server the solver starts and
# stops by PID (docs/llm.md). About 5 minutes on 2 cores.
demo-train: build
	@set -a; eval "$$(ops/install-llm.sh)"; set +a; \
	$(BIN)/flywheel run Pipelines/words-train.yaml --rounds 3

test: build
	@ops/install-deps.sh --test
	@ops/install-llm.sh
	@ops/install-reasoning-gym.sh
	FLYWHEEL_BIN=$(BIN)/flywheel $(SWIFT) test -c $(CONFIG) $(TESTABLE) --disable-xctest \
		--experimental-maximum-parallelization-width $(TEST_WIDTH)

# Enumerator candidates/s and a simulated 5-round run; the real 5-round listfn run, timed; store throughput and
# bytes per example with and without the zstd dictionary; one round unsharded vs 1, 2 and 4 local shards; learn
# time and peak RSS over 20 cron rounds.
bench: build
	$(BIN)/listfn-bench
	rm -rf .build/bench && mkdir -p .build/bench
	time $(BIN)/flywheel run Pipelines/listfn.yaml --rounds 5 --store .build/bench/listfn.sqlite 2>/dev/null
	Benchmarks/throughput.sh $(BIN)/flywheel 3000
	Benchmarks/sharding.sh $(BIN)/flywheel
	Benchmarks/learning-growth.sh $(BIN)/flywheel 20

clean:
	rm -rf .build .flywheel
