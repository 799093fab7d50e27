#!/usr/bin/env python3
"""Flywheel test fixture: a generator that leaks held-out tasks into training (protocol v1, op "generate").

    python3 -u contaminating_gen.py --record FILE

split "heldout": a unique prompt made by random.Random(seed): a paragraph of
  30-40 words from a ~200-word vocabulary, then "What is A + B?". It is
  appended to FILE as one line {"prompt": ..., "reference": ...} (unless FILE
  already holds it). meta {"contamination": "source"}.
split "train", with the records of FILE sorted by prompt (so the choice does
  not depend on the order in which workers appended them):
  seed % 5 == 0  exact copy of record[seed % count], UPPER-CASED, every space
                 doubled, same reference; meta {"contamination": "exact"}
  seed % 5 == 1  near copy: the first 20 words of record[seed % count], then
                 15-20 other words, then a new "What is A + B?";
                 meta {"contamination": "near"}
  otherwise      a clean unique prompt from a disjoint vocabulary;
                 meta {"contamination": "none"}
  If FILE has no records yet, every train prompt is clean.
Every prompt ends in "What is A + B?" and the reference is the sum as a string,
so arith_solve.py and exact_check.py work on these tasks. A and B range as in
arith_gen.py (difficulty 1: 0..999). FILE is locked (flock) while read or
appended, so parallel workers may share it; a relative FILE is resolved
against the program's working directory.
"""
import argparse
import fcntl
import json
import os
import random
import sys

from fixture_protocol import BadRequest, field, require_op, run, serve

# Two disjoint vocabularies of 196 pseudo-words: held-out words are 4 letters
# (CV+CV), clean train words are 6 letters (CVC+CVC), so they never coincide.
_SHORT = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "fu", "gi", "ha"]
_LONG = ["bor", "cel", "dun", "fim", "gar", "hes", "jol", "kit", "lum", "nax", "pid", "quo", "ros", "tev"]
HELDOUT_VOCAB = [a + b for a in _SHORT for b in _SHORT]
CLEAN_VOCAB = [a + b for a in _LONG for b in _LONG]
NEAR_PREFIX_WORDS = 20


def question(rng, difficulty):
    hi = 10 ** (min(max(difficulty, 1), 30) + 2) - 1
    a, b = rng.randint(0, hi), rng.randint(0, hi)
    return f"What is {a} + {b}?", str(a + b)


def words(rng, vocab, lo, hi):
    return [rng.choice(vocab) for _ in range(rng.randint(lo, hi))]


def read_records(path):
    """All distinct records of FILE, sorted by prompt; [] if FILE does not exist."""
    try:
        f = open(path, "r", encoding="utf-8")
    except FileNotFoundError:
        return []
    with f:
        fcntl.flock(f, fcntl.LOCK_SH)
        lines = f.readlines()
    records = {}
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
            records[rec["prompt"]] = str(rec["reference"])
        except (ValueError, KeyError, TypeError):
            print(f"contaminating_gen: {path}:{n}: skipping a malformed record", file=sys.stderr)
    return sorted(records.items())


def record(path, prompt, reference):
    with open(path, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        for line in f:
            try:
                if json.loads(line).get("prompt") == prompt:
                    return
            except (ValueError, AttributeError):
                pass
        f.write(json.dumps({"prompt": prompt, "reference": reference}) + "\n")
        f.flush()
        os.fsync(f.fileno())


def generate(req, path):
    seed = field(req, "seed", int, "an integer")
    difficulty = field(req, "difficulty", int, "an integer")
    split = req.get("split")
    if split not in ("train", "heldout"):
        raise BadRequest("field 'split' must be \"train\" or \"heldout\"")
    rng = random.Random(seed)
    if split == "heldout":
        text = words(rng, HELDOUT_VOCAB, 30, 40)
        q, ref = question(rng, difficulty)
        prompt = " ".join(text) + " " + q
        record(path, prompt, ref)
        return {"prompt": prompt, "reference": ref, "meta": {"contamination": "source"}}
    records = read_records(path)
    if records and seed % 5 == 0:
        prompt, ref = records[seed % len(records)]
        return {"prompt": prompt.upper().replace(" ", "  "), "reference": ref,
                "meta": {"contamination": "exact"}}
    if records and seed % 5 == 1:
        prompt, _ = records[seed % len(records)]
        text = prompt.split()[:NEAR_PREFIX_WORDS] + words(rng, CLEAN_VOCAB, 15, 20)
        q, ref = question(rng, difficulty)
        return {"prompt": " ".join(text) + " " + q, "reference": ref,
                "meta": {"contamination": "near"}}
    text = words(rng, CLEAN_VOCAB, 30, 40)
    q, ref = question(rng, difficulty)
    return {"prompt": " ".join(text) + " " + q, "reference": ref, "meta": {"contamination": "none"}}


def handle(req, args):
    require_op(req, "generate")
    return {"id": req.get("id"), "task": generate(req, args.record)}


def main():
    parser = argparse.ArgumentParser(description="Flywheel fixture: contaminating generator")
    parser.add_argument("--record", required=True, metavar="FILE",
                        help="JSON Lines file of held-out prompts (appended on heldout, read on train)")
    args = parser.parse_args()
    serve(lambda req: handle(req, args))


if __name__ == "__main__":
    run(main)
