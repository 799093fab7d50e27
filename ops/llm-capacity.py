#!/usr/bin/env python3
"""Measures an OpenAI-compatible server's capacity with short prompts (stdlib only).

    eval "$(ops/llm-server.sh start)"
    python3 ops/llm-capacity.py --url "$FLYWHEEL_LLM_URL" [--requests 100] [--concurrency 2] [--json]

Sends N chat completions ("Uppercase the word: WORD", max_tokens 16, temperature 0, cache_prompt false)
from C threads and reports requests/s, completion tokens/s, prompt tokens/s and latency percentiles.
With --repeat-check it then resends the first 20 prompts and counts answers that differ (determinism).
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

WORDS = ("apple banana cherry dragon eagle forest garden harbor island jungle kettle lemon meadow needle "
         "orange pepper quartz river silver tiger umbrella violet window yellow zebra anchor bridge candle "
         "desert engine falcon glacier hammer insect jacket kernel ladder marble nickel oyster pillow "
         "rabbit saddle tunnel valley walnut").split()


def post(url, word, max_tokens, timeout):
    body = json.dumps({
        "model": "local",
        "messages": [{"role": "user", "content": f"Uppercase the word: {word}"}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "cache_prompt": False,
    }).encode()
    req = urllib.request.Request(url.rstrip("/") + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        data = json.loads(r.read())
    dt = time.perf_counter() - t0
    usage = data.get("usage") or {}
    content = data["choices"][0]["message"]["content"]
    return dt, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), content


def run(url, words, concurrency, max_tokens, timeout):
    results = [None] * len(words)
    errors = []
    next_index = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(words):
                return
            try:
                results[i] = post(url, words[i], max_tokens, timeout)
            except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, results, errors


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("FLYWHEEL_LLM_URL"), help="base URL (default $FLYWHEEL_LLM_URL)")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--repeat-check", action="store_true", help="resend the first 20 prompts and compare answers")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()
    if not args.url:
        ap.error("no --url and no FLYWHEEL_LLM_URL")

    words = [WORDS[i % len(WORDS)] + ("" if i < len(WORDS) else str(i // len(WORDS))) for i in range(args.requests)]
    run(args.url, words[:2], 1, args.max_tokens, args.timeout)  # warm-up
    wall, results, errors = run(args.url, words, args.concurrency, args.max_tokens, args.timeout)
    done = [r for r in results if r is not None]
    lat = [r[0] for r in done] or [0.0]
    report = {
        "url": args.url,
        "requests": args.requests,
        "ok": len(done),
        "errors": len(errors),
        "concurrency": args.concurrency,
        "max_tokens": args.max_tokens,
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(done) / wall, 2),
        "completion_tokens_per_s": round(sum(r[2] for r in done) / wall, 1),
        "prompt_tokens_per_s": round(sum(r[1] for r in done) / wall, 1),
        "mean_completion_tokens": round(statistics.mean([r[2] for r in done]), 1) if done else 0,
        "latency_p50_s": round(pct(lat, 50), 3),
        "latency_p95_s": round(pct(lat, 95), 3),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    if args.repeat_check and done:
        n = min(20, len(words))
        _, again, errs2 = run(args.url, words[:n], args.concurrency, args.max_tokens, args.timeout)
        report["repeat_mismatches"] = sum(1 for a, b in zip(results[:n], again) if a and b and a[3] != b[3])
        report["repeat_compared"] = sum(1 for a, b in zip(results[:n], again) if a and b)
    if errors:
        report["first_error"] = errors[0]
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:26} {v}")
        if done:
            print(f"{'sample':26} {words[0]!r} -> {done[0][3]!r}")
    sys.exit(1 if not done else 0)


if __name__ == "__main__":
    main()
