"""What the publish-feature job accepts from a plan-feature job: the rules, as pure functions.

The plan-feature job ran three planning agents and the task generator, so what it handed over
may have been shaped by them: a commit that also edits a workflow or the code, a backlog where
an existing task is quietly marked completed or given a new dependency, a branch based on some
other commit, a person's name on the commit. Before the publish job (which holds the token)
pushes anything, every rule here must hold; each broken one is a sentence naming what and
where. The I/O (reading the bundle, walking the commit, diffing) is `run/feature.py`'s.

A plan's hand-off is exactly one commit of macoder's on the planned base that changes
`<specs_dir>/<track>/**` (adding or rewriting files, PLAN.md among them) and the backlog, and
the backlog only by new tasks appended at the end of its list: the bytes before and after
the insertion are the base's, every existing task reads back exactly as before, and the file
as a whole passes `macoder check` (schema, graph rules, context hygiene).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from multi_agent_coder.backlog.load import Check, load_bytes
from multi_agent_coder.backlog.model import Task, TaskStatus
from multi_agent_coder.git.bundle import BundleHeader
from multi_agent_coder.git.repo import Change, CommitFacts
from multi_agent_coder.planning.merge import PLAN_FILE
from multi_agent_coder.problems import errors_in

#: A plan's bundle holds one commit of a few Markdown files and the backlog.
MAX_FEATURE_BUNDLE_BYTES: Final = 16 * 1024 * 1024
#: How many of the backlog's problems a refusal names (the rest are counted).
SHOWN_PROBLEMS: Final = 5


class OneCommit(Protocol):
    """What any hand-off of one commit is held to (a plan's, a rewrite's): its bundle carries
    `ref` on `base_sha` alone, and its one commit is by one of `emails`."""

    @property
    def base_sha(self) -> str: ...
    @property
    def ref(self) -> str: ...
    @property
    def emails(self) -> Collection[str]: ...
    @property
    def what(self) -> str:
        """What the commit is, for a refusal's words: "a plan", "a rewrite"."""
        ...


@dataclass(frozen=True, slots=True)
class FeatureExpected:
    """What the workflow run and the repository's settings (on the default branch) say."""

    track: str
    run_id: str
    base_sha: str
    #: The one ref the bundle carries (`refs/macoder/handoff/plan-<track>`).
    ref: str
    emails: Collection[str]
    specs_dir: str
    backlog_path: str

    @property
    def track_dir(self) -> str:
        return f"{self.specs_dir.strip('/')}/{self.track}"

    @property
    def what(self) -> str:
        return "a plan"


def bundle_problems(header: BundleHeader, expected: OneCommit, head_sha: str) -> list[str]:
    """The bundle carries exactly the hand-off's ref at the announced head, on the planned
    base."""
    problems: list[str] = []
    if list(header.prerequisites) != [expected.base_sha]:
        shown = ", ".join(p[:10] for p in header.prerequisites) or "none (a whole history)"
        problems.append(
            f"the bundle is based on {shown}, not on the planned base {expected.base_sha[:10]}"
        )
    if header.refs != ((head_sha, expected.ref),):
        shown = ", ".join(f"{name} at {oid[:10]}" for oid, name in header.refs) or "nothing"
        problems.append(f"the bundle carries {shown}, not {expected.ref} at {head_sha[:10]}")
    return problems


def commit_problems(commits: Sequence[CommitFacts], expected: OneCommit) -> list[str]:
    """Exactly one commit, macoder's, whose one parent is the planned base."""
    if len(commits) != 1:
        return [f"{expected.what} is one commit on the planned base, not {len(commits)}"]
    (commit,) = commits
    short = commit.sha[:10]
    problems: list[str] = []
    if commit.parents != (expected.base_sha,):
        problems.append(f"commit {short} is not a commit on {expected.base_sha[:10]} alone")
    emails = {e.lower() for e in expected.emails}
    for role, email in (("author", commit.author_email), ("committer", commit.committer_email)):
        if email.lower() not in emails:
            problems.append(f"commit {short}: {role} {email!r} is not macoder")
    return problems


def path_problems(changes: Sequence[Change], expected: FeatureExpected) -> list[str]:
    """Only the track's files (added or rewritten, PLAN.md among them) and the backlog."""
    inside = expected.track_dir + "/"
    problems: list[str] = []
    paths = {c.path for c in changes if c.kind != "deleted"}
    for change in changes:
        if change.path == expected.backlog_path:
            continue
        if not change.path.startswith(inside):
            problems.append(
                f"changes {change.path}: a plan changes only {inside}** and {expected.backlog_path}"
            )
        elif change.kind == "deleted":
            problems.append(f"deletes {change.path}: a plan adds or rewrites its track's files")
    plan = inside + PLAN_FILE
    if plan not in paths:
        problems.append(f"does not write {plan}")
    if expected.backlog_path not in paths:
        problems.append(f"adds no task to {expected.backlog_path}")
    return problems


def appended_tasks(
    before: bytes | None, after: bytes | None, display: str, checks: Sequence[Check]
) -> tuple[list[Task], list[str]]:
    """(the tasks the plan appends, the problems): the backlog at the head must be the base's
    with tasks inserted at the end of its list and nothing else — byte for byte around one
    insertion, and read back, every existing task and top-level field exactly as before —
    and pass `checks` (what `macoder check` runs). New tasks start `pending`."""
    if before is None or after is None:
        where = "the planned base" if before is None else "the plan"
        return [], [f"{display}: missing in {where}"]
    if not _one_insertion(before, after):
        return [], [
            f"{display}: changed beyond tasks appended at the end of its list (existing "
            "text is rewritten or removed)"
        ]
    old = load_bytes(before, display, ())
    new = load_bytes(after, display, checks)
    errors = errors_in(new.problems)
    if errors or new.backlog is None:
        shown = [p.render() for p in errors[:SHOWN_PROBLEMS]]
        more = len(errors) - len(shown)
        return [], [
            f"{display} does not pass macoder check: "
            + "; ".join(shown)
            + (f" (and {more} more)" if more > 0 else "")
        ]
    if old.backlog is None:
        return [], [f"{display} at the planned base does not load; fix it first"]
    count = len(old.backlog.tasks)
    kept, added = new.backlog.tasks[:count], new.backlog.tasks[count:]
    problems: list[str] = []
    for index, was in enumerate(old.backlog.tasks):
        if index >= len(kept) or kept[index] != was:
            problems.append(f"{display}: changes the existing task {was.id}")
    fields = old.backlog.model_dump(exclude={"tasks"})
    if new.backlog.model_dump(exclude={"tasks"}) != fields:
        problems.append(f"{display}: changes its top-level fields")
    if not added:
        problems.append(f"{display}: no task is added")
    for task in added:
        if task.status is not TaskStatus.PENDING:
            problems.append(f"{display}: the new task {task.id} is {task.status}, not pending")
    return added, problems


def _one_insertion(before: bytes, after: bytes) -> bool:
    """`after` is `before` with one run of bytes inserted somewhere (or nothing)."""
    if len(after) < len(before):
        return False
    prefix = 0
    limit = len(before)
    while prefix < limit and before[prefix] == after[prefix]:
        prefix += 1
    rest = len(before) - prefix
    return rest == 0 or after[len(after) - rest :] == before[prefix:]
