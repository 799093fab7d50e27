#!/usr/bin/env python3
"""Flywheel protocol v1 adapter for reasoning-gym (generate and check).

Run it with any python3: it re-executes itself in the reasoning-gym venv made by ops/install-reasoning-gym.sh
(under $FLYWHEEL_CACHE, else $XDG_CACHE_HOME/flywheel or ~/.cache/flywheel) when this Python lacks the library:

    python3 -u adapter.py --family letter_counting --config '{"min_words": 5, "max_words": 5}'

generate: the task is item 0 of create_dataset(FAMILY, size=1, seed=SEED, **CONFIG), so the same
          (family, config, seed) always gives the same task. prompt = the question;
          reference = {"family", "config", "seed", "rg_version", "answer"} (not the entry: its metadata is not
          always JSON-serialisable and some scorers break after a JSON round trip; "answer" is the entry's answer,
          for rationalization hints only: the checker scores against the rebuilt entry); meta = {"family",
          "difficulty"}.
check:    rebuilds the entry from the reference, makes sure its question is the task's prompt, and
          accepts only ds.score_answer(answer, entry) == 1.0 exactly (the score itself is reported).

--curriculum: the request's `difficulty` d picks the family's curriculum level max(d, 1) - 1 (so difficulty 1
          is the easiest level); --config, if given, is laid over the curriculum's values.

Without --curriculum the difficulty only goes into meta. Items are reproducible across processes only with
PYTHONHASHSEED=0: the adapter re-executes itself with it when it is not set. stdout carries protocol lines
only: everything else the library prints goes to stderr.
"""

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile

# ---------------------------------------------------------------- process set-up (before any import of the library)

def _interpreter():
    """This Python when it has reasoning_gym, else the venv made by ops/install-reasoning-gym.sh."""
    import importlib.util
    if importlib.util.find_spec("reasoning_gym") is not None:
        return sys.executable
    cache = os.environ.get("FLYWHEEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flywheel")
    venv = os.path.join(cache, "venv-rg", "bin", "python")
    if not os.access(venv, os.X_OK):
        sys.stderr.write(f"reasoning_gym adapter: reasoning_gym is not installed and {venv} does not exist; "
                         "run ops/install-reasoning-gym.sh\n")
        sys.exit(2)
    return venv


# So a pipeline can name it as `[python3, -u, adapter.py, …]`: re-run in the right interpreter, hash-seeded.
_python = _interpreter()
if os.environ.get("PYTHONHASHSEED") != "0" or _python != sys.executable:
    env = dict(os.environ, PYTHONHASHSEED="0")
    os.execve(_python, [_python, "-u", os.path.abspath(__file__), *sys.argv[1:]], env)

if not os.environ.get("MPLCONFIGDIR"):
    os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="flywheel-rg-mpl-")

# Keep the protocol stream clean: fd 1 becomes a copy of stderr for everything else (Python prints and C
# writes alike); responses go to a private duplicate of the original stdout.
_proto_fd = os.dup(1)
os.dup2(2, 1)
sys.stdout = sys.stderr
PROTO = os.fdopen(_proto_fd, "w", encoding="utf-8", buffering=1, newline="\n")

MAX_SEED = 2**53

# Families whose items or scores cannot be trusted through this adapter.
REFUSED = {
    "game_of_life_halting": "its scorer accepts any answer",
    "codeio": "its items are not reproducible across processes",
}


def log(msg):
    print(f"reasoning_gym adapter: {msg}", file=sys.stderr, flush=True)


def fail_startup(msg):
    log(msg)
    sys.exit(2)


