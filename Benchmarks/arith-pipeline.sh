# Sourced by the throughput, cpu-split and checker-feed benchmarks: the pipeline file they run, the arith generator
# and the always-right solver of Fixtures/plugins (2 workers each, parallelism 8) and a checker of their choosing.
# Usage: arith_pipeline ROOT NAME ITEMS HELDOUT CHECKER_WORKERS CHECKER_ARGV... > FILE.yaml
# And the hand-written reference loop on the same programs with the echo checker (Benchmarks/reference_loop.py):
# reference_loop_argv ROOT ITEMS STORE sets the array `reference_argv` to its command.
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

reference_loop_argv() {
    local root=$1 items=$2 store=$3
    reference_argv=("$python" -u "$root/Benchmarks/reference_loop.py" --items "$items" --parallelism 8 --workers 2
        --store "$store" --generator "$python -u $root/Fixtures/plugins/arith_gen.py"
        --solver "$python -u $root/Fixtures/plugins/arith_solve.py --base 100"
        --checker "$python -u $root/Fixtures/plugins/echo_check.py")
}
