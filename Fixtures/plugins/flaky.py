#!/usr/bin/env python3
"""Flywheel test fixture: runs a protocol v1 plugin and injects a fault the first time it sees a targeted id.

    python3 -u flaky.py --state DIR --mode crash|hang|wrongid|garbage|oversize [--match REGEX] [--every K] [--always] \
        -- PROGRAM ARG...

Forwards each request line to PROGRAM (started once) and its answer back. A request is targeted when its id matches
REGEX (default: any id) and the sum of the digits in its id is a multiple of K (default 1: every id). The first
time a targeted id is seen (a marker file in DIR remembers it across workers), instead of forwarding:
  crash    exits with status 3 without answering
  hang     sleeps 3600 s without answering
  wrongid  forwards it but answers with "id": "bogus"
  garbage  writes a line that is not JSON
  oversize answers with a valid line of 64 KiB (over a small max_response_bytes)
With --always every request of a targeted id gets the fault, not only the first. Every injected fault is logged to
stderr as "flaky: injecting MODE for id ID".

After a fault that leaves the stream untrustworthy (wrongid, garbage, oversize) it stops reading and exits, as
Flywheel drops such a worker anyway: a request Flywheel wrote ahead to it is then never read, so it is never marked
as faulted without the fault reaching Flywheel (such a request is sent again to the next worker, not as a retry).
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time


def main():
    parser = argparse.ArgumentParser(description="Flywheel fixture: inject a fault once per targeted id")
    parser.add_argument("--state", required=True, help="folder of markers for ids already faulted")
    parser.add_argument("--mode", required=True, choices=("crash", "hang", "wrongid", "garbage", "oversize"))
    parser.add_argument("--match", default="", help="only ids matching this regular expression")
    parser.add_argument("--every", type=int, default=1, metavar="K")
    parser.add_argument("--always", action="store_true", help="fault on every request of a targeted id")
    parser.add_argument("program", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        parser.error("name the plugin to run after --")
    child = subprocess.Popen(program, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    pattern = re.compile(args.match)
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        try:
            rid = str(json.loads(raw).get("id"))
        except (ValueError, AttributeError):
            rid = ""
        digits = sum(int(c) for c in rid if c.isdigit())
        marker = os.path.join(args.state, hashlib.sha1(rid.encode()).hexdigest())
        inject = pattern.search(rid) is not None and digits % args.every == 0 and (
            args.always or not os.path.exists(marker))
        if inject:
            open(marker, "w").close()
            print(f"flaky: injecting {args.mode} for id {rid}", file=sys.stderr, flush=True)
            if args.mode == "crash":
                os._exit(3)
            if args.mode == "hang":
                time.sleep(3600)
            if args.mode == "garbage":
                sys.stdout.write("this is not JSON {{{\n")
                break
            if args.mode == "oversize":
                sys.stdout.write(json.dumps({"id": rid, "answer": "x" * 65536}) + "\n")
                break
        child.stdin.write(raw if raw.endswith(b"\n") else raw + b"\n")
        child.stdin.flush()
        answer = child.stdout.readline()
        if not answer:
            # The wrapped plugin died without answering: die with it, as the plugin itself would have.
            sys.exit(child.wait() or 1)
        if inject and args.mode == "wrongid":
            sys.stdout.buffer.write((json.dumps({**json.loads(answer), "id": "bogus"}) + "\n").encode())
            break
        sys.stdout.buffer.write(answer)
        sys.stdout.flush()
    sys.stdout.flush()
    child.stdin.close()
    child.wait()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.stderr.close()
    sys.exit(0)
