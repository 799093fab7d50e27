#!/usr/bin/env python3
"""Flywheel test fixture: addition-task generator (protocol v1, op "generate").

    python3 -u arith_gen.py [--dup-every K]

Each task is "What is A + B?" with A and B drawn by random.Random(seed) from
0 .. 10**(difficulty+2) - 1 (difficulty 1: 0..999, 2: 0..9999, ...; values
below 1 count as 1). The reference is the sum as a string and meta is
{"family": "add", "difficulty": d}. The output depends only on the request,
so the same seed always gives the same task.

--dup-every K: on the train split, every seed with seed % K == 0 gets the
fixed task "What is 2 + 2?" (reference "4"), so exact duplicates occur.

--refuse-split SPLIT: every request of that split gets {"error": "generator refused"}.
"""
import argparse
import random

from fixture_protocol import BadRequest, field, require_op, run, serve


def generate(req, dup_every):
    seed = field(req, "seed", int, "an integer")
    difficulty = field(req, "difficulty", int, "an integer")
    split = req.get("split")
    if split not in ("train", "heldout"):
        raise BadRequest("field 'split' must be \"train\" or \"heldout\"")
    meta = {"family": "add", "difficulty": difficulty}
    if split == "train" and dup_every and seed % dup_every == 0:
        return {"prompt": "What is 2 + 2?", "reference": "4", "meta": meta}
    rng = random.Random(seed)
    hi = 10 ** (min(max(difficulty, 1), 30) + 2) - 1
    a, b = rng.randint(0, hi), rng.randint(0, hi)
    return {"prompt": f"What is {a} + {b}?", "reference": str(a + b), "meta": meta}


def handle(req, args):
    require_op(req, "generate")
    if args.refuse_split and req.get("split") == args.refuse_split:
        raise BadRequest("generator refused")
    return {"id": req.get("id"), "task": generate(req, args.dup_every)}


def main():
    parser = argparse.ArgumentParser(description="Flywheel fixture: addition-task generator")
    parser.add_argument("--dup-every", type=int, default=0, metavar="K",
                        help="train split: seed %% K == 0 emits the fixed task 'What is 2 + 2?'")
    parser.add_argument("--refuse-split", choices=["train", "heldout"],
                        help="answer every request of this split with an error")
    args = parser.parse_args()
    if args.dup_every < 0:
        parser.error("--dup-every must be a positive integer (0 disables it)")
    serve(lambda req: handle(req, args))


if __name__ == "__main__":
    run(main)
