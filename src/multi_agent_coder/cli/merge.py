"""`macoder merge T001`: merge a task's PR on the local forge, which completes the task."""

from __future__ import annotations

import argparse

from multi_agent_coder.cli.common import settings_of


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="TASK_ID", help="the task whose PR to merge")


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.forge.local import LocalForge
    from multi_agent_coder.git.repo import Repo
    from multi_agent_coder.ids import validate_task_id

    task_id = validate_task_id(args.task_id)
    settings = settings_of(args)
    repo = Repo.open(".")
    pr = LocalForge(repo).merge(task_id, (settings.git_author_name, settings.git_author_email))
    print(f"merged PR #{pr.number} ({pr.branch}) into {pr.base} at {str(pr.merged_sha)[:10]}")
    return 0
