"""What to do with a task's pull request: create it or update it. Pure.

Both forges keep one promise (DESIGN §7): a task has one branch, `macoder/<id>`, and at most
one open pull request for it, found before anything is created. Given the open PR (if any)
and the PR the run wants, `plan_pr` decides:

- no open PR: **create** one;
- an open PR: **update** exactly the fields that differ — its draft state too, in place (on
  GitHub through GraphQL), so the PR keeps its number, threads and approvals (only where
  GitHub refuses the token that change does the GitHub forge close the PR and open its
  successor instead: a failed attempt is never left merge-ready) — add the
  missing labels and take off macoder's state labels the new attempt no longer earns
  (`macoder:failed`, `macoder:needs-review`; a person's own labels are never touched).
  `operation` is `none` when nothing differs and the head did not move, so a re-run reports
  honestly.
"""

from __future__ import annotations

from dataclasses import dataclass

from multi_agent_coder.forge.base import (
    LABEL_FAILED,
    LABEL_NEEDS_REVIEW,
    Operation,
    PullRequest,
    WantedPr,
)


@dataclass(frozen=True, slots=True)
class Create:
    """Open a new pull request."""


@dataclass(frozen=True, slots=True)
class Update:
    """Change `pr` in place. A field is None when it stays as it is."""

    pr: PullRequest
    title: str | None
    body: str | None
    base: str | None
    draft: bool | None
    add_labels: tuple[str, ...]
    operation: Operation
    remove_labels: tuple[str, ...] = ()


PrPlan = Create | Update

#: Labels that say how macoder's last attempt went: a new attempt sets them afresh.
STATE_LABELS = (LABEL_FAILED, LABEL_NEEDS_REVIEW)


def plan_pr(existing: PullRequest | None, wanted: WantedPr) -> PrPlan:
    """The one thing to do to give `wanted.task_id` exactly one open pull request like `wanted`."""
    if existing is None:
        return Create()
    return plan_update(existing, wanted)


def plan_update(existing: PullRequest, wanted: WantedPr) -> Update:
    """The in-place update that makes `existing` look like `wanted`, its draft state too."""

    def changed(now: str, want: str) -> str | None:
        return want if want != now else None

    title = changed(existing.title, wanted.title)
    body = changed(existing.body, wanted.body)
    base = changed(existing.base, wanted.base)
    draft = wanted.draft if wanted.draft != existing.draft else None
    missing = tuple(label for label in dict.fromkeys(wanted.labels) if label not in existing.labels)
    stale = tuple(
        label for label in existing.labels if label in STATE_LABELS and label not in wanted.labels
    )
    differs = any(value is not None for value in (title, body, base, draft)) or bool(
        missing or stale
    )
    moved = existing.head_sha != wanted.head_sha
    operation: Operation = "updated" if differs or moved else "none"
    return Update(existing, title, body, base, draft, missing, operation, stale)
