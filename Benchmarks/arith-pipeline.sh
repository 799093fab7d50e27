# Sourced by the throughput and checker-feed benchmarks: the pipeline file both run, the arith generator and the
# always-right solver of Fixtures/plugins (2 workers each, parallelism 8) and a checker of their choosing.
# Usage: arith_pipeline ROOT NAME ITEMS HELDOUT CHECKER_WORKERS CHECKER_ARGV... > FILE.yaml
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
  command: [python3, -u, $root/Fixtures/plugins/arith_gen.py]
  workers: 2
solver:
  command: [python3, -u, $root/Fixtures/plugins/arith_solve.py, --base, "100"]
  workers: 2
checker:
  command: [${argv%, }]
  workers: $workers
gate: always
YAML
}
