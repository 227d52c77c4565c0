"""What the publish-rebase job accepts from a rebase job: the rules, as pure functions.

The rebase job ran the rebase model, so what it hands over may have been shaped by it: a
commit that also edits a workflow, a rewrite that quietly changes the task's title, its
dependencies or its scope, that marks another task completed, or that leaves the attempts as
they were. Before the publish job (which holds the token) pushes anything, every rule here
must hold; each broken one is a sentence. The I/O is `run/rebase_publish.py`'s; the rules on
the bundle and the one commit are shared with a plan's (`run/feature_rules.py`).

A rewrite's hand-off is exactly one commit of macoder's on the planned base that changes the
backlog file and nothing else, and in the backlog exactly one task's entry: only its
description, acceptance and context may differ (what `planning/rebase.py` lets the model
rewrite), its status is pending and its attempts zero (or absent), every other task and every
top-level field reads back as before, and the file passes `macoder check` — with no warning
for the task either (a rewrite must fit the agent's prompt uncut).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from multi_agent_coder.backlog.load import Check, load_bytes
from multi_agent_coder.backlog.model import Task, TaskStatus
from multi_agent_coder.backlog.write import entry_span
from multi_agent_coder.git.repo import Change
from multi_agent_coder.planning.rebase import REWRITABLE
from multi_agent_coder.problems import errors_in
from multi_agent_coder.run.feature_rules import SHOWN_PROBLEMS
from multi_agent_coder.yamlread import decode, split_bom

#: A rewrite's bundle holds one commit of one backlog file.
MAX_REBASE_BUNDLE_BYTES: Final = 8 * 1024 * 1024
#: What a rewrite sets, besides the rewritable fields.
_RESET: Final = ("status", "attempts")


@dataclass(frozen=True, slots=True)
class RebaseExpected:
    """What the workflow run and the repository's settings (on the default branch) say."""

    task_id: str
    run_id: str
    base_sha: str
    #: The one ref the bundle carries (`refs/macoder/handoff/rebase-<id>`).
    ref: str
    emails: Collection[str]
    backlog_path: str

    @property
    def what(self) -> str:
        return "a rewrite"


def path_problems(changes: Sequence[Change], expected: RebaseExpected) -> list[str]:
    """The backlog, modified, and no other file."""
    problems = [
        f"changes {c.path}: a rewrite changes only {expected.backlog_path}"
        for c in changes
        if c.path != expected.backlog_path
    ]
    mine = [c for c in changes if c.path == expected.backlog_path]
    if not mine:
        problems.append(f"does not change {expected.backlog_path}")
    elif any(c.kind != "modified" for c in mine):
        problems.append(f"{mine[0].kind} {expected.backlog_path}: a rewrite modifies it")
    return problems


def rewrite_problems(
    before: bytes | None,
    after: bytes | None,
    expected: RebaseExpected,
    checks: Sequence[Check],
) -> tuple[Task | None, list[str]]:
    """(the task as rewritten, the problems): the backlog at the head must be the base's with
    exactly `expected.task_id`'s entry rewritten as a rewrite may rewrite it (see the
    module's docstring), and pass `checks` (what `macoder check` runs)."""
    display, task_id = expected.backlog_path, expected.task_id
    if before is None or after is None:
        where = "the planned base" if before is None else "the rewrite"
        return None, [f"{display}: missing in {where}"]
    old = load_bytes(before, display, ())
    if old.backlog is None:
        return None, [f"{display} at the planned base does not load; fix it first"]
    new = load_bytes(after, display, checks)
    index = old.backlog.task_index().get(task_id)
    if index is None:
        return None, [f"{display}: {task_id} is no task at the planned base"]
    prefix = f"tasks[{index}]"
    found = errors_in(new.problems) + [
        p
        for p in new.problems
        if p.severity == "warning" and (p.field == prefix or p.field.startswith(prefix + "."))
    ]
    if found or new.backlog is None:
        shown = [p.render() for p in found[:SHOWN_PROBLEMS]]
        more = len(found) - len(shown)
        return None, [
            f"{display} does not pass macoder check: "
            + "; ".join(shown)
            + (f" (and {more} more)" if more > 0 else "")
        ]
    problems: list[str] = []
    if new.backlog.model_dump(exclude={"tasks"}) != old.backlog.model_dump(exclude={"tasks"}):
        problems.append(f"{display}: changes its top-level fields")
    olds, news = old.backlog.tasks, new.backlog.tasks
    if [t.id for t in news] != [t.id for t in olds]:
        problems.append(f"{display}: adds, removes or reorders tasks (a rewrite changes one)")
        return None, problems
    for was, now in zip(olds, news, strict=True):
        if was.id != task_id and was != now:
            problems.append(f"{display}: changes {was.id}, not the task rewritten ({task_id})")
    was, task = olds[index], news[index]
    kept = set(REWRITABLE) | set(_RESET)
    changed = [
        name
        for name in Task.model_fields
        if name not in kept and getattr(was, name) != getattr(task, name)
    ]
    if changed:
        problems.append(
            f"{display}: {task_id}'s {', '.join(changed)} changed: a rewrite changes only "
            f"{', '.join(REWRITABLE)}"
        )
    if task.status is not TaskStatus.PENDING:
        problems.append(f"{display}: {task_id} is {task.status.value}, not pending")
    if task.attempts != 0:
        problems.append(f"{display}: {task_id} has attempts {task.attempts}, not 0")
    if all(getattr(was, name) == getattr(task, name) for name in REWRITABLE):
        problems.append(f"{display}: {task_id}'s entry is not rewritten")
    if not problems and not _only_the_entry_differs(before, after, index):
        problems.append(
            f"{display}: changes text outside {task_id}'s entry (a comment, the layout): a "
            "rewrite replaces that entry and leaves every other byte as it was"
        )
    return (None if problems else task), problems


def _only_the_entry_differs(before: bytes, after: bytes, index: int) -> bool:
    """Every byte outside task `index`'s entry is the same in both (what
    `backlog/write.with_task_replaced`, the one writer of a rewrite, keeps)."""
    old_text, new_text = decode(before), decode(after)
    old, new = entry_span(old_text, index), entry_span(new_text, index)
    if old is None or new is None:
        return False
    return (
        old_text[: old[0]] == new_text[: new[0]]
        and old_text[old[1] :] == new_text[new[1] :]
        and split_bom(before)[0] == split_bom(after)[0]
    )
