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

# Issue 10's ratios, side by side in one run (docs/performance.md): the listfn demo's wall time (goal ≤ 4 s);
# items/s of a round through external plugins against the hand-written Python loop doing the same work (goal
# ≥ 1.5x); how busy a round keeps a checker costing 2 ms and one costing listfn's 0.15 ms, against its standalone
# rate (goal ≥ 0.9x); the store after the demo against zstd of its own SQL dump (goal ≤ 2x); learn time and peak
# RSS over 20 cron rounds (goal flat). Beside the end-to-end ratio, the CPU of the same round split into the
# driver's own and its programs' (Flywheel against the loop and the orchestration floor). Then the enumerator's
# candidates/s and one round unsharded vs 1, 2 and 4 local shards. The end-to-end and checker ratios print every
# run (RUNS, default 3, interleaved with their reference) and then their median. First, the host's speed of the
# day: the checker-feed and end-to-end ratios depend on it (docs/performance.md), and this machine is shared.
bench: build
	@ops/install-deps.sh --bench
	rm -rf .build/bench && mkdir -p .build/bench
	@/usr/bin/time -f "host speed: a pure-Python loop of 10**7 additions took %e s (0.52-0.60 s on a quiet day here)" \
		python3 -c 'exec("s = 0\nfor i in range(10**7): s += i")'
	@for run in 1 2 3; do /usr/bin/time -o .build/bench/demo.time \
		-f "make demo (baseline + 5 rounds of listfn), run $$run: %e s wall, %U s user" \
		$(BIN)/flywheel run Pipelines/listfn.yaml --rounds 5 --store .build/bench/demo-$$run.sqlite >/dev/null 2>&1 \
		&& cat .build/bench/demo.time || exit 1; done
	Benchmarks/throughput.sh $(BIN)/flywheel 3000
	Benchmarks/cpu-split.sh $(BIN)/flywheel 3000 2
	Benchmarks/checker-feed.sh $(BIN)/flywheel 2000
	Benchmarks/storage.sh $(BIN)/flywheel
	Benchmarks/learning-growth.sh $(BIN)/flywheel 20
	$(BIN)/listfn-bench
	Benchmarks/sharding.sh $(BIN)/flywheel

clean:
	rm -rf .build .flywheel
