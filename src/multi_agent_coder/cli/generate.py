"""`macoder generate specs/<track>/PLAN.md`: the implementation model turns a plan into tasks.

The new tasks are checked exactly as `macoder check` checks the backlog, repaired by the model
for a bounded number of rounds when they are not clean, and appended to BACKLOG.yaml (new ids
continue its numbering, existing tasks and comments untouched) atomically. `--dry-run` prints
the diff instead and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from multi_agent_coder.cli.common import (
    add_backlog_option,
    all_checks,
    backlog_path,
    display_name,
    open_session,
)

if TYPE_CHECKING:
    from multi_agent_coder.run.generate import GenerateReport


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "plan", metavar="PLAN_PATH", help="the plan to turn into tasks, e.g. specs/auth/PLAN.md"
    )
    add_backlog_option(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="print the backlog's diff; write nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.cli.rounds import answer, progress
    from multi_agent_coder.run.generate import GenerateRequest, generate

    path = backlog_path(args)
    plan = Path(args.plan)
    request = GenerateRequest(
        plan=plan,
        plan_display=display_name(plan),
        backlog=path,
        backlog_display=display_name(path),
        checks=all_checks(args),
        dry_run=args.dry_run,
    )
    with open_session(args) as session:
        report = generate(session, request, on_event=progress(args))
    return answer(args, report, show)


def show(report: GenerateReport) -> int:
    """The outcome in words: the diff (dry run), the ids added and the rounds used, or the
    problems left, as `path:line:col: field: message [code]` lines (exit 1)."""
    from multi_agent_coder.cli.rounds import accepted_or_raise, print_dry_run
    from multi_agent_coder.visible import visible

    unchanged = f"{report.backlog} was not changed"
    rounds = accepted_or_raise(
        report, failed=unchanged, still="the generated tasks still have", unchanged=unchanged
    )
    for warning in report.warnings:
        print(warning.render(), file=sys.stderr)
    added = report.added
    tasks = f"{len(added)} task{'s' if len(added) != 1 else ''}"
    if report.dry_run:
        print_dry_run(
            report.diff,
            f"would add {tasks} to {visible(report.backlog)}: {', '.join(added)} ({rounds}); "
            "nothing written (dry run)",
        )
        return 0
    print(f"added {tasks} to {visible(report.backlog)}: {', '.join(added)} ({rounds})")
    return 0
