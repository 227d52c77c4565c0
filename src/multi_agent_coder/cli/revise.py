"""`macoder revise T003 -m "..."`: a reviewer's feedback drives the next commit of a task's PR.

The task runs again on its PR's branch (from the PR's head, not the default branch), its agent
is sent the usual context plus a bounded "## Review" section with the feedback, the result is
verified as any run's is, and it lands as new commits on the same PR — never a rewrite of
what the reviewer saw. On the local forge only: on GitHub the Action does this when a review
asks for changes or a `/macoder fix` comment says so.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from multi_agent_coder.cli.common import (
    add_backlog_option,
    add_task_timeout_option,
    open_session,
    task_timeout_override,
)

if TYPE_CHECKING:
    from multi_agent_coder.context.review import Feedback


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="TASK_ID", help="the task whose PR to revise")
    parser.add_argument(
        "-m", "--message", metavar="TEXT", help="the feedback: what the agent is to change"
    )
    parser.add_argument(
        "--feedback-file", metavar="PATH", help="read the feedback from this file (UTF-8 text)"
    )
    add_task_timeout_option(parser)
    add_backlog_option(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def feedback_of(args: argparse.Namespace) -> Feedback:
    """The feedback from exactly one of `-m` and `--feedback-file`, or a `UsageError`."""
    from pathlib import Path

    from multi_agent_coder.context.review import Feedback
    from multi_agent_coder.errors import UsageError
    from multi_agent_coder.limits import MAX_FEEDBACK_BYTES
    from multi_agent_coder.userfiles import read_user_file

    if (args.message is None) == (args.feedback_file is None):
        raise UsageError(
            "revise: give the feedback with exactly one of -m TEXT and --feedback-file PATH"
        )
    if args.message is not None:
        text = args.message
    else:
        raw = read_user_file(Path(args.feedback_file), max_bytes=MAX_FEEDBACK_BYTES)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"--feedback-file {args.feedback_file}: not UTF-8 text ({exc.reason})"
            ) from None
    feedback = Feedback(text)
    if feedback.empty:
        raise UsageError("revise: the feedback is empty; say what the agent is to change")
    return feedback


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.cli.progress import Progress
    from multi_agent_coder.cli.run import show_report
    from multi_agent_coder.ids import validate_task_id
    from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions
    from multi_agent_coder.visible import visible

    task_id = validate_task_id(args.task_id)
    feedback = feedback_of(args)
    overrides = task_timeout_override(args)
    progress = Progress(live=False if args.json else None)
    with open_session(args) as session:
        if overrides:
            session.settings = session.settings.model_copy(update=overrides)
        session.revisable(task_id)  # a known task with an open PR, on the local forge
        orchestrator = Orchestrator(session, on_phase=progress.on_phase)
        with progress.showing():
            report = orchestrator.run(
                RunOptions(only=frozenset({task_id}), revise={task_id: feedback})
            )
    code = show_report(report, session.settings, as_json=args.json)
    if report.outcomes:
        return code
    # The task did not start (another run holds its lease, it waits on a dependency...).
    if not args.json:
        print(visible(f"{task_id} was not revised"))
    return max(code, 1)
