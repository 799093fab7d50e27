#!/usr/bin/env python3
"""Flywheel protocol v1 example: a solver for "What is A + B?" tasks.

Run by hand:
  echo '{"op":"solve","id":"1","task":{"prompt":"What is 2 + 3?"},"examples":[],"attempt":0,"seed":1}' | python3 -u solve.py
"""
import json
import re
import sys


def solve(req):
    prompt = req["task"]["prompt"]            # the task never contains "reference"
    m = re.search(r"What is (-?\d+) \+ (-?\d+)\?", prompt)
    if m is None:
        raise ValueError("not an addition task")
    answer = str(int(m.group(1)) + int(m.group(2)))
    usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": 1}
    return {"answer": answer, "trace": f"added {m.group(1)} and {m.group(2)}", "usage": usage}


for line in sys.stdin:                         # one request per line, until EOF
    req = {}
    try:
        req = json.loads(line)
        if req.get("op") != "solve":
            raise ValueError(f"unsupported op {req.get('op')!r}")
        resp = {"id": req["id"], **solve(req)}
    except Exception as e:                     # never crash: answer with an error instead
        rid = req.get("id") if isinstance(req, dict) else None
        resp = {"id": rid, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(resp), flush=True)        # exactly one line per request, flushed
