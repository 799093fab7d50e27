#!/usr/bin/env python3
"""Checker for the listfn pipeline: Flywheel JSON Lines protocol v1, op "check".

Reads one JSON request per line on stdin and writes one JSON response per line on stdout, flushing after each:

  {"op":"check","id":ID,"task":{"prompt":..,"reference":{"examples":[{"input":[..],"output":..},..]},"meta":..},
   "answer":"(map (lambda (* $0 2)) $in)"}
  -> {"id":ID,"accept":true,"score":1.0,"reason":"all 6 hidden pairs match"}

The answer is parsed, type-checked and run on every hidden pair by this file's own interpreter of the listfn
DSL (written independently of the Swift one; docs/listfn.md is the shared specification). It is accepted only if
every output matches exactly. Malformed programs, type errors, runtime errors and runaway programs are rejected
with a reason; a request that cannot be understood gets {"id":ID,"error":...}. Reads until EOF, exits 0.
Python 3.11, standard library only.
"""

import json
import re
import sys

BOUND = 1_000_000          # every int made by + - * sum must satisfy |x| <= BOUND
STEP_LIMIT = 100_000       # evaluated nodes per run on one input
MAX_PAREN_DEPTH = 199      # deeper programs are rejected before anything else
MAX_ANSWER_CHARS = 100_000

INT, BOOL, LIST = "int", "bool", "list"

# name -> (result type, argument types, variables bound by each argument)
PRIMITIVES = {
    "map": (LIST, (INT, LIST), (1, 0)),
    "filter": (LIST, (BOOL, LIST), (1, 0)),
    "reverse": (LIST, (LIST,), (0,)),
    "sort": (LIST, (LIST,), (0,)),
    "take": (LIST, (INT, LIST), (0, 0)),
    "drop": (LIST, (INT, LIST), (0, 0)),
    "head": (INT, (LIST,), (0,)),
    "last": (INT, (LIST,), (0,)),
    "length": (INT, (LIST,), (0,)),
    "sum": (INT, (LIST,), (0,)),
    "max": (INT, (LIST,), (0,)),
    "min": (INT, (LIST,), (0,)),
    "fold": (INT, (INT, INT, LIST), (2, 0, 0)),
    "+": (INT, (INT, INT), (0, 0)),
    "-": (INT, (INT, INT), (0, 0)),
    "*": (INT, (INT, INT), (0, 0)),
    "mod": (INT, (INT, INT), (0, 0)),
    ">": (BOOL, (INT, INT), (0, 0)),
    "<": (BOOL, (INT, INT), (0, 0)),
    "==": (BOOL, (INT, INT), (0, 0)),
}

INTEGER = re.compile(r"-?[0-9]+")
VARIABLE = re.compile(r"\$(0|[1-9][0-9]*)")
TOKEN = re.compile(r"[()]|[^ \t\r\n()]+")


class Rejected(Exception):
    """The answer is wrong: the message is the reason."""


# ---------------------------------------------------------------- reading

def tokenize(text):
    pos = 0
    tokens = []
    for m in TOKEN.finditer(text):
        gap = text[pos:m.start()]
        if gap.strip(" \t\r\n"):
            raise Rejected("syntax error: unexpected character %r" % gap.strip(" \t\r\n")[0])
        tokens.append(m.group())
        pos = m.end()
    if text[pos:].strip(" \t\r\n"):
        raise Rejected("syntax error: unexpected trailing characters")
    return tokens


