#!/usr/bin/env bash
# Items/s through external plugins (arith generator, always-right solver, echo checker) and stored bytes per
# example with and without the zstd dictionary. Usage: Benchmarks/throughput.sh PATH/TO/flywheel [ITEMS]
set -euo pipefail
bin=${1:?usage: throughput.sh FLYWHEEL_BINARY [ITEMS]}
items=${2:-3000}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$root/Benchmarks/arith-pipeline.sh"
. "$root/Benchmarks/numbers.sh"
end_to_end_round "$root" "$items" "$work"
store="$work/bench.sqlite"
"$bin" round "$work/bench.yaml" --store "$store" >/dev/null 2>&1   # baseline
# Side by side, interleaved: a Flywheel round, then the hand-written reference loop (Benchmarks/reference_loop.py)
# on the same programs, items, workers and parallelism. Both are timed the same way, as whole processes from the
# outside: from exec to exit, starting and stopping their programs included; the ratio is Flywheel's rate over the
# reference's. The reference's own timer (from starting its programs to its last commit: without its interpreter's
# start and imports, nor its programs' exit) is printed beside it, with the ratio against that. Round 2 also trains
# the store's zstd dictionary on round 1's examples (once in a store's life); round 3 is a steady round. Each round
# runs RUNS times (default 3) on copies of the store before it, each run followed by the reference loop; every pair
# is printed, then the median ratio. The first run's store goes on to the next round.
runs=${RUNS:-3}
for round in 1 2 3; do
    cp "$store" "$work/before.sqlite"
    ratios=() inside_ratios=()
    for run in $(seq "$runs"); do
        copy=$store
        if [ "$run" -gt 1 ]; then
            copy="$work/copy.sqlite"
            rm -f "$copy"*
            cp "$work/before.sqlite" "$copy"
        fi
        start=$(date +%s%N)
        "$bin" round "$work/bench.yaml" --store "$copy" >/dev/null 2>&1
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        rm -f "$work/reference.sqlite"*
        start=$(date +%s%N)
        reference=$("${reference_argv[@]}")
        reference_ms=$(( ($(date +%s%N) - start) / 1000000 ))
        inside_ms=$(echo "$reference" | sed -E 's/.* in ([0-9]+) ms.*/\1/')
        ratios+=("$(ratio "$reference_ms" "$ms")") inside_ratios+=("$(ratio "$inside_ms" "$ms")")
        echo "round $round, run $run: Flywheel $ms ms = $(( items * 1000 / ms )) items/s" \
            "($items items: generate+solve+check+store, plus 50 held-out); reference loop $reference_ms ms" \
            "= $(( items * 1000 / reference_ms )) items/s (its own timer: $inside_ms ms); ratio ${ratios[-1]}x"
    done
    echo "round $round: Flywheel / reference loop = $(echo "${ratios[*]}" | median)x, median of ${ratios[*]}" \
        "(against the reference's own timer: $(echo "${inside_ratios[*]}" | median)x)"
done
rm -f "$work/before.sqlite" "$work/copy.sqlite"*
sqlite3 "$store" "SELECT CASE WHEN against_task THEN 'against its task ' WHEN dictionary_id IS NULL
    THEN 'without dictionary' ELSE 'with dictionary   ' END,
    count(*) || ' examples', printf('%.1f raw bytes', avg(raw_bytes)), printf('%.1f stored bytes per example', avg(length(payload)))
    FROM examples GROUP BY against_task, dictionary_id IS NULL ORDER BY against_task, dictionary_id IS NULL DESC" | tr '|' ' '
"$bin" verify-store "$work/bench.yaml" --store "$store"
