#!/usr/bin/env bash
# Self-test of the reasoning-gym adapter: runs requests through it and checks the replies, with answers
# computed here independently of reasoning-gym. Exit 0 when all pass, 1 on a failure, 2 when reasoning-gym
# is not installed (run ops/install-reasoning-gym.sh). Takes ~20 s.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${FLYWHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flywheel}"
PY="${FLYWHEEL_RG_PYTHON:-$CACHE/venv-rg/bin/python}"
[ -x "$PY" ] || { echo "selftest: no reasoning-gym venv at $PY: run ops/install-reasoning-gym.sh" >&2; exit 2; }

exec python3 - "$PY" "$HERE/adapter.py" <<'EOF'
import json, os, re, subprocess, sys

PY, ADAPTER = sys.argv[1], sys.argv[2]
failures = 0


def ok(cond, what):
    global failures
    print(("  ok    " if cond else "  FAIL  ") + what)
    if not cond:
        failures += 1


class Adapter:
    def __init__(self, family, config=None, extra=(), env=None):
        argv = [PY, "-u", ADAPTER, "--family", family, *extra]
        if config is not None:
            argv += ["--config", json.dumps(config)]
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env)

    def ask(self, req):
        line = req if isinstance(req, str) else json.dumps(req)
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        return json.loads(out)

    def close(self, with_stderr=False):
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        rest = self.p.stdout.read()
        code = self.p.wait(30)
        err = self.p.stderr.read()
        return (code, rest, err) if with_stderr else (code, rest)


def gen(a, seed, rid="g", difficulty=1):
    r = a.ask({"op": "generate", "id": rid, "seed": seed, "difficulty": difficulty, "split": "train"})
    assert r.get("id") == rid and "task" in r, r
    return r["task"]


def check(a, task, answer, rid="c"):
    r = a.ask({"op": "check", "id": rid, "task": task, "answer": answer})
    assert r.get("id") == rid, r
    return r


# Each family: config, an independent solver of its prompt, and a wrong answer maker.
def letters(prompt):
    letter, text = re.search(r'letter "(.)" appear in the text: "(.*)"\?$', prompt).groups()
    return str(text.lower().count(letter))


def backward(prompt):
    return prompt.rsplit(": ", 1)[1].strip()[::-1]


def add(prompt):
    a, b = re.fullmatch(r"Calculate (\d+) \+ (\d+)\.", prompt.strip()).groups()
    return str(int(a) + int(b))


def reverse_words(prompt):
    words = prompt.strip().split("Reverse this list of words: ", 1)[1].split(", ")
    return ", ".join(reversed(words))


FAMILIES = [
    ("letter_counting", {"min_words": 1, "max_words": 3}, letters),
    ("spell_backward", {"min_word_len": 3, "max_word_len": 4}, backward),
    ("basic_arithmetic", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+"],
                          "allow_parentheses": False, "allow_negation": False}, add),
    ("word_sequence_reversal", {"min_words": 2, "max_words": 3}, reverse_words),
]

tasks_seen = {}
for family, config, solve in FAMILIES:
    print(f"{family} {json.dumps(config)}")
    a = Adapter(family, config)
    right = wrong = 0
    for seed in (1, 2, 3, 1_000_003, 2**53 - 1):
        task = gen(a, seed, rid=f"g{seed}")
        ok("reference" in task and task["reference"]["seed"] == seed and task["meta"]["family"] == family
           and "answer" not in json.dumps(task["meta"]), f"generate seed {seed}: {task['prompt'][-60:]!r}")
        tasks_seen[(family, seed)] = task
        answer = solve(task["prompt"])
        r = check(a, task, answer, rid=f"c{seed}")
        right += r["accept"] is True and r["score"] == 1.0
        r = check(a, task, answer + "x", rid=f"w{seed}")
        wrong += r["accept"] is False and r["score"] < 1.0
    ok(right == 5, f"correct answers accepted: {right}/5")
    ok(wrong == 5, f"wrong answers rejected: {wrong}/5")
    code, rest = a.close()
    ok(code == 0 and rest == "", f"exits 0 at EOF with nothing more on stdout (code {code})")

