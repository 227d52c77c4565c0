"""`macoder status`: each task's standing, from the default branch, the ledger and the PRs."""

from __future__ import annotations

import argparse
import json

from multi_agent_coder.cli.common import add_backlog_option, cell, open_session
from multi_agent_coder.visible import one_line


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_backlog_option(parser)
    parser.add_argument("--json", action="store_true", help="print the states as JSON")


def run(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        snapshot = session.snapshot()
        routes = {task.id: session.route(task) for task in snapshot.backlog.tasks}
    state = snapshot.state
    rows = [
        {
            "task_id": view.task_id,
            "title": view.task.title,
            "state": view.label,
            "attempts": view.attempts,
            # The open PR, or the closed / merged one a person's answer is about.
            "pr": shown.number if (shown := view.pr or view.answered) is not None else None,
            "kind": routes[view.task_id].kind.value,
            "model": routes[view.task_id].model,
            "detail": view.detail(state.max_attempts),
        }
        for view in state.views
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    title = cell(f"{snapshot.backlog.track_id} on {snapshot.branch}")
    table = Table(title=title, title_justify="left")
    for column in ("task", "state", "attempts", "PR", "title", "model", "detail"):
        table.add_column(column)
    for row in rows:
        pr = f"#{row['pr']}" if row["pr"] else "-"
        table.add_row(
            cell(row["task_id"]),
            cell(row["state"]),
            cell(row["attempts"]),
            cell(pr),
            cell(one_line(str(row["title"]))),
            cell(f"{row['kind']} -> {row['model']}"),
            cell(row["detail"]),
        )
    Console().print(table)
    return 0
