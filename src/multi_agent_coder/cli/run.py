"""`macoder run`: run the ready tasks, one worktree, one agent session, one PR each."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from multi_agent_coder.cli.common import (
    add_backlog_option,
    add_task_timeout_option,
    open_session,
    task_timeout_override,
)

if TYPE_CHECKING:
    from multi_agent_coder.config import Settings
    from multi_agent_coder.run.orchestrator import RunReport


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retry",
        metavar="TASK_ID",
        action="append",
        default=[],
        help="run this task again although it has an open PR (repeatable)",
    )
    parser.add_argument(
        "--continue",
        dest="resume",
        metavar="TASK_ID",
        action="append",
        default=[],
        help="run this task again from its draft's partial work (a task stopped by its time "
        "limit or a cap), not from the default branch (repeatable)",
    )
    parser.add_argument(
        "--only",
        metavar="TASK_ID",
        action="append",
        help="run only this task, if it is ready (repeatable)",
    )
    parser.add_argument("--workers", type=int, help="tasks at once (default: setting 'workers')")
    add_task_timeout_option(parser)
    add_backlog_option(parser)
    parser.add_argument("--dry-run", action="store_true", help="show what would run; start nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.cli.progress import Progress
    from multi_agent_coder.errors import UsageError
    from multi_agent_coder.ids import validate_task_id
    from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions

    overrides = task_timeout_override(args)
    if args.workers is not None:
        if not 1 <= args.workers <= 64:
            raise UsageError("--workers must be between 1 and 64")
        overrides["workers"] = args.workers
    retry = frozenset(validate_task_id(t) for t in args.retry)
    resume = frozenset(validate_task_id(t) for t in args.resume)
    only = frozenset(validate_task_id(t) for t in args.only) if args.only else None
    progress = Progress(live=False if args.json else None)
    with open_session(args) as session:
        if overrides:
            session.settings = session.settings.model_copy(update=overrides)
        orchestrator = Orchestrator(session, on_phase=progress.on_phase)
        with progress.showing():
            report = orchestrator.run(
                RunOptions(retry=retry, only=only, dry_run=args.dry_run, resume=resume)
            )
    return show_report(report, session.settings, as_json=args.json, dry_run=args.dry_run)


def show_report(
    report: RunReport, settings: Settings, *, as_json: bool, dry_run: bool = False
) -> int:
    """Print what a run did (`macoder run`, `macoder revise`) and return its exit code."""
    from multi_agent_coder.cli.progress import outcome_table
    from multi_agent_coder.run.orchestrator import report_json
    from multi_agent_coder.visible import one_line, visible

    # What was cleaned up after a run that died goes to stderr also with --json (it is in the
    # JSON too): the person at the terminal should see it either way.
    for pid in report.stopped_processes:
        print(f"stopped process {pid}, left by a macoder run that was killed", file=sys.stderr)
    for task_id in report.reconciled_worktrees:
        print(f"removed a stray worktree of {task_id} (no live lease)", file=sys.stderr)
    for task_id in report.freed_leases:
        print(f"freed the lease of {task_id} (its run is gone)", file=sys.stderr)
    for task_id, used in report.reset_attempts.items():
        done = "would be reset (dry run)" if dry_run else "reset"
        print(f"{task_id}: attempts {done}; {used} were used before", file=sys.stderr)
    for task_id, status, why, number in report.rewrites:
        where = f": PR #{number}" if number is not None else ""
        print(visible(f"{task_id}: {why}; rewrite {status}{where}"), file=sys.stderr)
    if as_json:
        print(report_json(report))
        return report.exit_code
    # Every line below may quote a title, a note or a command from the user's files.
    for warning in report.warnings:
        print(visible(f"warning: {warning}"), file=sys.stderr)
    if report.health is not None:
        for warning in report.health.warnings:
            print(visible(f"health warning: {warning}"), file=sys.stderr)
    if report.note:
        print(visible(report.note))
    if report.planned and not report.outcomes:
        for planned in report.planned:
            print(
                visible(
                    f"would start {planned.task_id} (attempt {planned.attempt}, "
                    f"{planned.kind} -> {planned.model}): {one_line(planned.title)}"
                )
            )
        for task_id, label, why in report.not_starting:
            print(visible(f"not starting {task_id}: {label}" + (f" {why}" if why else "")))
        configured = settings.checks.test
        print(
            visible(
                "checks: "
                + (
                    " ".join(configured)
                    if configured
                    else "detected on the default branch when the run starts (`macoder doctor`"
                    " runs them now)"
                )
                + " (on the default branch first, then on each result)"
            )
        )
    if report.outcomes:
        outcome_table(report.outcomes)
    if report.interrupted:
        print("interrupted: sessions aborted, worktrees removed, leases released", file=sys.stderr)
    if report.timed_out:
        print(f"run_timeout ({settings.run_timeout:.0f} s) reached", file=sys.stderr)
    return report.exit_code
