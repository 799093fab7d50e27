#!/usr/bin/env bash
# The store's size against the best a general compressor does with the same content: after the listfn demo
# (baseline + ROUNDS rounds), the store file as the run left it, against `zstd -19 --long=27` of its own SQL dump;
# then the largest tables and indexes (SQLite's dbstat).
# Usage: Benchmarks/storage.sh PATH/TO/flywheel [ROUNDS]
set -euo pipefail
bin=${1:?usage: storage.sh FLYWHEEL_BINARY [ROUNDS]}
rounds=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$root/Benchmarks/numbers.sh"
"$bin" run "$root/Pipelines/listfn.yaml" --rounds "$rounds" --store "$work/s.sqlite" >/dev/null 2>&1
store=$(stat -c %s "$work/s.sqlite")
[ -e "$work/s.sqlite-wal" ] && store=$(( store + $(stat -c %s "$work/s.sqlite-wal") ))
sqlite3 "$work/s.sqlite" .dump > "$work/dump.sql"
zstd -q -19 --long=27 "$work/dump.sql" -o "$work/dump.sql.zst"
dump=$(stat -c %s "$work/dump.sql")
compressed=$(stat -c %s "$work/dump.sql.zst")
echo "store after the demo: $store bytes; its SQL dump: $dump bytes, $compressed with zstd -19 --long=27:" \
    "store / compressed dump = $(ratio "$store" "$compressed")x"
sqlite3 "$work/s.sqlite" "SELECT '  ' || name || ': ' || sum(pgsize) || ' bytes' FROM dbstat GROUP BY name
    ORDER BY sum(pgsize) DESC LIMIT 8"
# Held-out results: the open round's rows, and one zstd frame per committed round (v10).
sqlite3 "$work/s.sqlite" "SELECT '  ' || name || ': ' || sum(pgsize) || ' bytes' FROM dbstat
    WHERE name IN ('heldout_results', 'heldout_packs') GROUP BY name ORDER BY name DESC;
    SELECT '  free pages: ' || freelist_count FROM pragma_freelist_count"
