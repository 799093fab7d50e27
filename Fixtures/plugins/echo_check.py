#!/usr/bin/env python3
"""Flywheel test fixture: a checker that accepts everything instantly (protocol v1, op "check").

    python3 -u echo_check.py

Every check gets {"id": ..., "accept": true, "score": 1.0, "reason": "accepted unchecked"}.
For throughput benchmarks: it does no work beyond parsing the request.
"""
import argparse

from fixture_protocol import require_op, run, serve


def handle(req):
    require_op(req, "check")
    return {"id": req.get("id"), "accept": True, "score": 1.0, "reason": "accepted unchecked"}


def main():
    argparse.ArgumentParser(description="Flywheel fixture: accept-everything checker").parse_args()
    serve(handle)


if __name__ == "__main__":
    run(main)
