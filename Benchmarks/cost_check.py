#!/usr/bin/env python3
"""A checker that costs a fixed CPU time per request, for Benchmarks/checker-feed.sh (protocol v1, op "check").

    python3 -u cost_check.py --ms 2

Each check busy-waits --ms milliseconds, then accepts. After --window answers (default: at end of input) it writes
one line on stderr: `checks=N busy_span_s=S rate=R/s`, where S runs from the arrival of the first request to the
answer of the N-th, so R is the rate at which whoever fed it kept it busy: fed from a file, its standalone rate; fed
by a round, the rate the round achieved (a round's training checks come first, before its held-out ones).
--record FOLDER keeps the requests it was sent in FOLDER/requests.jsonl, so that its standalone rate can be measured
on the very same requests (a folder, not a file: Flywheel fingerprints a checker by the files its arguments name).
"""
import argparse
import json
import sys
import time


def main():
    parser = argparse.ArgumentParser(description="fixed-cost checker for the checker-feed benchmark")
    parser.add_argument("--ms", type=float, required=True, help="CPU milliseconds each check costs")
    parser.add_argument("--window", type=int, default=0, help="report after this many answers (0: at the end)")
    parser.add_argument("--record", help="write every request line to FOLDER/requests.jsonl")
    arguments = parser.parse_args()
    record = open(f"{arguments.record}/requests.jsonl", "wb") if arguments.record else None
    cost = arguments.ms / 1000
    reported = False
    out = sys.stdout
    checks = 0
    first = last = None
    for raw in sys.stdin.buffer:
        arrived = time.perf_counter()
        if first is None:
            first = arrived
        request = json.loads(raw)
        if record:
            record.write(raw)
        while time.perf_counter() - arrived < cost:
            pass
        out.write(json.dumps({"id": request.get("id"), "accept": True, "score": 1.0, "reason": "costly"}) + "\n")
        out.flush()
        checks += 1
        last = time.perf_counter()
        if checks == arguments.window:
            report(checks, last - first)
            reported = True
    if checks and not reported:
        report(checks, last - first)


def report(checks, span):
    sys.stderr.write(f"checks={checks} busy_span_s={span:.4f} rate={checks / span:.1f}/s\n")
    sys.stderr.flush()



if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.stderr.close()
