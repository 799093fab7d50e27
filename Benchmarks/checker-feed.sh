#!/usr/bin/env bash
# How well a round keeps its checker busy: a checker that costs a fixed CPU time per request (Benchmarks/cost_check.py),
# one worker, fed by a round of arith tasks through the external generator and solver (2 workers each, parallelism
# 8), against the same checker fed the same number of requests from a file (its standalone rate). The checker
# measures both itself, from the arrival of its first request to its answer to the ITEMS-th (in a round: the training
# checks, which come before the held-out ones).
# Usage: Benchmarks/checker-feed.sh PATH/TO/flywheel [ITEMS] [COST_MS ...]
set -euo pipefail
bin=${1:?usage: checker-feed.sh FLYWHEEL_BINARY [ITEMS] [COST_MS ...]}
items=${2:-1000}
shift $(( $# >= 2 ? 2 : 1 ))
costs=("$@")
[ ${#costs[@]} -eq 0 ] && costs=(2 0.15)
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$items" > "$work/requests.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"op": "check", "id": f"c{i}", "task": {"prompt": f"{i} + 1", "reference": str(i + 1)},
                      "answer": str(i + 1)}))
PY
. "$root/Benchmarks/arith-pipeline.sh"
rate() { sed -nE 's/.*checks=([0-9]+) busy_span_s=[0-9.]+ rate=([0-9.]+)\/s.*/\2/p' | tail -1; }
for cost in "${costs[@]}"; do
    arith_pipeline "$root" feed "$items" 20 1 "$python" -u "$root/Benchmarks/cost_check.py" --ms "$cost" \
        --window "$items" > "$work/feed.yaml"
    rm -f "$work"/feed.sqlite*
    "$bin" round "$work/feed.yaml" --store "$work/feed.sqlite" >/dev/null 2>&1   # baseline
    for run in 1 2; do
        fed=$("$bin" round "$work/feed.yaml" --store "$work/feed.sqlite" 2>&1 >/dev/null | rate)
        alone=$("$python" -u "$root/Benchmarks/cost_check.py" --ms "$cost" < "$work/requests.jsonl" 2>&1 >/dev/null | rate)
        echo "checker costing $cost ms, run $run: fed by a round at $fed/s, standalone $alone/s:" \
            "fed / standalone = $(awk -v a="$fed" -v b="$alone" 'BEGIN { printf "%.2f", a / b }')x"
    done
done
