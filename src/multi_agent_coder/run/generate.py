"""`macoder generate`: a plan becomes backlog tasks, checked and repaired, merged atomically.

The I/O around `planning/generate.py`: read the plan and the backlog (both bounded), refuse a
backlog that does not pass `macoder check` before any model is asked, then one agent session
per round on the implementation model. Each session works in a fresh export of the default
branch (it may read the code; nothing it writes is kept) and must be verified deleted — a
session that may still exist fails the command, naming it. An answer that breaks a rule is
sent back with the problems, at most `MAX_REPAIR_ROUNDS` times. Only an answer that passes
every check is written, atomically, under the directory lock, and only over the very bytes
it was prepared from: if the person saved BACKLOG.yaml meanwhile, nothing is written.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multi_agent_coder.backlog.load import Check, read_bytes
from multi_agent_coder.backlog.write import replace_if_unchanged
from multi_agent_coder.errors import UsageError
from multi_agent_coder.limits import MAX_PLAN_BYTES, MAX_REPAIR_ROUNDS
from multi_agent_coder.planning.generate import (
    PlanInput,
    Verdict,
    generation_prompt,
    judge,
    read_base,
    repair_prompt,
    track_of,
)
from multi_agent_coder.problems import Problem
from multi_agent_coder.run.rounds import Asking, Rounds, ask_in_rounds
from multi_agent_coder.run.session import Session
from multi_agent_coder.userfiles import read_user_file
from multi_agent_coder.yamlread import decode


@dataclass(frozen=True)
class GenerateRequest:
    """What to generate from and into: paths as read, and as the user named them."""

    plan: Path
    plan_display: str
    backlog: Path
    backlog_display: str
    #: Exactly the checks `macoder check` runs (rules and hygiene with the configured limits).
    checks: tuple[Check, ...]
    dry_run: bool = False


@dataclass
class GenerateReport(Rounds[Verdict]):
    """What a generation did. `verdict` is the last answer's; `failure` says why it stopped
    before an answer could be judged (the agent timed out, the provider failed)."""

    backlog: str
    plan: str
    track: str
    model: str
    dry_run: bool = False
    written: bool = False
    diff: str = ""

    @property
    def added(self) -> list[str]:
        return list(self.verdict.ids) if self.ok and self.verdict is not None else []

    @property
    def warnings(self) -> list[Problem]:
        return [] if self.verdict is None or not self.ok else list(self.verdict.warnings)

    @property
    def status(self) -> str:
        return self.stopped or ("would-add" if self.dry_run else "added")

    def as_json(self) -> dict[str, Any]:
        return {
            "backlog": self.backlog,
            "plan": self.plan,
            "track": self.track,
            "model": self.model,
            "status": self.status,
            "added": self.added,
            "written": self.written,
            **self.rounds_json(),
            "warnings": [asdict(p) for p in self.warnings],
            "diff": self.diff if self.dry_run else None,
        }


def read_plan(path: Path, shown: str) -> str:
    """The plan's text: a regular file inside the repository, at most `MAX_PLAN_BYTES`,
    UTF-8 and not empty (a `UsageError` naming it otherwise, before any model is asked)."""
    raw = read_user_file(path, max_bytes=MAX_PLAN_BYTES, shown=shown)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise UsageError(f"{shown}: the plan is empty; there is nothing to turn into tasks")
    return text


def backlog_diff(before: bytes, after: bytes, shown: str) -> str:
    """A unified diff of the backlog, as `git diff` would show the change."""
    old = decode(before).splitlines(keepends=True)
    new = decode(after).splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, f"a/{shown}", f"b/{shown}"))


def generate(
    session: Session,
    request: GenerateRequest,
    *,
    on_event: Callable[[str], None] = lambda message: None,
) -> GenerateReport:
    """Turn the plan into tasks of the backlog; see the module docstring. Raises for what
    stops it before a model is asked (`UsageError`, `FixBacklogFirstError`), a session that
    could not be verified deleted (`SessionLeakError`), and a backlog that changed on disk
    meanwhile (`BacklogChangedError`); every other outcome is in the report."""
    settings = session.settings
    plan_text = read_plan(request.plan, request.plan_display)
    before = read_bytes(request.backlog, request.backlog_display, settings.max_file_bytes)
    base = read_base(before, request.backlog_display, request.checks)
    repo = session.repo
    branch = repo.default_branch()
    sha = repo.branch_head(branch)
    if sha is None:
        raise UsageError(
            f"branch {branch} has no commits yet: the model reads the code of the default "
            "branch's last commit; commit your files first (git add . && git commit)"
        )
    model = settings.models.for_role("implementation")
    report = GenerateReport(
        request.backlog_display,
        request.plan_display,
        track_of(request.plan_display, base.backlog.track_id),
        model,
        dry_run=request.dry_run,
    )
    if session.preflight is not None:
        session.preflight(settings, repo, [model])
    source = PlanInput(
        report.track,
        request.plan_display,
        plan_text,
        base,
        settings.context_settings(),
        base.new_ids(1)[0],
    )
    asking: Asking[Verdict] = Asking(
        first=lambda: generation_prompt(source),
        repair=lambda verdict, repair: repair_prompt(source, verdict, repair, MAX_REPAIR_ROUNDS),
        judge=lambda answer: judge(answer, base),
        title=f"macoder generate {report.track}",
        doing=f"turns {request.plan_display} into tasks",
        unchanged=f"{request.backlog_display} was not changed",
    )
    ask_in_rounds(session, sha, model, asking, into=report, on_event=on_event)
    return _finish(report, request, before, settings.max_file_bytes)


def _finish(
    report: GenerateReport, request: GenerateRequest, before: bytes, max_bytes: int
) -> GenerateReport:
    """Write the accepted backlog (not in a dry run), over exactly `before`."""
    verdict = report.verdict
    if verdict is None or not verdict.ok or verdict.appended is None:
        return report
    after = verdict.appended.raw
    report.diff = backlog_diff(before, after, request.backlog_display)
    if not request.dry_run:
        replace_if_unchanged(
            request.backlog,
            before,
            after,
            display=request.backlog_display,
            max_bytes=max_bytes,
        )
        report.written = True
    return report
