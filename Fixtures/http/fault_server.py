#!/usr/bin/env python3
"""A misbehaving OpenAI-compatible chat server for Flywheel's HTTP client tests (stdlib only).

    python3 -u Fixtures/http/fault_server.py --mode MODE [--k K] [--sleep S]

Listens on 127.0.0.1 only, on a free port (or --port), and prints `PORT=N` as its first stdout line.
POST /v1/chat/completions, by --mode:
  ok        200, a chat completion whose content is the last user message upper-cased, with usage
  429       the first K requests for each distinct prompt get 429 with `Retry-After: 1`, then ok
  500       the first K requests for each distinct prompt get 500, then ok
  slow      sleeps S seconds, then ok
  garbage   200 with a body that is not JSON
  badshape  200 with a JSON object that has no `choices`
("prompt" = the content of the last user message.) A request body that is not a JSON object with a
`messages` list gets 400.

GET /stats   {"requests": N, "by_status": {"200": n, ...}, "prompts": distinct prompts,
              "in_flight": now, "max_in_flight": peak concurrency seen}  (chat-completion requests only)
GET /health  {"status": "ok"}      GET /v1/models  one model, "fault-server"
POST /reset  zeroes the counters and the per-prompt attempt counts

Usage: prompt_tokens = whitespace-separated words over all messages, completion_tokens = words in the
answer (at least 1). Exits 0 on SIGTERM or SIGINT, and on its own when its parent process dies
(unless --no-parent-watch).
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("ok", "429", "500", "slow", "garbage", "badshape")


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.by_status = {}
        self.attempts = {}  # prompt -> requests seen
        self.in_flight = 0
        self.max_in_flight = 0
        self.next_id = 0

    def snapshot(self):
        with self.lock:
            return {
                "requests": self.requests,
                "by_status": dict(self.by_status),
                "prompts": len(self.attempts),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
            }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # without it every response waits ~40 ms for delayed ACKs
    server_version = "FaultServer/1"

    # set by main()
    opts = None
    state = None

    def log_message(self, fmt, *args):
        if self.opts.verbose:
            sys.stderr.write("fault_server: %s - %s\n" % (self.address_string(), fmt % args))

    # ------------------------------------------------------------ plumbing

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status, body, content_type="application/json", headers=()):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout): nothing to do

    @staticmethod
    def error_body(status, message, kind):
        return {"error": {"message": message, "type": kind, "code": status}}

    # ------------------------------------------------------------ routes

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/stats":
            self.send(200, self.state.snapshot())
        elif path == "/health":
            self.send(200, {"status": "ok"})
        elif path == "/v1/models":
            self.send(200, {"object": "list", "data": [{"id": "fault-server", "object": "model", "owned_by": "flywheel"}]})
        else:
            self.send(404, self.error_body(404, "not found", "not_found"))

    def do_POST(self):
        path = self.path.split("?")[0]
        try:
            raw = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send(400, self.error_body(400, "unreadable body", "invalid_request_error"))
            return
        if path == "/reset":
            with self.state.lock:
                self.state.reset()
            self.send(200, {"ok": True})
            return
        if path != "/v1/chat/completions":
            self.send(404, self.error_body(404, "not found", "not_found"))
            return

        st = self.state
        with st.lock:
            st.in_flight += 1
            st.max_in_flight = max(st.max_in_flight, st.in_flight)
        reply = (500, self.error_body(500, "fault_server failed", "server_error"), "application/json", ())
        try:
            reply = self.chat(raw)
        finally:
            # Counted before the response is sent, so /stats read after a reply always includes it.
            with st.lock:
                st.in_flight -= 1
                st.requests += 1
                st.by_status[str(reply[0])] = st.by_status.get(str(reply[0]), 0) + 1
        self.send(*reply)

    def chat(self, raw):
        """Decides one chat-completion reply: (status, body, content type, headers)."""
        opts, st = self.opts, self.state
        json_type = "application/json"
        try:
            req = json.loads(raw.decode("utf-8"))
            if not isinstance(req, dict) or not isinstance(req.get("messages"), list):
                raise ValueError("expected a JSON object with a messages list")
            messages = [m for m in req["messages"] if isinstance(m, dict)]
        except (ValueError, UnicodeDecodeError) as exc:
            return 400, self.error_body(400, f"bad request: {exc}", "invalid_request_error"), json_type, ()

        def text(m):
            c = m.get("content")
            if isinstance(c, list):  # content parts
                return " ".join(p.get("text", "") for p in c if isinstance(p, dict))
            return c if isinstance(c, str) else ""

        users = [text(m) for m in messages if m.get("role") == "user"]
        prompt = users[-1] if users else ""
        with st.lock:
            seen = st.attempts.get(prompt, 0)
            st.attempts[prompt] = seen + 1
            st.next_id += 1
            serial = st.next_id

        mode = opts.mode
        if mode == "429" and seen < opts.k:
            return (429, self.error_body(429, "rate limited (fault_server)", "rate_limit_error"), json_type,
                    [("Retry-After", "1")])
        if mode == "500" and seen < opts.k:
            return 500, self.error_body(500, "internal error (fault_server)", "server_error"), json_type, ()
        if mode == "slow":
            time.sleep(opts.sleep)
        if mode == "garbage":
            return 200, b"<html>this is not JSON {\"choices\": [", json_type, ()

        answer = prompt.upper()
        usage = {
            "prompt_tokens": sum(len(text(m).split()) for m in messages),
            "completion_tokens": max(1, len(answer.split())),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        body = {
            "id": f"chatcmpl-fault-{serial}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model") if isinstance(req.get("model"), str) else "fault-server",
            "usage": usage,
        }
        if mode != "badshape":
            body["choices"] = [{
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }]
        return 200, body, json_type, ()


def main():
    ap = argparse.ArgumentParser(description="misbehaving OpenAI-compatible server (127.0.0.1 only)")
    ap.add_argument("--mode", choices=MODES, default="ok")
    ap.add_argument("--k", type=int, default=2, help="failures per distinct prompt in 429/500 modes (default 2)")
    ap.add_argument("--sleep", type=float, default=2.0, help="seconds to wait in slow mode (default 2)")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    ap.add_argument("--no-parent-watch", action="store_true",
                    help="keep running when the parent process dies (default: exit)")
    opts = ap.parse_args()
    if opts.k < 0 or opts.sleep < 0 or not 0 <= opts.port < 65536:
        ap.error("--k, --sleep and --port must be non-negative (port < 65536)")

    Handler.opts = opts
    Handler.state = State()
    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    server.daemon_threads = True

    def stop(signum, frame):
        raise SystemExit(0)

    # A child inherits its parent's signal mask: one spawned from a test process that blocks SIGTERM
    # (as Swift's test runner does) would otherwise never see it.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    parent = os.getppid()

    def watch_parent():  # never outlive the test that started us
        while os.getppid() == parent:
            time.sleep(0.5)
        sys.stderr.write("fault_server: parent process gone, exiting\n")
        server.shutdown()  # serve_forever returns in the main thread

    if not opts.no_parent_watch:
        threading.Thread(target=watch_parent, daemon=True).start()

    print(f"PORT={server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
