#!/usr/bin/env bash
# Whether learning grows with the history: the listfn pipeline, baseline + ROUNDS rounds, each a separate
# `flywheel round` as cron runs it. Per round: the examples learning covered, of them the round's own, the learn
# time the round recorded, the whole process's wall time (learning plus every other cost a round pays again, such
# as the dedup keys and the held-out curve it prints), and its peak RSS; then the medians of the last five rounds
# over rounds 2-6.
#
#   Benchmarks/learning-growth.sh PATH/TO/flywheel [ROUNDS]      # default 20
set -euo pipefail
bin=${1:?usage: learning-growth.sh FLYWHEEL_BINARY [ROUNDS]}
rounds=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pipeline="$work/listfn.yaml"
sed "s#listfn/check.py#$root/Pipelines/listfn/check.py#" "$root/Pipelines/listfn.yaml" >"$pipeline"
store="$work/listfn.sqlite"
printf '%5s %9s %6s %9s %9s %9s\n' round learned added learn_ms round_ms peak_mb
for round in $(seq 0 "$rounds"); do
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" round "$pipeline" --store "$store" >/dev/null 2>"$work/log"
    added=$(grep -o 'learn.start .*added=[0-9]*' "$work/log" | grep -o 'added=[0-9]*' | cut -d= -f2 || true)
    python3 - "$store" "$round" "$(cat "$work/time")" "${added:--}" >>"$work/table" <<'PY'
import json, sqlite3, sys
store, rnd, (wall, rss), added = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4]
summary = json.loads(sqlite3.connect(store).execute("SELECT summary FROM rounds WHERE round = ?", (rnd,)).fetchone()[0])
print(f"{rnd:5d} {summary.get('learned_from', 0):9d} {added:>6} {summary.get('learn_seconds', 0) * 1000:9.1f} {float(wall) * 1000:9.0f} {int(rss) / 1024:9.1f}")
PY
    tail -1 "$work/table"
done
python3 - "$work/table" <<'PY'
import statistics, sys
rows = {int(r[0]): r for r in (line.split() for line in open(sys.argv[1]))}
last = max(rows)
early, late = [rows[r] for r in range(2, min(7, last + 1))], [rows[r] for r in range(max(2, last - 4), last + 1)]
def median(group, column): return statistics.median(float(r[column]) for r in group)
print(f"rounds {late[0][0]}-{last} over rounds 2-{early[-1][0]} (medians): learn time "
      f"{median(late, 3) / median(early, 3):.2f}x, round wall time {median(late, 4) / median(early, 4):.2f}x, "
      f"peak RSS {median(late, 5) / median(early, 5):.2f}x, "
      f"examples covered {median(late, 1) / median(early, 1):.1f}x")
PY
