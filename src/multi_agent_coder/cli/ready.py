"""`macoder ready`: the tasks that can start now, in file order."""

from __future__ import annotations

import argparse
import json

from multi_agent_coder.cli.common import add_backlog_option, load_valid, settings_of


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_backlog_option(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list of {id, title}")


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.backlog.ready import ready_tasks

    backlog, _ = load_valid(args)
    ready = ready_tasks(backlog.tasks, max_attempts=settings_of(args).max_attempts)
    if args.json:
        print(json.dumps([{"id": t.id, "title": t.title} for t in ready]))
    elif ready:
        for task in ready:
            print(f"{task.id}\t{task.title}")
    else:
        print("no task is ready (all done, running, or waiting on dependencies)")
    return 0
