#!/usr/bin/env python3
"""Flywheel protocol v1 example: an exact-match checker.

Run by hand:
  echo '{"op":"check","id":"1","task":{"prompt":"What is 2 + 3?","reference":"5"},"answer":"5"}' | python3 -u check.py
"""
import json
import sys


def check(req):
    expected = str(req["task"]["reference"]).strip()
    got = req["answer"].strip()
    if got == expected:
        return {"accept": True, "score": 1.0, "reason": "match"}
    return {"accept": False, "score": 0.0, "reason": f"expected {expected}, got {got}"}


for line in sys.stdin:                         # one request per line, until EOF
    req = {}
    try:
        req = json.loads(line)
        if req.get("op") != "check":
            raise ValueError(f"unsupported op {req.get('op')!r}")
        resp = {"id": req["id"], **check(req)}
    except Exception as e:                     # never crash: answer with an error instead
        rid = req.get("id") if isinstance(req, dict) else None
        resp = {"id": rid, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(resp), flush=True)        # exactly one line per request, flushed
    # diagnostics, if any, go to stderr: print("...", file=sys.stderr)
