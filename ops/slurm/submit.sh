#!/usr/bin/env bash
# Submits Flywheel rounds to Slurm as a chain of jobs: per phase a shard array, then a merge that waits for the
# whole array (--dependency=afterok). A round is two phases: training (then merge learns the candidate) and
# held-out evaluation (then merge decides and commits); the baseline (round 0) is held-out generation and its
# evaluation. Prints the job ids, the last one last.
#
#   ops/slurm/submit.sh PIPELINE --shards N [--rounds R] [--store PATH] [--flywheel BIN] [--logs DIR]
#                       [--phases K] [-- SBATCH ARGS…]
#
# --rounds R (default 1): rounds after the baseline; the baseline's two phases are added while the store has no
# committed round 0. --phases K submits exactly K phases instead. Arguments after `--` go to every sbatch call
# (e.g. --partition=cpu --time=02:00:00).
set -euo pipefail

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 64
}

here=$(cd "$(dirname "$0")" && pwd -P)
pipeline=""
shards=""
rounds=1
phases=""
store=""
flywheel=$(command -v flywheel || true)
logs=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
    --shards) shards=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --phases) phases=${2:?}; shift 2 ;;
    --store) store=${2:?}; shift 2 ;;
    --flywheel) flywheel=${2:?}; shift 2 ;;
    --logs) logs=${2:?}; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) usage ;;
    -*) echo "submit.sh: unknown option $1" >&2; usage ;;
    *) [ -z "$pipeline" ] || usage; pipeline=$1; shift ;;
    esac
done
[ -n "$pipeline" ] && [ -n "$shards" ] || usage
[ -n "$flywheel" ] || { echo "submit.sh: no flywheel on PATH: pass --flywheel BIN" >&2; exit 64; }
case "$shards" in '' | *[!0-9]* | 0) echo "submit.sh: --shards takes a count ≥ 1" >&2; exit 64 ;; esac

# Absolute paths: the jobs may start in another folder, on another machine of the shared file system.
pipeline=$(cd "$(dirname "$pipeline")" && pwd -P)/$(basename "$pipeline")
flywheel=$(cd "$(dirname "$flywheel")" && pwd -P)/$(basename "$flywheel")
store_args=()
if [ -n "$store" ]; then
    store=$(cd "$(dirname "$store")" 2>/dev/null && pwd -P)/$(basename "$store") \
        || { echo "submit.sh: the store's folder does not exist: $store" >&2; exit 64; }
    store_args=(--store "$store")
else
    store=$(pwd -P)/.flywheel/$(basename "$pipeline" .yaml).sqlite
fi
logs=${logs:-$(dirname "$store")/slurm-logs}
mkdir -p "$logs"

if [ -z "$phases" ]; then
    phases=$((2 * rounds))
    baseline=$("$flywheel" status "$pipeline" "${store_args[@]}" --json | python3 -c '
import json, sys
rounds = json.load(sys.stdin)["rounds"]
print("yes" if rounds and rounds[0]["state"] == "promoted" else "no")')
    [ "$baseline" = yes ] || phases=$((phases + 2))
fi

export FLYWHEEL_BIN=$flywheel FLYWHEEL_PIPELINE=$pipeline FLYWHEEL_STORE=$store FLYWHEEL_SHARDS=$shards
previous=""
for phase in $(seq "$phases"); do
    after=()
    [ -z "$previous" ] || after=(--dependency="afterok:$previous" --kill-on-invalid-dep=yes)
    array=$(sbatch --parsable "${after[@]}" --array="0-$((shards - 1))" --export=ALL \
        --output="$logs/shard-%A_%a.out" "${extra[@]}" "$here/shard.sbatch")
    array=${array%%;*}
    merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes --export=ALL \
        --output="$logs/merge-%j.out" "${extra[@]}" "$here/merge.sbatch")
    merge=${merge%%;*}
    echo "phase $phase: shards $array (array 0-$((shards - 1))), merge $merge"
    previous=$merge
done
echo "$previous"
