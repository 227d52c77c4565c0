"""`macoder merge T001`: merge a task's PR on the local forge, which completes the task."""

from __future__ import annotations

import argparse

from multi_agent_coder.cli.common import add_backlog_option, open_session


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="TASK_ID", help="the task whose PR to merge")
    add_backlog_option(parser)


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.ids import validate_task_id
    from multi_agent_coder.visible import visible

    task_id = validate_task_id(args.task_id)
    with open_session(args) as session:
        pr = session.merge(task_id)
    print(visible(f"merged PR #{pr.number} ({pr.branch}) into {pr.base} at {pr.merged_sha!s:.10}"))
    return 0
