#!/usr/bin/env python3
"""The hand-written reference for Flywheel's throughput: one round's training items through the same external
programs, done the way a competent engineer would script it without Flywheel.

    python3 -u Benchmarks/reference_loop.py --items 3000 --store /tmp/ref.sqlite \
        --generator 'python3 -u Fixtures/plugins/arith_gen.py' --solver '...' --checker '...'

Same work as `flywheel round` on Benchmarks/throughput.sh's pipeline: `--workers` persistent processes per plugin
(JSON Lines over pipes), `--parallelism` items in flight, each item generated, deduplicated by a SHA-256 of its
normalised prompt, solved, checked, and when accepted compressed with libzstd (level 3, through ctypes) and written
to SQLite in WAL mode, inserts committed every 100 items. What it leaves out, and Flywheel does not: held-out
evaluation, decontamination, retries, timeouts, lineage, resumability. Prints one line: items and items/s by its own
timer, from the start of its programs to the last commit. Benchmarks/throughput.sh compares Flywheel against the
whole process instead, timed from the outside as it times Flywheel (exec to exit), and prints this timer beside it.
"""
import argparse
import asyncio
import ctypes
import ctypes.util
import hashlib
import json
import shlex
import sqlite3
import time

zstd = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
zstd.ZSTD_compressBound.restype = ctypes.c_size_t
zstd.ZSTD_compress.restype = ctypes.c_size_t
zstd.ZSTD_compress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]


def compress(data: bytes) -> bytes:
    bound = zstd.ZSTD_compressBound(len(data))
    out = ctypes.create_string_buffer(bound)
    size = zstd.ZSTD_compress(out, bound, data, len(data), 3)
    return out.raw[:size]


class Pool:
    """`workers` copies of a JSON Lines program; a request takes a free worker and waits for its answer."""

    def __init__(self, argv, workers):
        self.argv = argv
        self.workers = workers
        self.free = asyncio.Queue()

    async def start(self):
        for _ in range(self.workers):
            process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 20)
            self.free.put_nowait(process)

    async def call(self, request):
        process = await self.free.get()
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            await process.stdin.drain()
            return json.loads(await process.stdout.readline())
        finally:
            self.free.put_nowait(process)

    async def stop(self):
        while not self.free.empty():
            process = self.free.get_nowait()
            process.stdin.close()
            await process.wait()


async def main():
    parser = argparse.ArgumentParser(description="hand-written reference loop for Flywheel's throughput benchmark")
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--store", required=True)
    parser.add_argument("--generator", required=True)
    parser.add_argument("--solver", required=True)
    parser.add_argument("--checker", required=True)
    args = parser.parse_args()

    db = sqlite3.connect(args.store)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS examples (idx INTEGER PRIMARY KEY, prompt_hash TEXT, payload BLOB)")
    pools = [Pool(shlex.split(command), args.workers) for command in (args.generator, args.solver, args.checker)]
    generator, solver, checker = pools
    # Its own timer starts here: starting the programs is part of the work.
    start = time.monotonic()
    for pool in pools:
        await pool.start()

    seen = set()
    pending = []
    slots = asyncio.Semaphore(args.parallelism)

    async def item(index):
        async with slots:
            task = (await generator.call(
                {"op": "generate", "id": f"g-{index}", "seed": index, "difficulty": 1, "split": "train"}))["task"]
            digest = hashlib.sha256(" ".join(task["prompt"].lower().split()).encode()).hexdigest()
            if digest in seen:
                return
            seen.add(digest)
            shown = {key: value for key, value in task.items() if key != "reference"}
            answer = (await solver.call(
                {"op": "solve", "id": f"s-{index}", "task": shown, "examples": [], "attempt": 0, "seed": index}))["answer"]
            verdict = await checker.call({"op": "check", "id": f"c-{index}", "task": task, "answer": answer})
            if verdict.get("accept"):
                example = json.dumps({"prompt": task["prompt"], "answer": answer, "reference": task.get("reference")})
                pending.append((index, digest, compress(example.encode())))
                if len(pending) >= 100:
                    db.executemany("INSERT INTO examples VALUES (?, ?, ?)", pending)
                    db.commit()
                    pending.clear()

    await asyncio.gather(*(item(index) for index in range(args.items)))
    db.executemany("INSERT INTO examples VALUES (?, ?, ?)", pending)
    db.commit()
    seconds = time.monotonic() - start
    for pool in pools:
        await pool.stop()
    print(f"reference loop: {args.items} items in {seconds * 1000:.0f} ms = {args.items / seconds:.0f} items/s")


if __name__ == "__main__":
    asyncio.run(main())