print("determinism across processes and hash seeds")
for env_hash in (None, "1", "0"):
    env = dict(os.environ)
    env.pop("PYTHONHASHSEED", None)
    if env_hash is not None:
        env["PYTHONHASHSEED"] = env_hash
    family, config, _ = FAMILIES[0]
    a = Adapter(family, config, env=env)
    same = all(gen(a, s) == tasks_seen[(family, s)] for s in (1, 2, 3))
    a.close()
    ok(same, f"same tasks with PYTHONHASHSEED={env_hash}")

print("errors, not crashes")
a = Adapter("spell_backward", {"min_word_len": 3, "max_word_len": 4})
t = tasks_seen[("spell_backward", 1)]
cases = [
    ("oops", None), ('{"op":"generate"', None), ("[1, 2]", None),
    ({"op": "solve", "id": "e1"}, "e1"),
    ({"op": "generate", "id": "e2", "seed": -1}, "e2"),
    ({"op": "generate", "id": "e3", "seed": 2**53}, "e3"),
    ({"op": "generate", "id": "e4", "seed": "7"}, "e4"),
    ({"op": "check", "id": "e5", "task": {"prompt": "x"}, "answer": "y"}, "e5"),
    ({"op": "check", "id": "e6", "task": t, "answer": 5}, "e6"),
    ({"op": "check", "id": "e7", "task": dict(t, prompt="something else"), "answer": "y"}, "e7"),
    ({"op": "check", "id": "e8", "task": dict(t, reference=dict(t["reference"], family="letter_counting")),
      "answer": "y"}, "e8"),
    ({"op": "check", "id": "e9", "task": dict(t, reference=dict(t["reference"], config={"min_word_len": 0})),
      "answer": "y"}, "e9"),
]
for req, rid in cases:
    r = a.ask(req)
    ok(set(r) == {"id", "error"} and r["id"] == rid, f"{str(req)[:50]!r} -> {r['error'][:70] if 'error' in r else r}")
r = check(a, t, "", rid="empty")
ok(r["accept"] is False, "empty answer rejected")
r = check(a, t, backward(t["prompt"]).upper(), rid="case")
ok("accept" in r, f"upper-case answer judged by the scorer: accept={r.get('accept')}")
ok(check(a, t, backward(t["prompt"]), rid="still")["accept"] is True, "still serving after errors")
ok(check(a, dict(t, prompt=" " + t["prompt"] + "\n"), backward(t["prompt"]), rid="ws")["accept"] is True,
   "a prompt with extra surrounding whitespace still matches")
code, _ = a.close()
ok(code == 0, "exits 0 at EOF")

print("stdout stays clean (bf prints while generating)")
a = Adapter("bf")
outs = [a.ask({"op": "generate", "id": f"b{s}", "seed": s, "difficulty": 1}) for s in range(3)]
ok(all(o.get("id") == f"b{s}" and "task" in o for s, o in enumerate(outs)), "one JSON line per request")
code, rest = a.close()
ok(code == 0 and rest == "", "nothing else on stdout")

print("refused and bad start-up")
for family, config, needle in [("game_of_life_halting", None, "accepts any answer"),
                               ("no_such_family", None, "unknown family"),
                               ("letter_counting", {"min_words": 0}, "min_words"),
                               ("letter_counting", {"seed": 3}, "seed")]:
    a = Adapter(family, config)
    code, _, err = a.close(with_stderr=True)
    ok(code != 0 and needle in err, f"{family} {config}: exits {code}: {err.strip().splitlines()[-1][:80]}")

print("curriculum: difficulty picks the level")
a = Adapter("basic_arithmetic", extra=["--curriculum"])
t1, t4 = gen(a, 7, difficulty=1), gen(a, 7, difficulty=4)
ok(t1["reference"]["config"]["max_digits"] < t4["reference"]["config"]["max_digits"],
   f"levels differ: {t1['reference']['config']} vs {t4['reference']['config']}")
a.close()

print("FAILED: %d check(s)" % failures if failures else "all passed")
sys.exit(1 if failures else 0)
EOF
