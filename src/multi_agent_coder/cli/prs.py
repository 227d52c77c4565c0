"""`macoder prs`: the local forge's pull requests."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from multi_agent_coder.cli.common import open_session


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the pull requests as JSON")
    parser.add_argument("--all", action="store_true", help="include merged and closed ones")


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.visible import visible

    with open_session(args) as session:
        prs = session.forge.list_prs(include_closed=args.all)
    if args.json:
        print(json.dumps([{**asdict(p), "state": p.state.value} for p in prs], indent=2))
        return 0
    if not prs:
        print("no pull requests" if args.all else "no open pull requests")
    for pr in prs:
        flags = " [draft]" if pr.draft else ""
        labels = f" ({', '.join(pr.labels)})" if pr.labels else ""
        shown = "\t".join(visible(part) for part in (pr.branch, pr.title + labels))
        print(f"#{pr.number}\t{pr.state.value}{flags}\t{shown}")
    return 0
