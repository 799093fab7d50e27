#!/usr/bin/env bash
# Wall time of one listfn round (round 1 after a shared baseline) run unsharded and as 1, 2 and 4 local shards at
# once (training phase, merge, evaluation phase, merge), and the merges' own cost; checks that every sharded
# store exports the same bytes as the unsharded one.
#
#   Benchmarks/sharding.sh PATH/TO/flywheel             # the embedded listfn pipeline (CPU-bound solver)
#   Benchmarks/sharding.sh PATH/TO/flywheel latency     # external plugins, a solver taking LATENCY s a request
#                                                      # (default 0.05; what an LLM server's latency looks like)
set -euo pipefail
bin=${1:?usage: sharding.sh FLYWHEEL_BINARY [listfn|latency]}
mode=${2:-listfn}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pipeline="$work/bench.yaml"
case "$mode" in
listfn)
    # The embedded pipeline, with its checker found from anywhere.
    sed "s#listfn/check.py#$root/Pipelines/listfn/check.py#" "$root/Pipelines/listfn.yaml" >"$pipeline"
    ;;
latency)
    cat >"$pipeline" <<YAML
name: latency
seed: 1
round_size: 200
parallelism: 4
heldout:
  size: 200
generator:
  command: [python3, -u, $root/Fixtures/plugins/arith_gen.py, --dup-every, "7"]
solver:
  command: [python3, -u, $root/Fixtures/plugins/arith_solve.py, --delay, "${LATENCY:-0.05}"]
  workers: 2
checker:
  command: [python3, -u, $root/Fixtures/plugins/exact_check.py]
  workers: 2
gate: always
YAML
    ;;
*) echo "sharding.sh: unknown mode $mode (listfn or latency)" >&2; exit 64 ;;
esac

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

"$bin" run "$pipeline" --rounds 0 --store "$work/base.sqlite" >/dev/null 2>&1
fresh() { rm -rf "$1" "$1".*; sqlite3 "$work/base.sqlite" ".backup '$1'"; }

fresh "$work/unsharded.sqlite"
start=$(now)
"$bin" round "$pipeline" --store "$work/unsharded.sqlite" >/dev/null 2>&1
unsharded=$(elapsed "$start" "$(now)")
"$bin" export "$pipeline" --store "$work/unsharded.sqlite" --out "$work/unsharded.jsonl" >/dev/null 2>&1

phase() {   # phase STORE N: every shard at once; prints the seconds
    local store=$1 count=$2 start pids=()
    start=$(now)
    for index in $(seq 0 $((count - 1))); do
        "$bin" round "$pipeline" --shard "$index/$count" --store "$store" >/dev/null 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    elapsed "$start" "$(now)"
}
merge() {
    local store=$1 start
    start=$(now)
    "$bin" merge "$pipeline" --store "$store" >/dev/null 2>&1
    elapsed "$start" "$(now)"
}

echo "| mode | training shards | merge (learn) | evaluation shards | merge (decide) | round total | export |"
echo "|---|---|---|---|---|---|---|"
echo "| unsharded \`round\` | | | | | $unsharded s | reference |"
for count in 1 2 4; do
    store="$work/sharded-$count.sqlite"
    fresh "$store"
    train=$(phase "$store" "$count")
    learn=$(merge "$store")
    evaluate=$(phase "$store" "$count")
    decide=$(merge "$store")
    total=$(awk -v a="$train" -v b="$learn" -v c="$evaluate" -v d="$decide" 'BEGIN { printf "%.2f", a + b + c + d }')
    "$bin" export "$pipeline" --store "$store" --out "$work/sharded-$count.jsonl" >/dev/null 2>&1
    same=$(cmp -s "$work/unsharded.jsonl" "$work/sharded-$count.jsonl" && echo "same bytes" || echo "DIFFERENT")
    echo "| $count shard(s) at once | $train s | $learn s | $evaluate s | $decide s | $total s | $same |"
done
