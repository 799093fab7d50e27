#!/usr/bin/env bash
# How well a round keeps its checker busy: a checker that costs a fixed CPU time per request (Benchmarks/cost_check.py),
# one worker, fed by a round of the listfn pipeline (built-in generator, built-in solver searching 50 candidates, so
# that the checker, not the plugins before it, is what the round waits for; parallelism 8), against the same checker
# fed the very same requests from a file (its standalone rate). The checker measures both itself, from the arrival of
# its first request to its answer to the ITEMS-th (in a round: the training checks, which come before the held-out
# ones). It records the requests a round sent it; the standalone run replays them. RUNS rounds (default 3) each, one
# after the other on the same store, each followed by its standalone replay; every pair is printed, then the median.
# Usage: Benchmarks/checker-feed.sh PATH/TO/flywheel [ITEMS] [COST_MS ...]
set -euo pipefail
bin=${1:?usage: checker-feed.sh FLYWHEEL_BINARY [ITEMS] [COST_MS ...]}
items=${2:-2000}
shift $(( $# >= 2 ? 2 : 1 ))
costs=("$@")
[ ${#costs[@]} -eq 0 ] && costs=(2 0.15)
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The checker runs the interpreter by its path, in the round and alone (see arith-pipeline.sh on pyenv's shim).
python=$(python3 -c 'import sys; print(sys.executable)')
mkdir "$work/record"
runs=${RUNS:-3}
. "$root/Benchmarks/numbers.sh"
rate() { sed -nE 's/.*checks=([0-9]+) busy_span_s=[0-9.]+ rate=([0-9.]+)\/s.*/\2/p' | tail -1; }
for cost in "${costs[@]}"; do
    cat > "$work/feed.yaml" <<YAML
name: feed
seed: 1
round_size: $items
heldout:
  size: 20
difficulty: 5
parallelism: 8
generator:
  builtin: listfn
solver:
  builtin: listfn
  budget: 50
checker:
  command: [$python, -u, $root/Benchmarks/cost_check.py, --ms, "$cost", --window, "$items", --record, $work/record]
  workers: 1
gate: always
YAML
    rm -f "$work"/feed.sqlite*
    "$bin" round "$work/feed.yaml" --store "$work/feed.sqlite" >/dev/null 2>&1   # baseline
    ratios=()
    for run in $(seq "$runs"); do
        fed=$("$bin" round "$work/feed.yaml" --store "$work/feed.sqlite" 2>&1 >/dev/null | rate)
        alone=$(head -n "$items" "$work/record/requests.jsonl" \
            | "$python" -u "$root/Benchmarks/cost_check.py" --ms "$cost" 2>&1 >/dev/null | rate)
        ratios+=("$(ratio "$fed" "$alone")")
        echo "checker costing $cost ms, run $run: fed by a round at $fed/s, standalone on the same requests $alone/s:" \
            "fed / standalone = ${ratios[-1]}x"
    done
    echo "checker costing $cost ms: fed / standalone = $(echo "${ratios[*]}" | median)x, median of ${ratios[*]}"
done
