# Sourced by the throughput and checker-feed benchmarks: the pipeline file both run, the arith generator and the
# always-right solver of Fixtures/plugins (2 workers each, parallelism 8) and a checker of their choosing.
# Usage: arith_pipeline ROOT NAME ITEMS HELDOUT CHECKER_WORKERS CHECKER_ARGV... > FILE.yaml
#
# Every program in these benchmarks, Flywheel's and the reference's alike, runs the same interpreter by its path
# ($python): `python3` through pyenv's shim costs each start ~0.1 s of bash, which a reference loop itself started
# through the shim does not pay (pyenv puts the real interpreter first on the PATH its children see).
python=$(python3 -c 'import sys; print(sys.executable)')
arith_pipeline() {
    local root=$1 name=$2 items=$3 heldout=$4 workers=$5
    shift 5
    local argv
    argv=$(printf '%s, ' "$@")
    cat <<YAML
name: $name
seed: 1
round_size: $items
parallelism: 8
heldout:
  size: $heldout
generator:
  command: [$python, -u, $root/Fixtures/plugins/arith_gen.py]
  workers: 2
solver:
  command: [$python, -u, $root/Fixtures/plugins/arith_solve.py, --base, "100"]
  workers: 2
checker:
  command: [${argv%, }]
  workers: $workers
gate: always
YAML
}
