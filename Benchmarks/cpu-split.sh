#!/usr/bin/env bash
# Where the CPU of throughput.sh's round goes: Flywheel and the reference loop (Benchmarks/reference_loop.py) run the
# same 3,000 arith items through the same Python programs; each is timed as a whole process, and every Python
# process of the run (the programs, and the reference loop itself) writes its own CPU time when it exits, through a
# sitecustomize module put on PYTHONPATH for the run. The driver's own CPU is the whole tree's less its programs'.
# On a 2-core machine both runs keep both cores busy, so the wall time follows the tree's CPU: the line shows how
# much of it is the driver's and how much the programs', which are the same work on both sides. Beside them, the
# orchestration floor (Benchmarks/OrchestrationFloor, built next to the flywheel binary): the same exchanges with
# nothing else, every worker's answers read on one polling thread.
#
#   Benchmarks/cpu-split.sh PATH/TO/flywheel [ITEMS] [RUNS]      # defaults 3000 and 3, interleaved
set -euo pipefail
bin=${1:?usage: cpu-split.sh FLYWHEEL_BINARY [ITEMS] [RUNS]}
items=${2:-3000}
runs=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$root/Benchmarks/arith-pipeline.sh"
end_to_end_round "$root" "$items" "$work"
"$bin" round "$work/bench.yaml" --store "$work/template.sqlite" >/dev/null 2>&1   # baseline
mkdir "$work/site"
cat > "$work/site/sitecustomize.py" <<'PY'
import atexit, os, sys
def _record():
    times = os.times()
    with open(os.environ["CPU_SPLIT_LOG"], "a") as log:
        log.write(f"{os.path.basename(sys.argv[0] or 'python')} {times.user + times.system:.3f}\n")
atexit.register(_record)
PY
# One run of the driver's command: prints "wall tree_cpu" and leaves its Python processes' lines in $work/log.
measure() {
    rm -f "$work/log"
    CPU_SPLIT_LOG="$work/log" PYTHONPATH="$work/site" /usr/bin/time -f '%e %U %S' -o "$work/time" "$@" \
        >/dev/null 2>&1
    read -r wall user system < "$work/time"
    echo "$wall $(awk -v u="$user" -v s="$system" 'BEGIN { print u + s }')"
}
# The programs' CPU by script, and their sum, from $work/log; `skip` names the driver's own script, if Python.
programs() {
    awk -v skip="$1" '$1 != skip { cpu[$1] += $2; total += $2 }
        END { line = ""; for (name in cpu) line = line sprintf(" %s %.2f", name, cpu[name]); printf "%.3f%s\n", total, line }' \
        "$work/log"
}
report() {
    local label=$1 wall=$2 tree=$3 split=$4 own
    own=$(awk -v t="$tree" -v p="${split%% *}" 'BEGIN { printf "%.2f", t - p }')
    printf '%-15s wall %5.2f s, CPU %5.2f s: itself %s, its programs %.2f (%s)\n' \
        "$label" "$wall" "$tree" "$own" "${split%% *}" "${split#* }"
}
for run in $(seq "$runs"); do
    echo "run $run:"
    cp "$work/template.sqlite" "$work/round.sqlite"
    read -r wall tree < <(measure "$bin" round "$work/bench.yaml" --store "$work/round.sqlite")
    report Flywheel "$wall" "$tree" "$(programs -)"
    rm -f "$work/reference.sqlite"*
    read -r wall tree < <(measure "${reference_argv[@]}")
    report "reference loop" "$wall" "$tree" "$(programs reference_loop.py)"
    read -r wall tree < <(measure "$(dirname "$bin")/orchestration-floor" poll "$items" "$python" "$root")
    report "floor, poll" "$wall" "$tree" "$(programs -)"
done
