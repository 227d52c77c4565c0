"""`macoder close T001`: close a task's PR on the local forge without merging it — a "no".

The task is then held as rejected (`macoder status`) until its entry in the backlog changes or
a person asks again with `macoder run --retry T001`: what closing a task's PR on GitHub does.
"""

from __future__ import annotations

import argparse

from multi_agent_coder.cli.common import add_backlog_option, open_session


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="TASK_ID", help="the task whose PR to close")
    add_backlog_option(parser)


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.ids import validate_task_id
    from multi_agent_coder.visible import visible

    task_id = validate_task_id(args.task_id)
    with open_session(args) as session:
        pr = session.close_pr(task_id)
    print(
        visible(
            f"closed PR #{pr.number} ({pr.branch}) unmerged; {task_id} is rejected until its "
            f"entry changes or `macoder run --retry {task_id}`"
        )
    )
    return 0
