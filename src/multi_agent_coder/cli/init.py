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
    parser.add_argument(
        "--github",
        action="store_true",
        help="also write .github/workflows/macoder.yml (plan, run and publish jobs)",
    )
    parser.add_argument(
        "--action",
        metavar="OWNER/REPO@SHA",
        help="with --github: the multi-agent-coder action the workflow runs, pinned to a full "
        "commit sha",
    )


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder import scaffold
    from multi_agent_coder.backlog.schema import schema_text
    from multi_agent_coder.run.checks import detect_commands, scan_repo
    from multi_agent_coder.visible import visible

    root = Path(args.directory)
    if not root.is_dir():
        raise UsageError(f"{root}: no such directory")
    in_git = _in_git_repository(root)
    workflow = _workflow(root, args, in_git=in_git) if args.github else None
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
        *([workflow] if workflow is not None else []),
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
    if not in_git:
        print(f"note: {root} is not in a git repository; tasks run from a default branch: git init")
    if workflow is not None:
        print(
            "GitHub: create the environment `macoder` (Settings > Environments, deployment "
            "branches: the default branch) with your provider key (OPENAI_API_KEY, as the "
            "workflow's `run`, `plan-feature` and `rebase` jobs name it: rename it in all three) "
            "and MACODER_TOKEN, and allow Actions to create pull requests "
            "(docs/github-action.md)"
        )
        print(
            "GitHub: set up what your tests need (runtime, dependencies) in the workflow's "
            "`health` and `run` jobs, the same in both (the comments there say where)"
        )
    print(
        "next: name your model in .macoder.yaml (models.implementation) and its key's "
        "variable in opencode.json, commit the files, then: macoder doctor && macoder run "
        "--dry-run"
    )
    return 0


def _workflow(root: Path, args: argparse.Namespace, *, in_git: bool) -> tuple[str, str]:
    """(path, text) of the GitHub workflow for the repository at `root`; every problem (no
    --action, a bad one, no git repository) before any file is written."""
    from multi_agent_coder.config import load_settings
    from multi_agent_coder.run.session import default_branch_of
    from multi_agent_coder.workflow import WORKFLOW_FILE, check_action_ref, render

    if not args.action:
        raise UsageError(
            "--github needs --action OWNER/REPO@<full commit sha>: the multi-agent-coder "
            "action your workflow runs, pinned to a commit"
        )
    action = check_action_ref(args.action)
    if not in_git:
        raise UsageError(f"--github: {root} is not in a git repository (git init first)")
    branch = default_branch_of(root)
    return WORKFLOW_FILE, render(action, branch, load_settings(root).backlog)


def _in_git_repository(root: Path) -> bool:
    from multi_agent_coder.errors import NotAGitRepositoryError
    from multi_agent_coder.run.session import repository_root

    try:
        repository_root(root)
    except NotAGitRepositoryError:
        return False
    return True