def plain(value):
    """A JSON-safe copy of a configuration value (tuples become lists, enums their values)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (int, float, str, bool)):
        return plain(value.value)
    return value


class Adapter:
    def __init__(self, family, config, curriculum):
        with contextlib.redirect_stdout(sys.stderr):
            import reasoning_gym
            from reasoning_gym.factory import CURRICULA, DATASETS
        self.rg = reasoning_gym
        try:
            import importlib.metadata

            self.rg_version = importlib.metadata.version("reasoning-gym")
        except Exception:  # pragma: no cover
            self.rg_version = getattr(reasoning_gym, "__version__", "unknown")
        self.datasets = DATASETS
        self.curricula = CURRICULA
        self.family = family
        self.config = config
        self.curriculum = curriculum
        if family is not None:
            self.check_family(family)
            if curriculum and family not in CURRICULA:
                fail_startup(f"family {family!r} has no curriculum (drop --curriculum)")
            # Fail fast on a bad configuration, with the library's own message.
            try:
                self.entry(family, self.config_for(1), 0)
            except Exception as exc:
                fail_startup(f"bad --config for {family!r}: {type(exc).__name__}: {exc}")

    def check_family(self, family):
        if family in REFUSED:
            fail_startup(f"family {family!r} is refused: {REFUSED[family]}")
        if family not in self.datasets:
            fail_startup(f"unknown family {family!r}; known: {', '.join(sorted(self.datasets))}")

    def config_for(self, difficulty):
        """The create_dataset keyword arguments for a difficulty (JSON-safe)."""
        if not self.curriculum:
            return dict(self.config)
        from reasoning_gym.coaching.base_curriculum import DefaultCurriculumContext, RangeAttributeMode
        from reasoning_gym.coaching.attributes import RangeAttributeDefinition

        cur = self.curricula[self.family]()
        cur.set_global_level(max(int(difficulty), 1) - 1)
        cfg = cur.generate_configuration({"seed": 0, "size": 1},
                                         context=DefaultCurriculumContext(mode=RangeAttributeMode.INCLUSIVE))
        fields = []
        for attr in cur.attributes.values():
            if isinstance(attr, RangeAttributeDefinition):
                fields += [attr.lower_field_name, attr.upper_field_name]
            else:
                fields.append(attr.field_name)
        out = {name: plain(getattr(cfg, name)) for name in fields}
        out.update(self.config)
        return out

    def coerce(self, family, config):
        """JSON values -> the config dataclass's types where JSON cannot say them (enums, tuples)."""
        import enum
        import typing

        cfg_cls = self.datasets[family][1]
        try:
            hints = typing.get_type_hints(cfg_cls)
        except Exception:
            hints = getattr(cfg_cls, "__annotations__", {})
        out = {}
        for key, value in config.items():
            hint = hints.get(key)
            candidates = [hint] + list(typing.get_args(hint)) if hint is not None else []
            for t in candidates:
                if isinstance(t, type) and issubclass(t, enum.Enum) and not isinstance(value, t):
                    try:
                        value = t(value)
                        break
                    except ValueError:
                        pass
            if isinstance(value, list) and (hint is tuple or typing.get_origin(hint) is tuple):
                value = tuple(value)
            out[key] = value
        return out

    def entry(self, family, config, seed):
        with contextlib.redirect_stdout(sys.stderr):
            ds = self.rg.create_dataset(family, size=1, seed=seed, **self.coerce(family, config))
            return ds, ds[0]

    # ------------------------------------------------------------ ops

    def generate(self, req):
        if self.family is None:
            raise RequestError("generate needs --family")
        seed = req.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < MAX_SEED:
            raise RequestError("seed must be an integer in [0, 2^53)")
        difficulty = req.get("difficulty", 1)
        if not isinstance(difficulty, int) or isinstance(difficulty, bool):
            raise RequestError("difficulty must be an integer")
        config = self.config_for(difficulty)
        _, entry = self.entry(self.family, config, seed)
        question = entry["question"]
        if not isinstance(question, str):
            raise RequestError("the family produced a non-text question")
        return {
            "task": {
                "prompt": question,
                "reference": {"family": self.family, "config": config, "seed": seed,
                              "rg_version": self.rg_version, "answer": plain(entry.get("answer"))},
                "meta": {"family": self.family, "difficulty": difficulty},
            }
        }

    def check(self, req):
        task = req.get("task")
        if not isinstance(task, dict):
            raise RequestError("task must be an object")
        ref = task.get("reference")
        if not isinstance(ref, dict):
            raise RequestError("task has no reference object")
        family, config, seed = ref.get("family"), ref.get("config", {}), ref.get("seed")
        if not isinstance(family, str):
            raise RequestError("reference.family must be a string")
        if self.family is not None and family != self.family:
            raise RequestError(f"reference is for family {family!r}, this checker serves {self.family!r}")
        if family in REFUSED:
            raise RequestError(f"family {family!r} is refused: {REFUSED[family]}")
        if family not in self.datasets:
            raise RequestError(f"unknown family {family!r}")
        if not isinstance(config, dict):
            raise RequestError("reference.config must be an object")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < MAX_SEED:
            raise RequestError("reference.seed must be an integer in [0, 2^53)")
        answer = req.get("answer")
        if not isinstance(answer, str):
            raise RequestError("answer must be a string")
        ds, entry = self.entry(family, config, seed)
        prompt = task.get("prompt")
        # (compared without surrounding whitespace, in case the prompt was trimmed on the way)
        if prompt is not None and (not isinstance(prompt, str) or prompt.strip() != entry["question"].strip()):
            raise RequestError("the rebuilt question differs from the task's prompt "
                               "(another reasoning-gym version or PYTHONHASHSEED?)")
        try:
            with contextlib.redirect_stdout(sys.stderr):
                score = ds.score_answer(answer, entry)
        except Exception as exc:  # some scorers raise on malformed answers: that is a wrong answer
            return {"accept": False, "score": 0.0,
                    "reason": f"scorer raised {type(exc).__name__}: {str(exc)[:200]}"}
        try:
            score = float(score)
        except (TypeError, ValueError):
            raise RequestError(f"scorer returned a non-number: {score!r}")
        if math.isnan(score):
            score = 0.0
        score = min(max(score, 0.0), 1.0)
        accept = score == 1.0
        if accept:
            reason = "score 1.0"
        else:
            expected = entry.get("answer")
            reason = f"score {score:.4g}"
            if isinstance(expected, str):
                reason += f"; expected {expected[:200]!r}"
        return {"accept": accept, "score": score, "reason": reason}


