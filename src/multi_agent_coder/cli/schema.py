"""`macoder schema`: the JSON Schema of BACKLOG.yaml, generated from the model."""

from __future__ import annotations

import argparse
import sys


def add_parser(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.backlog.schema import schema_text

    del args
    sys.stdout.write(schema_text())
    return 0
