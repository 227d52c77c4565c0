"""`macoder merge T001`: merge a task's PR on the local forge, which completes the task.

`macoder merge rebase-T001` merges the task's proposed rewrite (`macoder rebase`) instead, as
its branch `macoder/rebase-T001` is named: the task runs again from its new entry."""

from __future__ import annotations

import argparse

from multi_agent_coder.cli.common import add_backlog_option, open_session


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "task_id",
        metavar="TASK_ID",
        help="the task whose PR to merge (rebase-TASK_ID: its proposed rewrite)",
    )
    add_backlog_option(parser)


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.ids import validate_task_id
    from multi_agent_coder.visible import visible

    rewrite = args.task_id.startswith("rebase-")
    task_id = validate_task_id(args.task_id.removeprefix("rebase-"))
    with open_session(args) as session:
        pr = session.merge(task_id, kind="rebase" if rewrite else "task")
    print(visible(f"merged PR #{pr.number} ({pr.branch}) into {pr.base} at {pr.merged_sha!s:.10}"))
    return 0
