#!/usr/bin/env bash
# Installs reasoning-gym (third-party task generators and scorers) into a private venv for the
# Plugins/reasoning_gym adapter. Idempotent: a fast no-op when the venv exists and imports it.
#
#   $CACHE/venv-rg/bin/python    with CACHE=${FLYWHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flywheel}
#
# Prints an eval-able line on stdout: FLYWHEEL_RG_PYTHON=…   Needs PyPI (~23 s, ~320 MB; gcc for pycosat).
set -euo pipefail

RG_PKG="reasoning-gym==0.1.25"
RG_VERSION="0.1.25"
CACHE="${FLYWHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flywheel}"
VENV="$CACHE/venv-rg"
PY="$VENV/bin/python"

t0=$(date +%s%N)
log() { echo "install-reasoning-gym: $*" >&2; }
elapsed() { awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

# The marker is written only after a successful install and import, so the fast path does not
# need to import the (slow, ~1 s) library.
MARKER="$VENV/.flywheel-installed"
installed() {
    [ -x "$PY" ] && "$PY" -c '' 2>/dev/null && [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$RG_PKG" ] \
        && compgen -G "$VENV/lib/python3*/site-packages/reasoning_gym/__init__.py" >/dev/null
}

if installed; then
    echo "FLYWHEEL_RG_PYTHON=$PY"
    log "already installed (checked in $(elapsed) s)"
    exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.install-reasoning-gym.lock"
if command -v flock >/dev/null; then flock 9; fi
if installed; then   # another install finished while we waited
    echo "FLYWHEEL_RG_PYTHON=$PY"
    exit 0
fi

if ! command -v gcc >/dev/null; then
    [ "$(id -u)" -eq 0 ] || { log "gcc missing: run as root or install build-essential"; exit 1; }
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential >&2
fi

rm -f "$MARKER"
if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi
log "installing $RG_PKG (~23 s)"
"$PY" -m pip install --quiet --disable-pip-version-check "$RG_PKG" >&2

export MPLCONFIGDIR="${MPLCONFIGDIR:-$(mktemp -d)}"
got=$("$PY" -c 'import importlib.metadata as m, reasoning_gym; print(m.version("reasoning-gym"))')
[ "$got" = "$RG_VERSION" ] || { log "expected reasoning-gym $RG_VERSION, got $got"; exit 1; }
echo "$RG_PKG" >"$MARKER"
echo "FLYWHEEL_RG_PYTHON=$PY"
log "installed in $(elapsed) s"
