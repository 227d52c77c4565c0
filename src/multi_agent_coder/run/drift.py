"""Context drift: is a task's agent still sent what the task is about, and only that?

The seed's drift detector watched three ways a prompt goes bad over time, and each is checked
here against what the run really did:

- **growth**: the same task's prompt grows by more than `drift_max_growth` (50 %) over its
  baseline. The baseline is the context size of the task's *first recorded attempt* (the
  caller reads it from the run ledger), so a spec that a rebase or retries keep fattening is
  caught even across runs; the first attempt has no baseline and cannot drift.
- **cross-task contamination**: the text the session received names another task of the
  backlog, so the agent may work on (or for) the wrong task.
- **planning debris**: that text carries planning chatter ("let me think", "we explored").

The last two run on the user-role messages the session actually received (read back from the
session), not on the prompt we meant to send: they catch whatever got in on the way. The
word lists and the matching rules are `context/hygiene.py`'s, so the pre-commit hook and this
check can never disagree about what counts.

Pure: numbers and texts in, verdicts out.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass

from multi_agent_coder.backlog.model import Task
from multi_agent_coder.context.build import DEFAULT_SETTINGS, ContextSettings

# Private in hygiene.py; used as they are so that the rules stay defined once (see module doc).
from multi_agent_coder.context.hygiene import debris_in, folded_phrases, other_task_ids


@dataclass(frozen=True, slots=True)
class DriftReport:
    """The growth verdict. `growth` is (current - baseline) / baseline, None without a
    baseline to compare with; `reason` is set exactly when `ok` is False."""

    ok: bool
    growth: float | None
    reason: str | None


def check_drift(
    task_id: str, baseline_bytes: int | None, current_bytes: int, max_growth: float
) -> DriftReport:
    """Has `task_id`'s prompt grown more than `max_growth` (a fraction: 0.5 = 50 %) over the
    baseline?

    `baseline_bytes` is None on the task's first attempt: nothing to compare with, no drift.
    A zero baseline is skipped too, as the seed did (no ratio exists; no real prompt is
    empty). Shrinking is never drift. Growth of exactly `max_growth` is still allowed.
    """
    if current_bytes < 0 or (baseline_bytes is not None and baseline_bytes < 0):
        raise ValueError(
            f"sizes cannot be negative (baseline {baseline_bytes}, current {current_bytes})"
        )
    if max_growth < 0:
        raise ValueError(f"max_growth cannot be negative, not {max_growth!r}")
    if not baseline_bytes:
        return DriftReport(ok=True, growth=None, reason=None)
    growth = (current_bytes - baseline_bytes) / baseline_bytes
    if growth <= max_growth:
        return DriftReport(ok=True, growth=growth, reason=None)
    reason = (
        f"context drift in {task_id}: the prompt is {current_bytes} bytes, {growth:.1%} more"
        f" than the {baseline_bytes} bytes of its first attempt (the limit is"
        f" {max_growth * 100:g}%)"
    )
    return DriftReport(ok=False, growth=growth, reason=reason)


def check_session_input(
    task: Task,
    user_texts: Sequence[str],
    other_ids: Container[str],
    settings: ContextSettings = DEFAULT_SETTINGS,
) -> list[str]:
    """Why the messages the session received for `task` are not clean; empty when they are.

    `user_texts` are the texts of the session's user-role messages, in order; `other_ids`
    the backlog's task ids (the task's own id is never a finding, so all ids may be passed);
    `settings` supplies the debris phrases (`Settings.context_settings()`). One reason per
    message and kind, naming the message by its position (1-based).
    """
    phrases = folded_phrases(settings.debris_phrases)
    reasons: list[str] = []
    for number, text in enumerate(user_texts, start=1):
        names = other_task_ids(text, task.id, other_ids)
        if names:
            which = f"task {names[0]}" if len(names) == 1 else f"tasks {', '.join(names)}"
            reasons.append(
                f"cross-task contamination in {task.id}: message {number} sent to the session"
                f" names {which}"
            )
        debris = debris_in(text, phrases)
        if debris:
            quoted = ", ".join(f'"{phrase}"' for phrase in debris)
            reasons.append(
                f"planning debris in {task.id}: message {number} sent to the session holds {quoted}"
            )
    return reasons
