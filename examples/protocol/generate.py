#!/usr/bin/env python3
"""Flywheel protocol v1 example: a generator of "What is A + B?" tasks.

Run by hand:  echo '{"op":"generate","id":"1","seed":7,"difficulty":1,"split":"train"}' | python3 -u generate.py
"""
import json
import random
import sys


def generate(req):
    rng = random.Random(req["seed"])           # same seed -> same task
    hi = 10 ** (req["difficulty"] + 2)         # difficulty 1: 0..999, 2: 0..9999, ...
    a, b = rng.randrange(hi), rng.randrange(hi)
    return {"prompt": f"What is {a} + {b}?", "reference": str(a + b), "meta": {"family": "add"}}


for line in sys.stdin:                         # one request per line, until EOF
    req = {}
    try:
        req = json.loads(line)
        if req.get("op") != "generate":
            raise ValueError(f"unsupported op {req.get('op')!r}")
        resp = {"id": req["id"], "task": generate(req)}
    except Exception as e:                     # never crash: answer with an error instead
        rid = req.get("id") if isinstance(req, dict) else None
        resp = {"id": rid, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(resp), flush=True)        # exactly one line per request, flushed