def read_sexpr(text):
    """Text -> nested Python lists of atoms (str) and ints."""
    tokens = tokenize(text)
    if not tokens:
        raise Rejected("syntax error: empty program")
    depth = 0
    for t in tokens:
        if t == "(":
            depth += 1
            if depth > MAX_PAREN_DEPTH:
                raise Rejected("syntax error: program nested too deeply")
        elif t == ")":
            depth -= 1
    stack = [[]]
    for t in tokens:
        if t == "(":
            stack.append([])
        elif t == ")":
            if len(stack) == 1:
                raise Rejected("syntax error: unbalanced ')'")
            done = stack.pop()
            if not done:
                raise Rejected("syntax error: empty form ()")
            stack[-1].append(done)
        elif INTEGER.fullmatch(t):
            value = int(t)
            if abs(value) > BOUND:
                raise Rejected("syntax error: integer literal %s is beyond +-%d" % (t, BOUND))
            stack[-1].append(value)
        else:
            stack[-1].append(t)
    if len(stack) != 1:
        raise Rejected("syntax error: missing ')'")
    if len(stack[0]) != 1:
        raise Rejected("syntax error: expected exactly one expression")
    return stack[0][0]


# ---------------------------------------------------------------- typing
# Typed nodes: ("lit", n) ("in",) ("var", k) ("prim", name, [children]); lambdas are implied by the slot.

def typecheck(expr, depth):
    """Returns (node, type) or raises Rejected."""
    if isinstance(expr, int):
        return ("lit", expr), INT
    if isinstance(expr, str):
        if expr == "$in":
            return ("in",), LIST
        m = VARIABLE.fullmatch(expr)
        if m:
            k = int(m.group(1))
            if k >= depth:
                raise Rejected("type error: variable %s is not bound by an enclosing lambda" % expr)
            return ("var", k), INT
        if expr in PRIMITIVES:
            raise Rejected("type error: %s needs arguments" % expr)
        raise Rejected("syntax error: unknown symbol %r" % expr)
    head = expr[0]
    if not isinstance(head, str) or head == "lambda" or head not in PRIMITIVES:
        if head == "lambda":
            raise Rejected("type error: a lambda may only be the function argument of map, filter or fold")
        raise Rejected("syntax error: unknown primitive %r" % (head,))
    result, arg_types, binds = PRIMITIVES[head]
    args = expr[1:]
    if len(args) != len(arg_types):
        raise Rejected("type error: %s takes %d argument(s), got %d" % (head, len(arg_types), len(args)))
    children = []
    for slot, (arg, want, bound) in enumerate(zip(args, arg_types, binds)):
        for _ in range(bound):
            if not (isinstance(arg, list) and len(arg) == 2 and arg[0] == "lambda"):
                raise Rejected("type error: argument %d of %s must be a lambda" % (slot + 1, head))
            arg = arg[1]
        node, got = typecheck(arg, depth + bound)
        if got != want:
            raise Rejected("type error: argument %d of %s must be %s, got %s" % (slot + 1, head, want, got))
        children.append(node)
    return ("prim", head, children), result


# ---------------------------------------------------------------- running

class Failed(Exception):
    """A runtime error of the program on one input."""


class Machine:
    def __init__(self, xs):
        self.xs = xs
        self.steps = 0

    def checked(self, v):
        if v > BOUND or v < -BOUND:
            raise Failed("integer %d beyond +-%d" % (v, BOUND))
        return v

    def run(self, node, env):
        self.steps += 1
        if self.steps > STEP_LIMIT:
            raise Failed("more than %d evaluation steps" % STEP_LIMIT)
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "in":
            return list(self.xs)
        if kind == "var":
            return env[-1 - node[1]]
        name, kids = node[1], node[2]
        if name == "map":
            items = self.run(kids[1], env)
            return [self.run(kids[0], env + [x]) for x in items]
        if name == "filter":
            items = self.run(kids[1], env)
            return [x for x in items if self.run(kids[0], env + [x])]
        if name == "fold":
            acc = self.run(kids[1], env)
            for x in self.run(kids[2], env):
                acc = self.run(kids[0], env + [acc, x])
            return acc
        if name in ("take", "drop"):
            n = self.run(kids[0], env)
            items = self.run(kids[1], env)
            n = min(max(n, 0), len(items))
            return items[:n] if name == "take" else items[n:]
        if name in ("+", "-", "*", "mod", ">", "<", "=="):
            a = self.run(kids[0], env)
            b = self.run(kids[1], env)
            if name == "+":
                return self.checked(a + b)
            if name == "-":
                return self.checked(a - b)
            if name == "*":
                return self.checked(a * b)
            if name == "mod":
                if b == 0:
                    raise Failed("mod by zero")
                return a % b  # Python's % already takes the divisor's sign
            if name == ">":
                return a > b
            if name == "<":
                return a < b
            return a == b
        items = self.run(kids[0], env)
        if name == "reverse":
            return items[::-1]
        if name == "sort":
            return sorted(items)
        if name == "length":
            return len(items)
        if name == "sum":
            return self.checked(sum(items))
        if not items:
            raise Failed("%s of an empty list" % name)
        if name == "head":
            return items[0]
        if name == "last":
            return items[-1]
        if name == "max":
            return max(items)
        if name == "min":
            return min(items)
        raise AssertionError(name)


