"""`macoder`: one `main(argv) -> int`, one sub-module per command, exit codes from DESIGN §8.

Commands import their heavy dependencies lazily so `macoder check` on a pre-commit run starts
fast: argparse is all that loads before the command is known.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from importlib import import_module
from typing import Final

from multi_agent_coder import __version__
from multi_agent_coder.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    MacoderError,
    ProblemsFound,
    UsageError,
)
from multi_agent_coder.visible import visible

#: command name -> module under multi_agent_coder.cli (each has `add_parser` and `run`)
COMMANDS: dict[str, str] = {
    "check": "check",
    "ready": "ready",
    "stats": "stats",
    "context": "context",
    "mark": "mark",
    "schema": "schema",
    "run": "run",
    "prs": "prs",
    "revise": "revise",
    "generate": "generate",
    "rebase": "rebase",
    "merge": "merge",
    "close": "close",
    "status": "status",
    "report": "report",
    "spec": "spec",
    "plan": "plan",
    "init": "init",
    "doctor": "doctor",
    "install-opencode": "install_opencode",
}

HELP: dict[str, str] = {
    "check": "validate backlog files: schema, graph rules and context hygiene",
    "ready": "list the tasks that can start now",
    "stats": "counts per status, what blocks what, the longest dependency chain",
    "context": "print exactly the prompt an agent would be sent for a task",
    "mark": "set a task's status in BACKLOG.yaml (validated, atomic, nothing else touched)",
    "schema": "print the JSON Schema of BACKLOG.yaml",
    "run": "run the ready tasks: one worktree, one agent session, one verified PR each",
    "prs": "list the local forge's pull requests",
    "revise": "run a task again on its PR's branch with a reviewer's feedback (local forge)",
    "generate": "turn a plan (specs/<track>/PLAN.md) into checked BACKLOG.yaml tasks",
    "rebase": "rewrite a failing task's entry with the rebase model, proposed as its own PR",
    "merge": "merge a task's pull request (or `rebase-T001`: its proposed rewrite) locally",
    "close": "close a task's pull request on the local forge unmerged (rejects the task)",
    "status": "each task's state: completed, PR open, rejected, running, ready, waiting, failed",
    "report": "metrics from the run ledger: first-attempt success, sessions, drift, tokens",
    "spec": "a planning track's files: log, show at a commit, merge into PLAN.md",
    "plan": "three planning agents turn a feature's context into specs/TRACK/ and PLAN.md",
    "init": "write the starting files: .macoder.yaml, opencode.json, BACKLOG.yaml, hooks",
    "doctor": "check what a run needs: git, OpenCode, the sandbox, the models, the checks",
    "install-opencode": "install the pinned OpenCode into .tools/opencode, where run finds it",
}


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage already; this only makes the message say `macoder`."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"macoder: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="macoder",
        description="Turn BACKLOG.yaml and specs/ into verified pull requests, one per task.",
    )
    parser.add_argument("--version", action="version", version=f"macoder {__version__}")
    parser.add_argument(
        "-C",
        dest="root",
        metavar="DIR",
        default=".",
        help="run as if started in DIR (where .macoder.yaml / pyproject.toml are read)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback on unexpected errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module_name in COMMANDS.items():
        command = sub.add_parser(name, help=HELP[name], description=HELP[name])
        command.set_defaults(_module=module_name)
        import_module(f"multi_agent_coder.cli.{module_name}").add_parser(command)
    return parser


#: Commands that leave through `os._exit` (see `entry`).
FAST_EXIT: Final = frozenset({"check"})


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command, map every outcome to an exit code."""
    return _run(parse(argv))


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; an argument no command knows is refused with the usage of the
    command it was given to, not the top level's."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _commands(parser)[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each command's own parser."""
    for action in parser._actions:  # argparse keeps the sub-parsers on their action
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _run(args: argparse.Namespace) -> int:
    try:
        _change_directory(args.root)
        module = import_module(f"multi_agent_coder.cli.{args._module}")
        return int(module.run(args))
    except ProblemsFound as exc:
        said = str(exc)
        for problem in exc.problems:
            if problem.render() not in said:  # each problem printed once
                print(problem.render(), file=sys.stderr)
        print(visible(f"macoder: error: {exc}", lines=True), file=sys.stderr)
        return exc.exit_code
    except MacoderError as exc:  # messages quote paths, ids and values from the user's files
        print(visible(f"macoder: error: {exc}", lines=True), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("macoder: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `macoder ready | head -1`: the reader left; that is not our failure.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(
            visible(f"macoder: internal error: {type(exc).__name__}: {exc}", lines=True),
            file=sys.stderr,
        )
        report = _crash_report(traceback.format_exc())
        if report is not None:
            print(f"macoder: the traceback is in {report}; please report it", file=sys.stderr)
        else:
            print(
                "macoder: re-run with --debug for a traceback, and please report it",
                file=sys.stderr,
            )
        return EXIT_INTERNAL


#: How a crash report's file name starts (in the temporary directory).
CRASH_REPORT_PREFIX: Final = "macoder-crash-"


def _crash_report(text: str) -> str | None:
    """Keep the traceback of an internal error in a file of its own, and say where.

    A crash that happens once — a race under load, an interrupt at one moment — cannot be
    "re-run with --debug"; its traceback is what a report needs. Written to the temporary
    directory (never the repository: nothing to commit by mistake); None when even that fails.
    """
    import tempfile

    try:
        fd, path = tempfile.mkstemp(prefix=CRASH_REPORT_PREFIX, suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"macoder {__version__}, {' '.join(sys.argv)}\n{text}")
    except OSError:
        return None
    return path


def _change_directory(root: str) -> None:
    """`-C DIR` works like `git -C`: every path, config file and default is read from DIR."""
    if root == ".":
        return
    try:
        os.chdir(root)
    except OSError as exc:
        raise UsageError(f"-C {root}: {exc.strerror or exc}") from None


def entry() -> None:
    """Console-script entry. `check` (what every pre-commit run calls) flushes and leaves
    through `os._exit`, without tearing down the many small objects a 10,000-task check
    builds: collecting them at exit costs more than the check itself (docs/benchmarks.md).
    Every other command exits normally, so its `finally` blocks and atexit handlers run."""
    args = parse()
    code = _run(args)
    if args.command in FAST_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
