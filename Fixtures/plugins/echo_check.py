#!/usr/bin/env python3
"""Flywheel test fixture: a checker that accepts everything instantly (protocol v1, op "check").

    python3 -u echo_check.py

Every check gets {"id": ..., "accept": true, "score": 1.0, "reason": "accepted unchecked"}.
For throughput benchmarks: it does no work beyond parsing the request.
"""
import argparse
import json
import sys


def main():
    argparse.ArgumentParser(description="Flywheel fixture: accept-everything checker").parse_args()
    out = sys.stdout
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        try:
            req = json.loads(raw)
        except ValueError as e:  # invalid JSON or invalid UTF-8
            resp = {"id": None, "error": f"malformed request line: {e}"}
        else:
            if not isinstance(req, dict):
                resp = {"id": None, "error": "request must be a JSON object"}
            elif req.get("op") != "check":
                resp = {"id": req.get("id"), "error": f"unsupported op {req.get('op')!r}; this program serves 'check'"}
            else:
                resp = {"id": req.get("id"), "accept": True, "score": 1.0, "reason": "accepted unchecked"}
        out.write(json.dumps(resp) + "\n")
        out.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the runner went away; nothing left to answer
        sys.stderr.close()
    sys.exit(0)
