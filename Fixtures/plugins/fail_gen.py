#!/usr/bin/env python3
"""Flywheel test fixture: a generator that refuses everything (protocol v1, op "generate").

    python3 -u fail_gen.py

Every request gets {"id": ..., "error": "generator refused"}, for an all-errors round.
"""
import argparse

from fixture_protocol import BadRequest, run, serve


def refuse(req):
    raise BadRequest("generator refused")


def main():
    argparse.ArgumentParser(description="Flywheel fixture: always-failing generator").parse_args()
    serve(refuse)


if __name__ == "__main__":
    run(main)
