"""`macoder context T001`: exactly what the agent would be sent, and its size."""

from __future__ import annotations

import argparse
import sys

from multi_agent_coder.cli.common import add_backlog_option, load_valid, settings_of
from multi_agent_coder.errors import EXIT_OK, EXIT_PROBLEMS


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="TASK_ID", help="the task, e.g. T001")
    add_backlog_option(parser)


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.context.build import build_prompt
    from multi_agent_coder.errors import UnknownTaskError
    from multi_agent_coder.ids import validate_task_id
    from multi_agent_coder.visible import visible

    task_id = validate_task_id(args.task_id)
    backlog, result = load_valid(args)
    index = backlog.task_index().get(task_id)
    if index is None:
        raise UnknownTaskError(task_id, result.path, [t.id for t in backlog.tasks])
    settings = settings_of(args).context_settings()
    prompt = build_prompt(backlog.tasks[index], settings)
    shown = visible(prompt.text, lines=True)  # the exact prompt, but inert on a terminal
    sys.stdout.write(shown if shown.endswith("\n") else shown + "\n")
    prefix = f"tasks[{index}]"
    for problem in result.problems:
        if problem.field == prefix or problem.field.startswith((prefix + ".", prefix + "[")):
            print(problem.render(), file=sys.stderr)
    print(f"-- {prompt.size} bytes (limit {settings.max_bytes})", file=sys.stderr)
    return EXIT_OK if prompt.size <= settings.max_bytes else EXIT_PROBLEMS
