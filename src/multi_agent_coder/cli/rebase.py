"""`macoder rebase T001`: a failing task's entry rewritten by the rebase model, as its own PR.

The task's attempts since it was last asked for (their reasons, from the run ledger) go to the
rebase model (`models.rebase`, else the implementation model) with the entry as the default
branch has it; the rewrite must pass `macoder check` and fit the agent's prompt uncut, and is
proposed on `macoder/rebase-<id>`: merged, the task runs again from the new entry with its
attempts reset; closed, it stays as it was. `--dry-run` prints the backlog's diff instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from multi_agent_coder.cli.common import add_backlog_option, all_checks, open_session

if TYPE_CHECKING:
    from multi_agent_coder.run.rebase import RebaseReport


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="TASK_ID", help="the task whose entry to rewrite")
    add_backlog_option(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="print the backlog's diff; propose nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.ids import validate_task_id
    from multi_agent_coder.run.rebase import rebase
    from multi_agent_coder.visible import visible

    task_id = validate_task_id(args.task_id)

    def say(message: str) -> None:
        if not args.json:
            print(visible(message), file=sys.stderr)

    with open_session(args) as session:
        report = rebase(session, task_id, all_checks(args), dry_run=args.dry_run, on_event=say)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
        return 0 if report.ok else 1
    return show(report)


def show(report: RebaseReport) -> int:
    """The outcome in words: the proposal's PR (or the diff, dry run), or why there is none."""
    from multi_agent_coder.errors import ProblemsFound
    from multi_agent_coder.visible import visible

    used = len(report.rounds)
    rounds = f"{used} round{'s' if used != 1 else ''} of {report.as_json()['max_rounds']}"
    if report.failure:
        raise ProblemsFound([], f"{report.failure}; nothing was proposed for {report.task_id}")
    if not report.ok:
        count = len(report.problems)
        raise ProblemsFound(
            report.problems,
            f"the rewrite of {report.task_id} still has {count} problem"
            f"{'s' if count != 1 else ''} after {rounds}; nothing was proposed",
        )
    if report.dry_run or report.pr is None:
        sys.stdout.write(visible(report.diff, lines=True))
        print(
            f"would propose a rewrite of {report.task_id} ({report.why}; {rounds}); "
            "nothing proposed (dry run)",
            file=sys.stderr,
        )
        return 0
    print(
        f"proposed a rewrite of {report.task_id} ({report.why}): PR #{report.pr.number} "
        f"{report.pr.operation} on {visible(report.branch)} ({rounds}); merge it to run the task "
        "again with its attempts reset"
    )
    return 0
