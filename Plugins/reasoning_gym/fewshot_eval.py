#!/usr/bin/env python3
"""How well does a chat model solve a reasoning-gym family, with and without few-shot examples?

    eval "$(ops/llm-server.sh start)"
    $CACHE/venv-rg/bin/python Plugins/reasoning_gym/fewshot_eval.py --url "$FLYWHEEL_LLM_URL" \
        --family spell_backward --config '{"min_word_len": 3, "max_word_len": 3}' --shots 0,3 --n 50

Held-out items are seeds 1e9+i; the k examples are train items with seeds 1..k (a fixed choice), given as
earlier user/assistant turns with reasoning-gym's own answers. Requests: temperature 0, cache_prompt false,
max_tokens 32. Scoring as the adapter's check: the answer (stripped) is accepted only when
score_answer(...) == 1.0. Prints one line per k: accepted/n, plus a few sample answers with --show.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
import urllib.request

if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]],
              dict(os.environ, PYTHONHASHSEED="0"))
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="flywheel-rg-mpl-"))

with contextlib.redirect_stdout(sys.stderr):
    import reasoning_gym


def item(family, config, seed):
    with contextlib.redirect_stdout(sys.stderr):
        ds = reasoning_gym.create_dataset(family, size=1, seed=seed, **config)
        return ds, ds[0]


def ask(url, messages, max_tokens):
    body = json.dumps({"messages": messages, "max_tokens": max_tokens, "temperature": 0,
                       "cache_prompt": False}).encode()
    req = urllib.request.Request(url.rstrip("/") + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())["choices"][0]["message"]["content"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=os.environ.get("FLYWHEEL_LLM_URL"))
    ap.add_argument("--family", required=True)
    ap.add_argument("--config", default="{}")
    ap.add_argument("--shots", default="0,3", help="comma-separated numbers of examples")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--show", type=int, default=0, help="print this many sample answers per k")
    args = ap.parse_args()
    config = json.loads(args.config)

    held = [item(args.family, config, 10**9 + i) for i in range(args.n)]
    distinct = len({e["question"] for _, e in held})
    for k in [int(s) for s in args.shots.split(",")]:
        shots = []
        for s in range(1, k + 1):
            _, e = item(args.family, config, s)
            shots += [{"role": "user", "content": e["question"]}, {"role": "assistant", "content": e["answer"]}]
        answers = [None] * len(held)
        nxt = [0]
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(held):
                    return
                answers[i] = ask(args.url, shots + [{"role": "user", "content": held[i][1]["question"]}],
                                 args.max_tokens)

        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted = 0
        for (ds, e), a in zip(held, answers):
            with contextlib.redirect_stdout(sys.stderr):
                try:
                    score = ds.score_answer(a.strip(), e)
                except Exception:
                    score = 0.0
            accepted += score == 1.0
        print(f"{args.family} {json.dumps(config)} k={k}: {accepted}/{len(held)} accepted "
              f"({distinct} distinct questions)", flush=True)
        for (ds, e), a in list(zip(held, answers))[: args.show]:
            print(f"    {e['question'][-50:]!r} expected {e['answer']!r} got {a.strip()[:50]!r}")


if __name__ == "__main__":
    main()
