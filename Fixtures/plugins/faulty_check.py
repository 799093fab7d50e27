#!/usr/bin/env python3
"""Flywheel test fixture: a checker that misbehaves on purpose (protocol v1, op "check").

    python3 -u faulty_check.py --mode hang|crash|garbage|wrongid|bigline|error [--every K]

Behaves like exact_check.py, except on requests whose answer parses as an
integer n with n % K == 0 (K defaults to 3). On those:
  hang     sleeps 3600 s without answering (for the per-request timeout)
  crash    exits with status 3 without answering
  garbage  writes a line that is not JSON instead of the response
  wrongid  answers with "id": "bogus"
  bigline  answers with valid JSON whose reason is 2 MiB long (over the size cap)
  error    answers {"id": ..., "error": "refused"}
Every injected fault is logged to stderr.
"""
import argparse
import json
import os
import sys
import time
import traceback

MODES = ("hang", "crash", "garbage", "wrongid", "bigline", "error")


class BadRequest(Exception):
    pass


def field(obj, name, kind, what):
    value = obj.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"field {name!r} must be {what}")
    return value


def short(text, limit=200):
    return text if len(text) <= limit else text[:limit] + "…"


def emit_line(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def check(req):
    task = field(req, "task", dict, "an object")
    answer = field(req, "answer", str, "a string")
    if "reference" not in task:
        raise BadRequest("task has no 'reference' to check against")
    ref = task["reference"]
    expected = (ref if isinstance(ref, str) else json.dumps(ref)).strip()
    got = answer.strip()
    if got == expected:
        return {"accept": True, "score": 1.0, "reason": "match"}
    return {"accept": False, "score": 0.0, "reason": f"expected {short(expected)}, got {short(got)}"}


def is_target(answer, every):
    try:
        return int(answer.strip()) % every == 0
    except (AttributeError, ValueError):
        return False


def handle(req, args):
    """Returns the response object, or None when the response was already written (or skipped)."""
    rid = req.get("id")
    if req.get("op") != "check":
        raise BadRequest(f"unsupported op {req.get('op')!r}; this program serves 'check'")
    if not is_target(req.get("answer"), args.every):
        return {"id": rid, **check(req)}
    print(f"faulty_check: injecting {args.mode!r} for id {rid!r}", file=sys.stderr, flush=True)
    if args.mode == "hang":
        time.sleep(3600)
        return None
    if args.mode == "crash":
        os._exit(3)
    if args.mode == "garbage":
        emit_line("this is not JSON {{{")
        return None
    if args.mode == "wrongid":
        return {"id": "bogus", **check(req)}
    if args.mode == "bigline":
        return {"id": rid, **check(req), "reason": "x" * (2 * 1024 * 1024)}
    return {"id": rid, "error": "refused"}


def main():
    parser = argparse.ArgumentParser(description="Flywheel fixture: faulty checker")
    parser.add_argument("--mode", required=True, choices=MODES, help="the fault to inject")
    parser.add_argument("--every", type=int, default=3, metavar="K",
                        help="inject on answers n with n %% K == 0 (default 3)")
    args = parser.parse_args()
    if args.every < 1:
        parser.error("--every must be >= 1")
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        rid = None
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise BadRequest("request must be a JSON object")
            rid = req.get("id")
            resp = handle(req, args)
        except BadRequest as e:
            resp = {"id": rid, "error": str(e)}
        except ValueError as e:  # invalid JSON or invalid UTF-8
            resp = {"id": rid, "error": f"malformed request line: {e}"}
        except Exception as e:  # never crash on a request (unless asked to)
            traceback.print_exc(file=sys.stderr)
            resp = {"id": rid, "error": f"internal error: {type(e).__name__}: {e}"}
        if resp is not None:
            emit_line(json.dumps(resp))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the runner went away; nothing left to answer
        sys.stderr.close()
    sys.exit(0)
