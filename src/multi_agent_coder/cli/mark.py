"""`macoder mark T001 completed`: the one way macoder changes a task's status."""

from __future__ import annotations

import argparse

from multi_agent_coder.cli.common import (
    add_backlog_option,
    backlog_path,
    display_name,
    settings_of,
)

_STATUSES = ("pending", "ready", "in_progress", "review", "completed", "failed")


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="TASK_ID", help="the task, e.g. T001")
    parser.add_argument("status", choices=_STATUSES, help="the new status")
    add_backlog_option(parser)


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.backlog.model import TaskStatus
    from multi_agent_coder.backlog.rules import check_rules
    from multi_agent_coder.backlog.write import set_task_status
    from multi_agent_coder.ids import validate_task_id

    task_id = validate_task_id(args.task_id)
    path = backlog_path(args)
    # Schema and graph rules decide whether a write is allowed; hygiene is the hooks' business.
    changed = set_task_status(
        path,
        task_id,
        TaskStatus(args.status),
        display=display_name(path),
        checks=(check_rules,),
        max_bytes=settings_of(args).max_file_bytes,
    )
    state = "set to" if changed else "already"
    print(f"{task_id}: {state} {args.status}")
    return 0
