# Sourced by the throughput and cpu-split benchmarks: the end-to-end round both time, and the hand-written reference
# loop beside it (Benchmarks/reference_loop.py) doing the same work with the same programs.
# Usage: end_to_end_round ROOT ITEMS WORK writes WORK/bench.yaml (the arith generator, the always-right solver and
# the echo checker of Fixtures/plugins, 2 workers each, parallelism 8, 50 held-out items) and sets the array
# `reference_argv` to the reference loop's command on the same items, storing into WORK/reference.sqlite.
#
# Every program in these benchmarks, Flywheel's and the reference's alike, runs the same interpreter by its path
# ($python): `python3` through pyenv's shim costs each start ~0.1 s of bash, which a reference loop itself started
# through the shim does not pay (pyenv puts the real interpreter first on the PATH its children see).
python=$(python3 -c 'import sys; print(sys.executable)')
end_to_end_round() {
    local root=$1 items=$2 work=$3
    local plugins="$root/Fixtures/plugins"
    cat > "$work/bench.yaml" <<YAML
name: bench
seed: 1
round_size: $items
parallelism: 8
heldout:
  size: 50
generator:
  command: [$python, -u, $plugins/arith_gen.py]
  workers: 2
solver:
  command: [$python, -u, $plugins/arith_solve.py, --base, "100"]
  workers: 2
checker:
  command: [$python, -u, $plugins/echo_check.py]
  workers: 2
gate: always
YAML
    reference_argv=("$python" -u "$root/Benchmarks/reference_loop.py" --items "$items" --parallelism 8 --workers 2
        --store "$work/reference.sqlite" --generator "$python -u $plugins/arith_gen.py"
        --solver "$python -u $plugins/arith_solve.py --base 100" --checker "$python -u $plugins/echo_check.py")
}
