#!/usr/bin/env python3
"""Flywheel test fixture: exact-match checker (protocol v1, op "check").

    python3 -u exact_check.py

Accepts iff answer.strip() == str(reference).strip() (a JSON string reference
is compared as the string itself). score 1.0 / 0.0, reason "match" or
"expected X, got Y". A task without "reference" gets an error response.
"""
import argparse
import json
import sys
import traceback


class BadRequest(Exception):
    pass


def field(obj, name, kind, what):
    value = obj.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"field {name!r} must be {what}")
    return value


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
    if req.get("op") != "check":
        raise BadRequest(f"unsupported op {req.get('op')!r}; this program serves 'check'")
    return {"id": req.get("id"), **check(req)}


def main():
    argparse.ArgumentParser(description="Flywheel fixture: exact-match checker").parse_args()
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        rid = None
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise BadRequest("request must be a JSON object")
            rid = req.get("id")
            resp = handle(req)
        except BadRequest as e:
            resp = {"id": rid, "error": str(e)}
        except ValueError as e:  # invalid JSON or invalid UTF-8
            resp = {"id": rid, "error": f"malformed request line: {e}"}
        except Exception as e:  # never crash on a request
            traceback.print_exc(file=sys.stderr)
            resp = {"id": rid, "error": f"internal error: {type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the runner went away; nothing left to answer
        sys.stderr.close()
    sys.exit(0)
