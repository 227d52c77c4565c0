"""`macoder ready`: the tasks `macoder run` would start now, in file order.

By default this is the repository's view, the same one `run` decides from: the backlog on the
default branch, the run ledger's leases and attempts, the open pull requests. With
`--backlog-only` it is the backlog file alone, as it is on disk (what a pre-commit hook can
see): no repository is needed, and leases and pull requests are not known.
"""

from __future__ import annotations

import argparse
import json
import time

from multi_agent_coder.cli.common import add_backlog_option, load_valid, open_session, settings_of


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_backlog_option(parser)
    parser.add_argument(
        "--backlog-only",
        action="store_true",
        help="read the backlog file as it is on disk, with no repository state "
        "(no ledger, no pull requests)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of {id, title}")


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.run.state import RunState, decide
    from multi_agent_coder.visible import one_line, visible

    state: RunState
    if args.backlog_only:
        backlog, _ = load_valid(args)
        state = decide(backlog, [], [], time.time(), max_attempts=settings_of(args).max_attempts)
    else:
        with open_session(args) as session:
            state = session.snapshot().state
    if args.json:  # JSON escapes control characters itself
        print(json.dumps([{"id": t.id, "title": t.title} for t in state.ready]))
    elif state.ready:
        for task in state.ready:
            print(f"{task.id}\t{one_line(task.title)}")
    else:
        print(visible(f"no task is ready: {state.note}"))
    return 0
