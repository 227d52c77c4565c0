"""`macoder doctor`: what a run needs, each checked and reported (see `run/doctor.py`)."""

from __future__ import annotations

import argparse

from multi_agent_coder.cli.common import root_of, settings_of


def add_parser(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.run.doctor import diagnose
    from multi_agent_coder.run.session import open_local
    from multi_agent_coder.visible import visible

    failed = 0
    with open_local(root_of(args), settings_of(args)) as session:
        for finding in diagnose(session):
            mark = "ok  " if finding.ok else "FAIL"
            print(visible(f"{mark} {finding.name}: {finding.detail}"))
            failed += not finding.ok
    if failed:
        print(f"{failed} check(s) failed: `macoder run` would stop at the first")
    return 1 if failed else 0