# ---------------------------------------------------------------- protocol

def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def valid_value(v):
    return is_int(v) or (isinstance(v, list) and all(is_int(x) for x in v))


def show(v):
    return json.dumps(v, separators=(",", ":"))


def check(answer, examples):
    """Returns (accept, reason)."""
    if answer is None:
        return False, "no answer"
    if not isinstance(answer, str):
        return False, "the answer is not a string"
    if not answer.strip(" \t\r\n"):
        return False, "empty answer"
    if len(answer) > MAX_ANSWER_CHARS:
        return False, "answer longer than %d characters" % MAX_ANSWER_CHARS
    try:
        node, kind = typecheck(read_sexpr(answer), 0)
        if kind == BOOL:
            raise Rejected("type error: the program returns a bool, not an int or a list")
    except Rejected as e:
        return False, str(e)
    for i, ex in enumerate(examples, 1):
        machine = Machine(ex["input"])
        try:
            got = machine.run(node, [])
        except Failed as e:
            return False, "hidden pair %d: runtime error: %s" % (i, e)
        want = ex["output"]
        same = (is_int(want) and kind == INT and got == want) or (
            isinstance(want, list) and kind == LIST and got == want)
        if not same:
            return False, "hidden pair %d: expected %s, got %s" % (i, show(want), show(got))
    return True, "all %d hidden pairs match" % len(examples)


def handle(line):
    try:
        request = json.loads(line)
    except ValueError as e:
        return {"id": None, "error": "malformed JSON: %s" % e}
    if not isinstance(request, dict):
        return {"id": None, "error": "a request must be a JSON object"}
    rid = request.get("id")
    if request.get("op") != "check":
        return {"id": rid, "error": "unsupported op %r: this checker only answers \"check\"" % (request.get("op"),)}
    task = request.get("task")
    reference = task.get("reference") if isinstance(task, dict) else None
    if isinstance(reference, str):  # tolerate a reference sent as a JSON string
        try:
            reference = json.loads(reference)
        except ValueError:
            reference = None
    examples = reference.get("examples") if isinstance(reference, dict) else None
    if not isinstance(examples, list) or not examples or not all(
            isinstance(ex, dict) and isinstance(ex.get("input"), list) and all(is_int(x) for x in ex["input"])
            and "output" in ex and valid_value(ex["output"]) for ex in examples):
        return {"id": rid, "error": "task.reference.examples must be a non-empty list of {input: [int], output: int|[int]}"}
    accept, reason = check(request.get("answer"), examples)
    return {"id": rid, "accept": accept, "score": 1.0 if accept else 0.0, "reason": reason}


def main():
    sys.setrecursionlimit(20_000)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            response = handle(line)
        except Exception as e:  # never die on one request
            response = {"id": None, "error": "internal checker error: %s: %s" % (type(e).__name__, e)}
        print(json.dumps(response, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
