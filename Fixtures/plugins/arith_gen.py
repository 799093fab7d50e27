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
import json
import random
import sys
import traceback


class BadRequest(Exception):
    pass


def field(obj, name, kind, what):
    value = obj.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"field {name!r} must be {what}")
    return value


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
    if req.get("op") != "generate":
        raise BadRequest(f"unsupported op {req.get('op')!r}; this program serves 'generate'")
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
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        rid = None
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise BadRequest("request must be a JSON object")
            rid = req.get("id")
            resp = handle(req, args)
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
