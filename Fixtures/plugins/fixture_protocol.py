"""What the fixture plugins share: the loop of Flywheel's JSON Lines protocol v1 and its request checks.

A fixture imports this file from its own folder (Python puts a script's folder first on sys.path):

    from fixture_protocol import BadRequest, field, run, serve

    def handle(req):
        ...                       # a response object, or None when nothing is to be written
    run(lambda: serve(handle))

`serve` answers each non-blank line of stdin with one line of JSON on stdout, flushed at once: `handle`'s
response, or {"id": ID, "error": ...} when the line is not a JSON object (ID null), when `handle` raises
BadRequest (its message), or when it raises anything else (the traceback goes to stderr). `run` ends the program
quietly when the runner has gone away (a closed pipe), with status 0.
"""
import json
import sys
import traceback


class BadRequest(Exception):
    """The request cannot be served; the message is the error the fixture answers with."""


def field(obj, name, kind, what):
    """obj[name] when it is a `kind` (never a bool), else BadRequest naming the field and `what` it must be."""
    value = obj.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"field {name!r} must be {what}")
    return value


def require_op(req, op):
    if req.get("op") != op:
        raise BadRequest(f"unsupported op {req.get('op')!r}; this program serves {op!r}")


def write_line(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def serve(handle):
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        rid = None
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise BadRequest("request must be a JSON object")
            rid = req.get("id")
            resp = handle(req)
        except BadRequest as e:
            resp = {"id": rid, "error": str(e)}
        except ValueError as e:  # invalid JSON or invalid UTF-8
            resp = {"id": rid, "error": f"malformed request line: {e}"}
        except Exception as e:  # never crash on a request
            traceback.print_exc(file=sys.stderr)
            resp = {"id": rid, "error": f"internal error: {type(e).__name__}: {e}"}
        if resp is not None:
            write_line(json.dumps(resp))


def run(main):
    try:
        main()
    except BrokenPipeError:  # the runner went away; nothing left to answer
        sys.stderr.close()
    sys.exit(0)
