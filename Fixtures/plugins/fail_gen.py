#!/usr/bin/env python3
"""Flywheel test fixture: a generator that refuses everything (protocol v1, op "generate").

    python3 -u fail_gen.py

Every request gets {"id": ..., "error": "generator refused"}, for an all-errors round.
"""
import argparse
import json
import sys


def main():
    argparse.ArgumentParser(description="Flywheel fixture: always-failing generator").parse_args()
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        try:
            req = json.loads(raw)
        except ValueError as e:  # invalid JSON or invalid UTF-8
            resp = {"id": None, "error": f"malformed request line: {e}"}
        else:
            rid = req.get("id") if isinstance(req, dict) else None
            resp = {"id": rid, "error": "generator refused"}
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the runner went away; nothing left to answer
        sys.stderr.close()
    sys.exit(0)
