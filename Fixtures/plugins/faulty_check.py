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
import os
import sys
import time

from exact_check import check
from fixture_protocol import require_op, run, serve, write_line

MODES = ("hang", "crash", "garbage", "wrongid", "bigline", "error")


def is_target(answer, every):
    try:
        return int(answer.strip()) % every == 0
    except (AttributeError, ValueError):
        return False


def handle(req, args):
    """Returns the response object, or None when the response was already written (or skipped)."""
    rid = req.get("id")
    require_op(req, "check")
    if not is_target(req.get("answer"), args.every):
        return {"id": rid, **check(req)}
    print(f"faulty_check: injecting {args.mode!r} for id {rid!r}", file=sys.stderr, flush=True)
    if args.mode == "hang":
        time.sleep(3600)
        return None
    if args.mode == "crash":
        os._exit(3)
    if args.mode == "garbage":
        write_line("this is not JSON {{{")
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
    serve(lambda req: handle(req, args))


if __name__ == "__main__":
    run(main)
