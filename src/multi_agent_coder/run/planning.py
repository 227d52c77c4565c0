"""`macoder plan`: three planning agents in parallel, their documents checked, merged, written.

From a feature context (a person's CONTEXT.md) the spec, architecture and QA agents
(`planning/roles.py`) each run one OpenCode session on the planning model, in parallel, under
`planning_timeout`, each in a fresh export of the default branch (they may read the code; what
they write there is thrown away). Each answers with its document. Only when all three have
answered, with every section the structured merge needs, does anything reach the repository:
`specs/<track>/SPEC.md`, `ARCH.md`, `QA.md`, then `PLAN.md` (the structured merge, no model)
— so a failed plan leaves no partial PLAN.md, and a plan that succeeds overwrites the
track's four files together.

Before they are written, the four documents are read for planning debris as the
`context-hygiene` hook reads them (`document_problems`, the configured phrases), so a plan
whose agents wrote their chatter into it ("let me think", "on second thought") never passes
in silence: the problems come back as `specs/<track>/SPEC.md:LINE:COL: ...`, the same lines the
hook prints at commit. The files are written all the same — three agents' documents cost
minutes and money, the debris is a line to delete — and the command fails, so nothing
downstream mistakes the track for a clean one; the hook refuses the commit until it is.

Every session is deleted and verified gone (the runtime checks the 404); one that could not be
verified gone fails the plan, named, as a leak is a failure of the seed's rule. One agent
that fails or hangs fails the plan with its role, file and reason; the others' sessions are
deleted all the same (each runs to its own end in the runtime, which always cleans up).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from multi_agent_coder.agents.base import Agent, AgentOutcome, AgentResult
from multi_agent_coder.context.hygiene import document_problems
from multi_agent_coder.errors import PlanningError, UsageError
from multi_agent_coder.git.worktree import WorktreeManager
from multi_agent_coder.planning.merge import (
    ARCH_FILE,
    PLAN_FILE,
    QA_FILE,
    SPEC_FILE,
    Source,
    merge_plan,
)
from multi_agent_coder.planning.roles import ROLES, Role, document_of, planning_prompt
from multi_agent_coder.problems import Problem
from multi_agent_coder.run.session import Session

#: What a caller is told as the agents progress: (role, "started" | "done" | "failed").
OnRole = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class AgentReport:
    """One planning agent's session, for the command's report."""

    role: str
    file: str
    outcome: str
    reason: str
    duration_s: float
    session_deleted: bool
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    document_bytes: int


@dataclass(frozen=True, slots=True)
class Plan:
    """What `macoder plan` produced: the track's files (path -> bytes written), its agents,
    and the planning debris found in the files as written (empty: a clean track)."""

    track: str
    directory: Path
    files: Mapping[str, int]
    agents: tuple[AgentReport, ...]
    model: str
    duration_s: float
    problems: tuple[Problem, ...] = ()


def plan_feature(
    session: Session,
    context: str,
    track: str,
    *,
    directory: Path,
    shown: str,
    on_role: OnRole = lambda role, what: None,
    cancel: threading.Event | None = None,
) -> Plan:
    """Run the planning agents on `context`, check and merge their documents, and write the
    four files into `directory` (`shown`: how messages name it, `specs/auth`). Raises
    `PlanningError` (nothing written) when an agent fails, answers nothing, its session was
    not verified deleted or a heading the merge needs is missing; planning debris is written
    and returned as `Plan.problems`, for the caller to fail on."""
    settings = session.settings
    model = settings.models.for_role("planning")
    cancel = cancel or threading.Event()
    started = time.monotonic()
    head = _default_head(session)
    hygiene = settings.context_settings()
    if session.preflight is not None:
        # A wrong URL, key or model stops here in seconds, as it does `run` and `generate`,
        # not after three agents have each waited on it.
        session.preflight(settings, session.repo, [model])
    results: dict[str, AgentResult] = {}
    # Exports under the worktrees' directory: the one place the agent's sandbox can work in.
    worktrees = WorktreeManager(session.repo, settings.worktree_dir)
    worktrees.sweep_exports()
    with (
        session.agent_factory(settings, session.repo, cancel) as agent,
        ThreadPoolExecutor(max_workers=len(ROLES), thread_name_prefix="macoder-plan") as pool,
    ):
        planning = _Planning(agent, session, worktrees, track, context, head, model, on_role)
        futures = {role.name: pool.submit(planning.run, role) for role in ROLES}
        for name, future in futures.items():
            results[name] = future.result()
    reports = tuple(_report(role, results[role.name]) for role in ROLES)
    problems = [_problem(role, results[role.name]) for role in ROLES]
    if cancel.is_set():
        raise PlanningError(["planning interrupted; nothing was written"])
    failed = [p for p in problems if p]
    if failed:
        raise PlanningError([*failed, "nothing was written"])
    documents = {role.file: document_of(results[role.name].output_text) for role in ROLES}
    # A missing heading: PlanningError naming the file, nothing written.
    files = {**documents, PLAN_FILE: merge_documents(documents, shown)}
    debris = tuple(
        problem
        for name in (*documents, PLAN_FILE)
        for problem in document_problems(f"{shown}/{name}", files[name], hygiene)
    )
    written = _write_all(directory, files)
    duration = time.monotonic() - started
    return Plan(track, directory, written, reports, model, duration, debris)


def merge_documents(documents: Mapping[str, str], shown: str) -> str:
    """PLAN.md from the agents' documents (file name -> text), errors naming each file as
    `<shown>/<file>`: the structured merge, no model."""
    spec, arch, qa = (
        Source(f"{shown}/{name}", documents.get(name, ""))
        for name in (SPEC_FILE, ARCH_FILE, QA_FILE)
    )
    return merge_plan(spec, arch, qa)


def _default_head(session: Session) -> str:
    branch = session.repo.default_branch()
    sha = session.repo.branch_head(branch)
    if sha is None:
        raise UsageError(
            f"branch {branch} has no commits yet: the planning agents read the default "
            "branch; commit your files first (git add . && git commit)"
        )
    return sha


@dataclass(frozen=True, slots=True)
class _Planning:
    """What every planning agent of one `macoder plan` shares."""

    agent: Agent
    session: Session
    worktrees: WorktreeManager
    track: str
    context: str
    head: str
    model: str
    on_role: OnRole

    def run(self, role: Role) -> AgentResult:
        """One agent's session in its own export of the default branch."""
        with self.worktrees.scratch_export(self.head) as workdir:
            self.on_role(role.name, "started")
            result = self.agent.run(
                prompt=planning_prompt(role, self.track, self.context),
                worktree=workdir,
                model=self.model,
                timeout_s=self.session.settings.planning_timeout,
                title=f"macoder plan {self.track}: {role.name}",
            )
        self.on_role(role.name, "done" if _problem(role, result) == "" else "failed")
        return result


