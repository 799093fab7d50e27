#!/usr/bin/env python3
"""Flywheel protocol v1 generator: "What is A # B?" tasks whose operators the solver is not told.

Each symbol stands for an operation (# adds, @ multiplies, ~ subtracts), so the solver can only become
reliable by learning from examples. Replace generate() with your own tasks; keep the loop.

Run by hand:  echo '{"op":"generate","id":"1","seed":7,"difficulty":1,"split":"train"}' | python3 -u generate.py
"""
import json
import random
import sys

OPERATIONS = {"#": lambda a, b: a + b, "@": lambda a, b: a * b, "~": lambda a, b: a - b}


def generate(req):
    rng = random.Random(req["seed"])               # same seed -> same task
    hi = 10 ** (max(req["difficulty"], 1) + 1)     # difficulty 1: 0..99, 2: 0..999, ...
    symbol = rng.choice(sorted(OPERATIONS))
    a, b = rng.randrange(hi), rng.randrange(hi)
    answer = OPERATIONS[symbol](a, b)
    return {"prompt": f"What is {a} {symbol} {b}?", "reference": str(answer), "meta": {"operator": symbol}}


for line in sys.stdin:                             # one request per line, until EOF
    req = {}
    try:
        req = json.loads(line)
        if req.get("op") != "generate":
            raise ValueError(f"unsupported op {req.get('op')!r}")
        resp = {"id": req["id"], "task": generate(req)}
    except Exception as e:                         # never crash: answer with an error instead
        rid = req.get("id") if isinstance(req, dict) else None
        resp = {"id": rid, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(resp), flush=True)            # exactly one line per request, flushed
