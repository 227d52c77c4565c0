"""`macoder stats`: where the backlog stands and what holds it up."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from multi_agent_coder.cli.common import add_backlog_option, cell, load_valid, settings_of


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_backlog_option(parser)
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.backlog.ready import stats

    backlog, _ = load_valid(args)
    result = stats(backlog, max_attempts=settings_of(args).max_attempts)
    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=cell(f"{backlog.track_id}: {result.total} tasks"), title_justify="left")
    table.add_column("status")
    table.add_column("tasks", justify="right")
    for status, count in result.by_status.items():
        table.add_row(status, str(count))
    console.print(table)
    console.print(cell(f"ready now ({len(result.ready)}): {', '.join(result.ready) or '-'}"))
    for blocked in result.blocked:
        reasons = [f"waits on {dep} ({status})" for dep, status in blocked.waiting_on]
        if blocked.attempts_exhausted:
            reasons.append(f"attempts used up (max {settings_of(args).max_attempts})")
        if blocked.leased:
            reasons.append("running (leased)")
        console.print(cell(f"blocked {blocked.task_id}: {'; '.join(reasons)}"))
    chain = result.longest_chain
    console.print(cell(f"longest dependency chain ({len(chain)}): {' -> '.join(chain) or '-'}"))
    return 0
