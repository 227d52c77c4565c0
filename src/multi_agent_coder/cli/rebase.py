"""`macoder rebase T001`: a failing task's entry rewritten by the rebase model, as its own PR.

The task's attempts since it was last asked for (their reasons, from the run ledger) go to the
rebase model (`models.rebase`, else the implementation model) with the entry as the default
branch has it; the rewrite must pass `macoder check` and fit the agent's prompt uncut, and is
proposed on `macoder/rebase-<id>`: merged, the task runs again from the new entry with its
attempts reset; closed, it stays as it was. `--dry-run` prints the backlog's diff instead.
"""

from __future__ import annotations

import argparse
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
    from multi_agent_coder.cli.rounds import answer, progress
    from multi_agent_coder.ids import validate_task_id
    from multi_agent_coder.run.rebase import rebase

    task_id = validate_task_id(args.task_id)
    with open_session(args) as session:
        report = rebase(
            session, task_id, all_checks(args), dry_run=args.dry_run, on_event=progress(args)
        )
    return answer(args, report, show)


def show(report: RebaseReport) -> int:
    """The outcome in words: the proposal's PR (or the diff, dry run), or why there is none."""
    from multi_agent_coder.cli.rounds import accepted_or_raise, print_dry_run
    from multi_agent_coder.visible import visible

    rounds = accepted_or_raise(
        report,
        failed=f"nothing was proposed for {report.task_id}",
        still=f"the rewrite of {report.task_id} still has",
        unchanged="nothing was proposed",
    )
    if report.dry_run or report.pr is None:
        print_dry_run(
            report.diff,
            f"would propose a rewrite of {report.task_id} ({report.why}; {rounds}); "
            "nothing proposed (dry run)",
        )
        return 0
    print(
        f"proposed a rewrite of {report.task_id} ({report.why}): PR #{report.pr.number} "
        f"{report.pr.operation} on {visible(report.branch)} ({rounds}); merge it to run the task "
        "again with its attempts reset"
    )
    return 0