def _problem(role: Role, result: AgentResult) -> str:
    """Why `role`'s answer cannot be used ("" when it can)."""
    who = f"planning agent '{role.name}' ({role.file})"
    if result.outcome is not AgentOutcome.SUCCESS:
        return f"{who}: {result.outcome.value}: {result.reason}"
    if not result.session_deleted:
        return f"{who}: its session {result.session_id} was not verified deleted"
    if not document_of(result.output_text):
        return f"{who}: answered with an empty document"
    return ""


def _report(role: Role, result: AgentResult) -> AgentReport:
    return AgentReport(
        role=role.name,
        file=role.file,
        outcome=result.outcome.value,
        reason=result.reason,
        duration_s=result.duration_s,
        session_deleted=result.session_deleted,
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
        cost=result.cost,
        document_bytes=len(document_of(result.output_text).encode("utf-8")),
    )


def _write_all(directory: Path, files: Mapping[str, str]) -> dict[str, int]:
    """Each file replaced all at once (`atomic_write`), under the directory's lock, PLAN.md
    last: a failure midway leaves no half-written file and no PLAN.md newer than its
    sources."""
    from multi_agent_coder.backlog.write import atomic_write, directory_lock

    directory.mkdir(parents=True, exist_ok=True)
    with directory_lock(directory):
        for name in sorted(files, key=lambda n: n == PLAN_FILE):
            atomic_write(directory / name, files[name].encode("utf-8"))
    return {name: len(files[name].encode("utf-8")) for name in files}