class RequestError(Exception):
    pass


def respond(obj):
    PROTO.write(json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n")
    PROTO.flush()


def serve(adapter):
    ops = {"generate": adapter.generate, "check": adapter.check}
    for raw in sys.stdin.buffer:
        rid = None
        try:
            line = raw.decode("utf-8").strip()
            if not line:
                continue
            req = json.loads(line)
            if not isinstance(req, dict):
                raise RequestError("request is not a JSON object")
            rid = req.get("id")
            if not isinstance(rid, str):
                raise RequestError("id must be a string")
            op = req.get("op")
            if op not in ops:
                raise RequestError(f"unsupported op {op!r} (this adapter serves generate and check)")
            body = ops[op](req)
            respond({"id": rid, **body})
        except RequestError as exc:
            respond({"id": rid, "error": str(exc)})
        except (UnicodeDecodeError, ValueError) as exc:
            respond({"id": rid, "error": f"bad request: {type(exc).__name__}: {str(exc)[:200]}"})
        except Exception as exc:  # never crash on one item
            log(f"request {rid!r} failed: {type(exc).__name__}: {exc}")
            respond({"id": rid, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", help="reasoning-gym dataset name (required for generate)")
    ap.add_argument("--config", default="{}", help="JSON object of the family's create_dataset options")
    ap.add_argument("--curriculum", action="store_true",
                    help="map the request's difficulty d to curriculum level max(d,1)-1")
    args = ap.parse_args()
    try:
        config = json.loads(args.config)
    except ValueError as exc:
        fail_startup(f"--config is not JSON: {exc}")
    if not isinstance(config, dict):
        fail_startup("--config must be a JSON object")
    for key in ("seed", "size"):
        if key in config:
            fail_startup(f"--config must not set {key!r}: the adapter sets it per item")
    adapter = Adapter(args.family, config, args.curriculum)
    serve(adapter)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
