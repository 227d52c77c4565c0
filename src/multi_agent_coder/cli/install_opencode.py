"""`macoder install-opencode`: the pinned OpenCode, where `macoder run` looks for it first.

A repository of one's own has no `scripts/opencode.sh`; this is that script's job as a command:
`opencode-ai@<opencode_version>` from npm into the repository's `.tools/opencode` (with install
scripts off, every package checked against macoder's lockfile), and `/.tools/` in the clone's
`.git/info/exclude`, so the 350 MB never reach a commit.
"""

from __future__ import annotations

import argparse
import sys

from multi_agent_coder.cli.common import root_of, settings_of


def add_parser(parser: argparse.ArgumentParser) -> None:
    del parser  # no options: the version is the setting opencode_version


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.run.setup import install_into_repository

    settings = settings_of(args)
    binary = install_into_repository(root_of(args), settings, sys.stderr)
    print(f"OpenCode {settings.opencode_version}: {binary}")
    return 0
