#!/usr/bin/env python3
"""Flywheel test fixture: noisy addition solver (protocol v1, op "solve").

    python3 -u arith_solve.py [--delay SECONDS] [--base P] [--gain G]

Parses A and B from the last "What is A + B?" in the prompt (case and spacing
are ignored). With h = int(sha256(f"{prompt}|{attempt}"), 16), the answer is
correct (A+B) iff h % 100 < base + gain * min(len(examples), 3), else A+B+1.
So more few-shot examples mean more correct answers (defaults 30 and 20:
30%, 50%, 70%, 90%). The seed is ignored; answers are deterministic.
usage is {"prompt_tokens": len(prompt.split()), "completion_tokens": 1}.

--delay SECONDS sleeps before each answer (lets tests kill the runner mid-round).
A task that carries "reference" is refused with an error: the solver must
never see it.
"""
import argparse
import hashlib
import re
import time

from fixture_protocol import BadRequest, field, require_op, run, serve

QUESTION = re.compile(r"what\s+is\s+(-?\d+)\s*\+\s*(-?\d+)\s*\?", re.IGNORECASE)


def solve(req, args):
    task = field(req, "task", dict, "an object")
    if "reference" in task:
        raise BadRequest("task contains 'reference'; a solver must never see it")
    prompt = field(task, "prompt", str, "a string")
    examples = field(req, "examples", list, "an array")
    attempt = field(req, "attempt", int, "an integer")
    matches = QUESTION.findall(prompt)
    if not matches:
        raise BadRequest("cannot find 'What is A + B?' in the prompt")
    a, b = (int(x) for x in matches[-1])
    h = int(hashlib.sha256(f"{prompt}|{attempt}".encode()).hexdigest(), 16)
    correct = h % 100 < args.base + args.gain * min(len(examples), 3)
    if args.delay > 0:
        time.sleep(args.delay)
    return {
        "answer": str(a + b if correct else a + b + 1),
        "trace": f"{a} + {b}; {len(examples)} examples; {'sure' if correct else 'off by one'}",
        "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 1},
    }


def handle(req, args):
    require_op(req, "solve")
    return {"id": req.get("id"), **solve(req, args)}


def main():
    parser = argparse.ArgumentParser(description="Flywheel fixture: noisy addition solver")
    parser.add_argument("--delay", type=float, default=0.0, metavar="SECONDS",
                        help="sleep this long before each answer")
    parser.add_argument("--base", type=float, default=30.0, metavar="P",
                        help="percent correct with no examples (default 30)")
    parser.add_argument("--gain", type=float, default=20.0, metavar="G",
                        help="extra percent per few-shot example, up to 3 (default 20)")
    args = parser.parse_args()
    if args.delay < 0:
        parser.error("--delay must be >= 0")
    serve(lambda req: handle(req, args))


if __name__ == "__main__":
    run(main)
