"""`macoder report`: the seed's success metrics, counted from the run ledger.

Reads the ledger only (no backlog, no pull request, no network): the numbers are those of
the attempts it records (`run/metrics.py` says what counts), in the format asked for.
"""

from __future__ import annotations

import argparse

from multi_agent_coder.cli.common import open_session

FORMATS = ("text", "json", "markdown")


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text for a terminal, json (keys in the README), markdown (a job summary)",
    )
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help="only attempts since WHEN: a date or time (2026-01-31, 2026-01-31T12:00, UTC "
        "unless it names its zone) or a time back from now (30m, 12h, 7d, 2w)",
    )
    parser.add_argument(
        "--task",
        metavar="TASK_ID",
        action="append",
        default=[],
        help="only this task's attempts (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.errors import UsageError
    from multi_agent_coder.ids import validate_task_id
    from multi_agent_coder.run.metrics import build_report, parse_since
    from multi_agent_coder.run.metrics_render import RENDERERS

    only = frozenset(validate_task_id(t) for t in args.task)
    with open_session(args) as session:
        now = session.clock()
        try:
            since = parse_since(args.since, now) if args.since is not None else None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        records, skipped = session.ledger_records()
    report = build_report(records, now, since=since, only=only, skipped_lines=skipped)
    print(RENDERERS[args.format](report), end="")
    return 0
