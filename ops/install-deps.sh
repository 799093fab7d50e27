#!/usr/bin/env bash
# Installs the system packages Flywheel needs on Debian (idempotent: does nothing when all are present).
# With --test, also what the test suites use (chromium, zstd, and Slurm with munge for the Slurm test); with --bench,
# what `make bench` uses (zstd, GNU time).
set -euo pipefail

missing=()
[ -f /usr/include/zstd.h ] && [ -f /usr/include/zdict.h ] || missing+=(libzstd-dev)
[ -f /usr/include/sqlite3.h ] || missing+=(libsqlite3-dev)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
command -v python3 >/dev/null || missing+=(python3)
command -v make >/dev/null || missing+=(make)
if [ "${1:-}" = "--test" ]; then
    # The end-to-end suites also render the HTML report in a headless browser and read frames with zstd.
    command -v chromium >/dev/null || missing+=(chromium)
    command -v zstd >/dev/null || missing+=(zstd)
    # The Slurm test runs a one-machine cluster (ops/slurm/local-cluster.sh).
    [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && [ -x /usr/bin/sbatch ] || missing+=(slurm-wlm)
    [ -x /usr/sbin/munged ] || missing+=(munge)
fi
if [ "${1:-}" = "--bench" ]; then
    command -v zstd >/dev/null || missing+=(zstd)
    [ -x /usr/bin/time ] || missing+=(time)
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install the Swift 6 toolchain first" >&2; exit 1; }
