#!/usr/bin/env python3
"""Flywheel protocol v1 solver: a stand-in for a model that learns from few-shot examples.

It can add, subtract, multiply and take the larger of two numbers, but is not told which operation a symbol
in "What is A # B?" means. With examples of the symbol it uses the first operation that agrees with all of
them; without, it guesses (from the request's seed, so the answer is a function of the request). Accepted
answers become the next solver version's examples, so the held-out score climbs round by round.
Replace solve() with a call to your model, putting the examples in its prompt; keep the loop.

Run by hand:
  echo '{"op":"solve","id":"1","task":{"prompt":"What is 2 # 3?"},"examples":[{"prompt":"What is 4 # 1?","answer":"5"}],"attempt":0,"seed":1}' | python3 -u solve.py
"""
import json
import random
import re
import sys

OPERATIONS = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "max": lambda a, b: max(a, b),
}
QUESTION = re.compile(r"What is (-?\d+) (\S+) (-?\d+)\?")


def parse(prompt):
    m = QUESTION.search(prompt)
    return (int(m.group(1)), m.group(2), int(m.group(3))) if m else None


def solve(req):
    task = parse(req["task"]["prompt"])            # the task never contains "reference"
    if task is None:
        raise ValueError("not a 'What is A # B?' task")
    a, symbol, b = task
    examples = req.get("examples", [])             # few-shot pairs from accepted data; may be empty
    seen = []                                      # (A, B, answer) of the examples that use this symbol
    for example in examples:
        parsed = parse(example["prompt"])
        if parsed and parsed[1] == symbol:
            seen.append((parsed[0], parsed[2], example["answer"].strip()))
    fits = [name for name, op in OPERATIONS.items() if seen and all(str(op(x, y)) == z for x, y, z in seen)]
    if fits:
        name, trace = fits[0], f"{len(seen)} example(s) of {symbol} fit {fits[0]}"
    else:
        name = random.Random(req["seed"]).choice(sorted(OPERATIONS))
        trace = f"no example of {symbol} fits: guessed {name}"
    words = len(req["task"]["prompt"].split()) + sum(len(ex["prompt"].split()) + 1 for ex in examples)
    usage = {"prompt_tokens": words, "completion_tokens": 1}
    return {"answer": str(OPERATIONS[name](a, b)), "trace": trace, "usage": usage}


for line in sys.stdin:                             # one request per line, until EOF
    req = {}
    try:
        req = json.loads(line)
        if req.get("op") != "solve":
            raise ValueError(f"unsupported op {req.get('op')!r}")
        resp = {"id": req["id"], **solve(req)}
    except Exception as e:                         # never crash: answer with an error instead
        rid = req.get("id") if isinstance(req, dict) else None
        resp = {"id": rid, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(resp), flush=True)            # exactly one line per request, flushed
