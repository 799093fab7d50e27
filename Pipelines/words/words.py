#!/usr/bin/env python3
"""Word tasks for a small LLM (Flywheel protocol v1, ops "generate" and "check"), standard library only.

    python3 -u words.py

generate: a task of family "first-letter" (the first letter of a word) or "uppercase" (the word in capitals),
chosen and filled by random.Random(seed); split "heldout" and "train" draw from the same families.
check: exact match after trimming spaces and one trailing period (a first letter in either case); score 1.0 or 0.0.
"""
import json
import random
import sys

WORDS = """
apple banana cherry garden window pencil rabbit silver orange yellow purple forest river mountain island
candle bottle basket butter coffee dinner doctor engine family farmer finger flower friend guitar hammer
helmet honey jacket kitten ladder lemon letter magnet market mirror monkey needle number ocean office
paper parrot peanut pepper pillow planet pocket potato puzzle rocket saddle salad school shadow shovel
spider spring square stable summer sunset tablet teacher ticket tiger tomato turtle valley velvet violin
wallet winter wizard zebra anchor arrow badge barrel beacon blanket bridge bucket cactus camera canvas
carpet castle cotton crayon dragon eagle feather fossil galaxy ginger glove harbor insect jungle kettle
lantern lizard marble meadow muffin napkin nickel noodle orchid oyster palace panda pebble pirate plastic
pumpkin quartz raven ribbon saucer scarf signal sketch sponge statue stream tunnel umbrella vessel walrus
whistle yogurt
""".split()

FAMILIES = {
    "first-letter": ("What is the first letter of the word \"{w}\"? Answer with the letter only.", lambda w: w[0]),
    "uppercase": ("Write the word \"{w}\" in capital letters. Answer with the word only.", lambda w: w.upper()),
}


def generate(request):
    rng = random.Random(request["seed"])
    family = sorted(FAMILIES)[rng.randrange(len(FAMILIES))]
    word = WORDS[rng.randrange(len(WORDS))]
    template, answer = FAMILIES[family]
    return {"task": {"prompt": template.format(w=word), "reference": answer(word),
                     "meta": {"family": family, "difficulty": request.get("difficulty", 1)}}}


def check(request):
    answer = request["answer"].strip()
    if answer.endswith("."):
        answer = answer[:-1].strip()
    reference = request["task"]["reference"]
    family = (request["task"].get("meta") or {}).get("family")
    accept = answer.lower() == reference.lower() if family == "first-letter" else answer == reference
    return {"accept": accept, "score": 1.0 if accept else 0.0,
            "reason": "match" if accept else f"expected {reference!r}, got {answer[:80]!r}"}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        request_id = None
        try:
            request = json.loads(line)
            request_id = request.get("id")
            op = {"generate": generate, "check": check}.get(request.get("op"))
            if op is None:
                raise ValueError(f"unsupported op {request.get('op')!r}")
            response = op(request)
        except Exception as error:  # a bad request is an error response, never a crash
            response = {"error": f"{type(error).__name__}: {error}"}
        response["id"] = request_id
        print(json.dumps(response), flush=True)


if __name__ == "__main__":
    main()
