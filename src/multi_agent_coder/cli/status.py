"""`macoder status`: each task's state, from the default branch, the ledger and the PRs."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from multi_agent_coder.cli.common import settings_of


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the states as JSON")


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.forge.local import LocalForge
    from multi_agent_coder.git.ledger import Attempt, Ledger, attempts, live_leases
    from multi_agent_coder.git.repo import Repo
    from multi_agent_coder.run.orchestrator import backlog_at
    from multi_agent_coder.run.status import derive

    settings = settings_of(args)
    repo = Repo.open(".")
    branch = repo.default_branch()
    backlog = backlog_at(repo, str(repo.commit(branch).id), settings.backlog)
    records = Ledger(repo).read()
    last: dict[str, Attempt] = {r.task: r for r in records if isinstance(r, Attempt)}
    states = derive(
        backlog,
        live=live_leases(records, time.time()),
        attempts=attempts(records),
        last_attempts=last,
        prs=LocalForge(repo).list_prs(),
        max_attempts=settings.max_attempts,
    )
    if args.json:
        print(json.dumps([asdict(s) for s in states], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{backlog.track_id} on {branch}", title_justify="left")
    for column in ("task", "state", "attempts", "PR", "title", "detail"):
        table.add_column(column)
    for s in states:
        table.add_row(
            s.task_id, s.state, str(s.attempts), f"#{s.pr}" if s.pr else "-", s.title, s.detail
        )
    Console().print(table)
    return 0
