"""What several commands share: settings, the backlog path, loading with problems printed."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

    from multi_agent_coder.backlog.load import Check, LoadResult
    from multi_agent_coder.backlog.model import Backlog
    from multi_agent_coder.config import Settings
    from multi_agent_coder.run.session import Session


def cell(text: object) -> Text:
    """Text for a rich table or console: control characters made visible (`visible`), and
    square brackets kept as written — a title `[bold]...` or `[link=...]` from a user's file
    is shown, never read as rich markup."""
    from rich.text import Text

    from multi_agent_coder.visible import visible

    return Text(visible(str(text)))


def add_backlog_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backlog",
        metavar="PATH",
        help="the backlog file (default: setting 'backlog', BACKLOG.yaml)",
    )


def add_task_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task-timeout",
        type=float,
        metavar="SECONDS",
        help="hard limit of one agent session (default: setting 'task_timeout', 1800)",
    )


def task_timeout_override(args: argparse.Namespace) -> dict[str, object]:
    """The settings `--task-timeout` replaces (none when not given); checked before anything
    starts, so a bad value costs no session."""
    from multi_agent_coder.errors import UsageError

    if args.task_timeout is None:
        return {}
    if args.task_timeout <= 0:
        raise UsageError("--task-timeout must be positive")
    return {"task_timeout": args.task_timeout}


def root_of(args: argparse.Namespace) -> Path:
    """The project root: the current directory, which `-C DIR` has already changed to."""
    del args
    return Path()


def settings_of(args: argparse.Namespace) -> Settings:
    from multi_agent_coder.config import load_settings

    cached: Settings | None = getattr(args, "_settings", None)
    if cached is None:
        cached = load_settings(root_of(args))
        args._settings = cached
    return cached


def backlog_path(args: argparse.Namespace) -> Path:
    explicit = getattr(args, "backlog", None)
    if explicit:
        return Path(explicit)
    return root_of(args) / settings_of(args).backlog


def display_name(path: Path) -> str:
    """Paths as the user would type them: relative to the current directory when inside it.
    Symlinks are not resolved (the user named the link; a loop is for the reader to report)."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def all_checks(args: argparse.Namespace) -> tuple[Check, ...]:
    """Graph rules plus context hygiene with the configured limits."""
    from multi_agent_coder.backlog.rules import check_rules
    from multi_agent_coder.context.hygiene import hygiene_check

    return (check_rules, hygiene_check(settings_of(args).context_settings()))


def load_valid(args: argparse.Namespace) -> tuple[Backlog, LoadResult]:
    """Load the backlog with every check; raise `BacklogInvalidError` (its problems are
    printed once, by `main`) if it has errors."""
    from multi_agent_coder.backlog.load import load_file, require_valid

    path = backlog_path(args)
    limit = settings_of(args).max_file_bytes
    result = load_file(path, display_name(path), all_checks(args), max_bytes=limit)
    return require_valid(result), result


def open_session(args: argparse.Namespace) -> Session:
    """The local session for the repository the command runs in (`-C DIR` already applied).

    `--backlog PATH`, where the command has it, names the backlog inside the repository (as
    the default branch has it), so it is made relative to the repository's root.
    """
    from multi_agent_coder.errors import NotAGitRepositoryError, UsageError
    from multi_agent_coder.run.session import open_local, repository_root

    settings = settings_of(args)
    explicit = getattr(args, "backlog", None)
    try:
        root = repository_root(root_of(args))
    except NotAGitRepositoryError:
        raise UsageError(
            f"{Path.cwd()}: not a git repository; `macoder {args.command}` works on the "
            "repository's default branch, its run ledger and its pull requests (for the "
            "backlog file alone: `macoder ready --backlog-only`, `macoder check`)"
        ) from None
    if explicit:
        settings = settings.model_copy(update={"backlog": relative_to_root(Path(explicit), root)})
    return open_local(root, settings)


def relative_to_root(path: Path, root: Path) -> str:
    """`path` (as typed, relative to the current directory) as a path from `root`."""
    from multi_agent_coder.errors import UsageError

    try:
        return Path(os.path.realpath(path)).relative_to(root).as_posix()  # a loop: no raise
    except ValueError:
        raise UsageError(f"--backlog {path}: not inside the repository at {root}") from None
