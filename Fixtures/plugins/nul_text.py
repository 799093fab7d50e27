#!/usr/bin/env python3
"""Flywheel test fixture: every op, with U+0000 inside the text (protocol v1).

    python3 -u nul_text.py [--delay SECONDS]

generate: "What is A + B?\\0(seed S)" with A, B drawn by random.Random(seed) from
0..999; reference is the sum as a string; meta is {"note": "meta\\0data"}.
solve: answers "SUM\\0SUM" (right) or "SUM+1\\0SUM" (wrong, about one in three,
decided by sha256 of the prompt), with trace "trace\\0S" and usage tokens.
check: accepts iff the whole answer is "REF\\0REF"; reason "match\\0ok" or
"expected REF\\0REF, got ANSWER". Only the whole text decides: an answer cut at
its first NUL ("SUM") is rejected.

--delay SECONDS sleeps before each answer of any op (lets tests kill the
runner between an answer being stored and its verdict).
"""
import argparse
import hashlib
import random
import re
import time

from fixture_protocol import BadRequest, run, serve

QUESTION = re.compile(r"What is (\d+) \+ (\d+)\?")


def generate(req):
    seed = req["seed"]
    rng = random.Random(seed)
    a, b = rng.randint(0, 999), rng.randint(0, 999)
    return {"task": {"prompt": f"What is {a} + {b}?\0(seed {seed})", "reference": str(a + b),
                     "meta": {"note": "meta\0data"}}}


def solve(req):
    prompt = req["task"]["prompt"]
    a, b = (int(x) for x in QUESTION.search(prompt).groups())
    wrong = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 3 == 0
    total = a + b
    return {"answer": f"{total + 1 if wrong else total}\0{total}", "trace": f"trace\0{total}",
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


def check(req):
    reference = req["task"]["reference"]
    answer = req["answer"]
    if answer == f"{reference}\0{reference}":
        return {"accept": True, "score": 1.0, "reason": "match\0ok"}
    return {"accept": False, "score": 0.0, "reason": f"expected {reference}\0{reference}, got {answer}"}


OPS = {"generate": generate, "solve": solve, "check": check}


def handle(req, args):
    op = OPS.get(req.get("op"))
    if op is None:
        raise BadRequest(f"unsupported op {req.get('op')!r}")
    if args.delay > 0:
        time.sleep(args.delay)
    return {"id": req.get("id"), **op(req)}


def main():
    parser = argparse.ArgumentParser(description="Flywheel fixture: text with NULs for every op")
    parser.add_argument("--delay", type=float, default=0.0, metavar="SECONDS")
    args = parser.parse_args()
    serve(lambda req: handle(req, args))


if __name__ == "__main__":
    run(main)
