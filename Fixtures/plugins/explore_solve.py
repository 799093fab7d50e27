#!/usr/bin/env python3
"""Flywheel test fixture: an addition solver that is never right greedily (protocol v1, op "solve").

    python3 -u explore_solve.py [--hit PERCENT]

For "What is A + B?" it answers A+B+1 (wrong) unless
  - the request carries "hint": it answers the hint (a rationalization attempt shown the answer), or
  - the request carries "temperature" > 0: it answers A+B iff sha256(f"{prompt}|{seed}") % 100 < PERCENT
    (default 25), so sampled attempts with different seeds sometimes hit.
Held-out requests carry neither, so held-out answers are always wrong. The trace says which case answered.
A task that carries "reference" is refused with an error: the solver must never see it.
"""
import argparse
import hashlib
import json
import re
import sys

QUESTION = re.compile(r"what\s+is\s+(-?\d+)\s*\+\s*(-?\d+)\s*\?", re.IGNORECASE)


def solve(req, hit):
    task = req.get("task")
    if not isinstance(task, dict) or "reference" in task:
        raise ValueError("task must be an object without 'reference'")
    prompt = task.get("prompt", "")
    matches = QUESTION.findall(prompt)
    if not matches:
        raise ValueError("cannot find 'What is A + B?' in the prompt")
    a, b = (int(x) for x in matches[-1])
    if isinstance(req.get("hint"), str):
        return {"answer": req["hint"], "trace": "hinted"}
    temperature = req.get("temperature", 0)
    if temperature > 0:
        h = int(hashlib.sha256(f"{prompt}|{req.get('seed')}".encode()).hexdigest(), 16)
        if h % 100 < hit:
            return {"answer": str(a + b), "trace": f"sampled at {temperature}"}
        return {"answer": str(a + b + 1), "trace": f"sampled at {temperature}, missed"}
    return {"answer": str(a + b + 1), "trace": "greedy"}


def main():
    parser = argparse.ArgumentParser(description="Flywheel fixture: greedy-wrong addition solver")
    parser.add_argument("--hit", type=int, default=25, metavar="PERCENT")
    args = parser.parse_args()
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        rid = None
        try:
            req = json.loads(raw)
            rid = req.get("id")
            if req.get("op") != "solve":
                raise ValueError(f"unsupported op {req.get('op')!r}")
            resp = {"id": rid, **solve(req, args.hit)}
        except Exception as e:  # never crash on a request
            resp = {"id": rid, "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.stderr.close()
    sys.exit(0)
