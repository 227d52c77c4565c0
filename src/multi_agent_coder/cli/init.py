"""`macoder init`: the files a repository needs to start (see `scaffold.py`); never over a file."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from multi_agent_coder.errors import UsageError


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory",
        nargs="?",
        default=".",
        help="the repository to set up (default: the current directory)",
    )


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder import scaffold
    from multi_agent_coder.backlog.schema import schema_text
    from multi_agent_coder.run.checks import detect_commands, scan_repo
    from multi_agent_coder.visible import visible

    root = Path(args.directory)
    if not root.is_dir():
        raise UsageError(f"{root}: no such directory")
    facts = scan_repo(root)
    detected = detect_commands(
        facts.files, facts.package_json, "python3", configs=facts.configs
    ).test
    files = (
        (".macoder.yaml", scaffold.macoder_yaml(detected)),
        (scaffold.PROVIDERS_FILE, scaffold.opencode_json()),
        ("BACKLOG.yaml", scaffold.backlog_yaml(datetime.now(UTC))),
        (scaffold.SCHEMA_FILE, schema_text()),
        (".pre-commit-config.yaml", scaffold.precommit_yaml()),
    )
    for name, text in files:
        done = scaffold.write_new(root, name, text)
        print(
            visible(f"{'wrote' if done.created else 'kept '} {done.path}")
            + ("" if done.created else " (it exists; not changed)")
        )
    if detected:  # read from the project's own files (package.json scripts...)
        print(visible(f"test command detected: {' '.join(detected)}"))
    else:
        print("no test runner detected: set checks.test in .macoder.yaml")
    print(
        "next: name your model in .macoder.yaml (models.implementation) and its key's "
        "variable in opencode.json, then: macoder check && macoder run --dry-run"
    )
    return 0
