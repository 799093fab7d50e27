#!/usr/bin/env bash
# Starts and stops a local llama-server with SmolLM2-135M-Instruct, for tests and demos.
#
#   eval "$(ops/llm-server.sh start)"     # prints FLYWHEEL_LLM_URL=…, FLYWHEEL_LLM_PID=…, FLYWHEEL_LLM_LOG=…
#   …  POST "$FLYWHEEL_LLM_URL/v1/chat/completions"  …
#   ops/llm-server.sh stop "$FLYWHEEL_LLM_PID"
#
# start [EXTRA llama-server ARGS…]: picks a free port on 127.0.0.1, starts
#   llama-server -m MODEL --host 127.0.0.1 --port P -t 1 -np 2 --no-webui   in the background (log in a file),
#   and waits until GET /health is 200 (timeout FLYWHEEL_LLM_START_TIMEOUT, default 60 s).
# stop PID: stops that llama-server (TERM, then KILL after 10 s) and waits until it is gone. Only that PID.
#
# The binary and model come from ops/install-llm.sh (run it first; it is a fast no-op once installed).
# Environment: FLYWHEEL_CACHE (as install-llm.sh), FLYWHEEL_LLAMA_SERVER, FLYWHEEL_LLM_MODEL (paths),
# FLYWHEEL_LLM_THREADS (default 1: steadier than 2 on a busy 2-core machine), FLYWHEEL_LLM_PARALLEL (slots,
# default 2), FLYWHEEL_LLM_CTX (total context, default 4096, shared by the slots), FLYWHEEL_LLM_LOG (log file).
set -euo pipefail

CACHE="${FLYWHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flywheel}"
BIN="${FLYWHEEL_LLAMA_SERVER:-$CACHE/llama/bin/llama-server}"
MODEL="${FLYWHEEL_LLM_MODEL:-$CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
THREADS="${FLYWHEEL_LLM_THREADS:-1}"
PARALLEL="${FLYWHEEL_LLM_PARALLEL:-2}"
CTX="${FLYWHEEL_LLM_CTX:-4096}"
TIMEOUT="${FLYWHEEL_LLM_START_TIMEOUT:-60}"

log() { echo "llm-server: $*" >&2; }
usage() { echo "usage: $0 start [extra llama-server args…] | stop PID" >&2; exit 64; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# 0 when GET URL/health answers 200.
healthy() {
    python3 - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/health", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

is_llama_server() {
    local pid="$1"
    local comm name
    comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"   # kept for a zombie, unlike cmdline
    name="$(basename "$BIN")"
    [ "$comm" = "${name:0:15}" ] || [ "$comm" = "llama-server" ] \
        || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'llama-server'
}

start() {
    [ -x "$BIN" ] || { log "no llama-server at $BIN: run ops/install-llm.sh first"; exit 1; }
    [ -f "$MODEL" ] || { log "no model at $MODEL: run ops/install-llm.sh first"; exit 1; }
    local attempt port url logfile pid t0 deadline
    for attempt in 1 2 3; do   # a free port can be taken between the probe and the bind: retry
        port="$(free_port)"
        url="http://127.0.0.1:$port"
        logfile="${FLYWHEEL_LLM_LOG:-${TMPDIR:-/tmp}/flywheel-llama-server.$port.log}"
        t0=$(date +%s%N)
        # Through a tiny exec wrapper (same PID) that clears the signal mask: a process started from a test
        # runner that blocks SIGTERM would otherwise ignore `stop` until the KILL.
        python3 -c 'import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])' \
            "$BIN" -m "$MODEL" --host 127.0.0.1 --port "$port" -t "$THREADS" -np "$PARALLEL" \
            -c "$CTX" --no-webui "$@" </dev/null >"$logfile" 2>&1 &
        pid=$!
        deadline=$(( $(date +%s) + TIMEOUT ))
        while :; do
            if ! kill -0 "$pid" 2>/dev/null; then
                if grep -qiE 'bind|address already in use' "$logfile" && [ "$attempt" -lt 3 ]; then
                    log "port $port was taken, retrying"
                    continue 2
                fi
                log "llama-server exited during start-up; last lines of $logfile:"
                tail -20 "$logfile" >&2
                exit 1
            fi
            if healthy "$url"; then
                log "ready in $(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }') s (pid $pid, log $logfile)"
                echo "FLYWHEEL_LLM_URL=$url"
                echo "FLYWHEEL_LLM_PID=$pid"
                echo "FLYWHEEL_LLM_LOG=$logfile"
                return 0
            fi
            if [ "$(date +%s)" -ge "$deadline" ]; then
                log "no healthy /health after ${TIMEOUT} s; stopping pid $pid; last lines of $logfile:"
                tail -20 "$logfile" >&2
                stop "$pid"
                exit 1
            fi
            sleep 0.2
        done
    done
    exit 1
}

stop() {
    local pid="${1:-}" i
    [[ "$pid" =~ ^[0-9]+$ ]] || usage
    if ! kill -0 "$pid" 2>/dev/null; then
        log "pid $pid is not running"
        return 0
    fi
    is_llama_server "$pid" || { log "pid $pid is not a llama-server: not touching it"; exit 1; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do          # up to 10 s
        kill -0 "$pid" 2>/dev/null || { log "stopped pid $pid"; return 0; }
        # a child of this shell (start's failure path) must be reaped, or it stays a zombie
        if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = "Z" ]; then
            wait "$pid" 2>/dev/null || true
            log "stopped pid $pid"
            return 0
        fi
        sleep 0.1
    done
    log "pid $pid did not stop after TERM: KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = "Z" ]; then wait "$pid" 2>/dev/null || true; return 0; fi
        sleep 0.1
    done
    log "pid $pid is still there"
    exit 1
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    start) start "$@" ;;
    stop)  [ $# -eq 1 ] || usage; stop "$1" ;;
    *)     usage ;;
esac
