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
import re

from fixture_protocol import BadRequest, require_op, run, serve

QUESTION = re.compile(r"what\s+is\s+(-?\d+)\s*\+\s*(-?\d+)\s*\?", re.IGNORECASE)


def solve(req, hit):
    task = req.get("task")
    if not isinstance(task, dict) or "reference" in task:
        raise BadRequest("task must be an object without 'reference'")
    prompt = task.get("prompt", "")
    matches = QUESTION.findall(prompt)
    if not matches:
        raise BadRequest("cannot find 'What is A + B?' in the prompt")
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


def handle(req, args):
    require_op(req, "solve")
    return {"id": req.get("id"), **solve(req, args.hit)}


def main():
    parser = argparse.ArgumentParser(description="Flywheel fixture: greedy-wrong addition solver")
    parser.add_argument("--hit", type=int, default=25, metavar="PERCENT")
    args = parser.parse_args()
    serve(lambda req: handle(req, args))


if __name__ == "__main__":
    run(main)
