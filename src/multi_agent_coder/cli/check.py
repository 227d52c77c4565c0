"""`macoder check`: what the pre-commit hooks and the Action run on backlog files.

pre-commit passes every changed file the hook selects. A backlog is checked itself; any other
file (a changed spec) stands for the configured backlog. Markdown under the specs directory
(setting `specs_dir`) is what agents will read, so the hygiene check also reads it for
planning debris, reported at its line and column like any other problem.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from multi_agent_coder.cli.common import all_checks, backlog_path, display_name, settings_of
from multi_agent_coder.errors import (
    EXIT_OK,
    EXIT_PROBLEMS,
    NoBacklogError,
    UnreadableFileError,
    UsageError,
)
from multi_agent_coder.visible import visible

if TYPE_CHECKING:
    from multi_agent_coder.report import FileReport

BACKLOG_SUFFIXES = (".yaml", ".yml")
MARKDOWN_SUFFIXES = (".md", ".markdown")


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="backlog files to check (default: the configured backlog). Other files, such as "
        "specs/*.md passed by pre-commit, stand for the configured backlog; Markdown under "
        "the specs directory is also checked for planning debris (hygiene).",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json", "github", "markdown"),
        default="text",
        help="text (default), json, github (workflow annotations) or markdown (job summary)",
    )
    parser.add_argument(
        "--only",
        choices=("all", "schema", "hygiene"),
        default="all",
        help="schema: YAML, schema and graph rules; hygiene: context hygiene; all (default)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="fail on warnings too (e.g. truncated context)"
    )


def backlog_files(args: argparse.Namespace) -> list[tuple[Path, bool]]:
    """The backlogs to check, each once, in the order given, and whether each was named
    explicitly (a spec file only implies the configured backlog, which may not exist)."""
    default = backlog_path(args)
    chosen: dict[Path, bool] = {}
    if not args.paths:
        chosen[default] = False
    for name in args.paths:
        path = Path(name)
        if path.is_dir():
            raise UsageError(f"{name}: is a directory; name the backlog file inside it")
        explicit = path.suffix in BACKLOG_SUFFIXES
        target = path if explicit else default
        chosen[target] = chosen.get(target, False) or explicit
    return list(chosen.items())


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.backlog.load import load_file
    from multi_agent_coder.report import RENDERERS, FileReport

    rules, hygiene = all_checks(args)
    checks = {"all": (rules, hygiene), "schema": (rules,), "hygiene": (hygiene,)}[args.only]
    limit = settings_of(args).max_file_bytes
    reports: list[FileReport] = []
    for path, explicit in backlog_files(args):
        try:
            with collector_paused():
                result = load_file(path, display_name(path), checks, max_bytes=limit)
        except UnreadableFileError as exc:
            if explicit or not exc.missing:
                raise
            if not args.paths:  # asked to check the backlog, and there is none: as `ready` says
                raise NoBacklogError(
                    f"{display_name(path)}: no such file (`macoder init` writes a starter one)"
                ) from None
            # A changed spec file stands for a backlog this repository does not have yet: a
            # pre-commit run has nothing to check, and must not fail the commit.
            shown = visible(display_name(path))
            print(f"macoder: no backlog at {shown}; nothing to check", file=sys.stderr)
            continue
        tasks = len(result.backlog.tasks) if result.backlog is not None else None
        reports.append(FileReport(result.path, result.problems, tasks))
    if args.only in ("all", "hygiene"):
        reports += [spec_report(args, path, limit) for path in spec_documents(args)]
    sys.stdout.write(RENDERERS[args.format](reports))
    failed = any(r.errors or (args.strict and r.warnings) for r in reports)
    return EXIT_PROBLEMS if failed else EXIT_OK


def spec_documents(args: argparse.Namespace) -> list[Path]:
    """The named Markdown files under the specs directory, each once, in the order given; a
    file that is not there (deleted in this commit) has nothing an agent could read."""
    specs = PurePosixPath(settings_of(args).specs_dir).parts
    chosen: dict[Path, None] = {}
    for name in args.paths:
        path = Path(name)
        parts = PurePosixPath(os.path.normpath(display_name(path))).parts
        if path.suffix.lower() in MARKDOWN_SUFFIXES and parts[: len(specs)] == specs:
            if path.exists() or path.is_symlink():
                chosen[path] = None
            else:
                shown = visible(display_name(path))
                print(f"macoder: {shown}: no such file; not checked", file=sys.stderr)
    return list(chosen)


def spec_report(args: argparse.Namespace, path: Path, limit: int) -> FileReport:
    """Planning debris in one spec document (read as any file of the user's: regular, inside
    the repository, bounded)."""
    from multi_agent_coder.context.hygiene import document_problems
    from multi_agent_coder.problems import Problem
    from multi_agent_coder.report import FileReport
    from multi_agent_coder.userfiles import read_user_file

    shown = display_name(path)
    raw = read_user_file(path, max_bytes=limit, shown=shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"the file is not valid UTF-8 (byte {exc.start + 1})"
        return FileReport(shown, [Problem(shown, line, 1, "encoding", message)])
    settings = settings_of(args).context_settings()
    return FileReport(shown, document_problems(shown, text, settings))


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Loading and checking a large backlog allocates millions of objects and no reference
    cycles; left on, the cyclic garbage collector rescans them again and again and takes
    about half the time of a 10,000-task check (docs/benchmarks.md). Paused around this
    command's loads only — never in a library call that may run in a worker thread."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
