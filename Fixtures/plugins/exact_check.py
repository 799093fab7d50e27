#!/usr/bin/env python3
"""Flywheel test fixture: exact-match checker (protocol v1, op "check").

    python3 -u exact_check.py

Accepts iff answer.strip() == str(reference).strip() (a JSON string reference
is compared as the string itself). score 1.0 / 0.0, reason "match" or
"expected X, got Y". A task without "reference" gets an error response.
"""
import argparse
import json

from fixture_protocol import BadRequest, field, require_op, run, serve


def short(text, limit=200):
    return text if len(text) <= limit else text[:limit] + "…"


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


def handle(req):
    require_op(req, "check")
    return {"id": req.get("id"), **check(req)}


def main():
    argparse.ArgumentParser(description="Flywheel fixture: exact-match checker").parse_args()
    serve(handle)


if __name__ == "__main__":
    run(main)
