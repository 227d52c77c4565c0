"""Model routing: which configured model a task's agent runs on.

The seed sent documentation and small changes to the cheap (free-tier) model and everything
else to the strong one, judging a task by its wording and its declared size. The rules and
thresholds are the seed's; the models are the user's (`Settings.models`), so a repository can
point both roles at the same model and routing becomes a no-op.

Pure: a task and the model settings in, a decision out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from multi_agent_coder.backlog.model import Task
from multi_agent_coder.config import ModelSettings


class TaskKind(StrEnum):
    """What kind of work a task is, as far as choosing a model goes."""

    DOCUMENTATION = "documentation"
    SIMPLE_CHANGE = "simple_change"
    IMPLEMENTATION = "implementation"
    COMPLEX_CHANGE = "complex_change"


#: Words in a title that make a task documentation work (the seed's, matched as substrings, so
#: "documentation", "README.md" and "comments" count too).
DOCUMENTATION_TITLE_WORDS: Final = ("document", "readme", "comment")
#: The seed's one description phrase for documentation work.
DOCUMENTATION_DESCRIPTION_PHRASE: Final = "add documentation"

#: At most this many hours and files is a simple change (the seed's "< 2 hours, 1-2 files").
SIMPLE_MAX_HOURS: Final = 2.0
SIMPLE_MAX_FILES: Final = 2
#: More than this many hours or files is a complex change.
COMPLEX_MIN_HOURS: Final = 4.0
COMPLEX_MIN_FILES: Final = 5

#: The `ModelSettings` field that serves a task.
Role = Literal["documentation", "implementation", "review"]

_ROLE: Final[dict[TaskKind, Role]] = {
    # Simple changes go to the documentation model: the seed's "free tier for simple changes".
    TaskKind.DOCUMENTATION: "documentation",
    TaskKind.SIMPLE_CHANGE: "documentation",
    TaskKind.IMPLEMENTATION: "implementation",
    TaskKind.COMPLEX_CHANGE: "implementation",
}


@dataclass(frozen=True, slots=True)
class RoutedModel:
    """The routing decision, with the model split the way OpenCode's prompt body wants it
    (`model: {providerID, modelID}`)."""

    kind: TaskKind
    role: Role
    model: str
    provider_id: str
    model_id: str


def classify(task: Task) -> TaskKind:
    """The seed's classification, first rule that matches wins.

    Wording comes first: a large documentation task is still documentation. Then size: both
    small hours *and* few files make a simple change; either many hours *or* many files make
    a complex one; everything in between is a plain implementation.
    """
    title = task.title.casefold()
    if any(word in title for word in DOCUMENTATION_TITLE_WORDS) or (
        DOCUMENTATION_DESCRIPTION_PHRASE in task.description.casefold()
    ):
        return TaskKind.DOCUMENTATION
    hours = task.scope.estimated_hours
    files = len(task.scope.files_hint)
    if hours <= SIMPLE_MAX_HOURS and files <= SIMPLE_MAX_FILES:
        return TaskKind.SIMPLE_CHANGE
    if hours > COMPLEX_MIN_HOURS or files > COMPLEX_MIN_FILES:
        return TaskKind.COMPLEX_CHANGE
    return TaskKind.IMPLEMENTATION


def role_for(kind: TaskKind) -> Role:
    """Which configured model serves a kind of task."""
    return _ROLE[kind]


def split_model(ref: str) -> tuple[str, str]:
    """`provider/model` -> (provider, model). The provider ends at the first '/'; the model id
    keeps any further slashes (`openrouter/anthropic/claude-sonnet-4`).

    `ModelSettings` already refuses malformed references; this check only keeps a reference
    built some other way from turning into an empty provider or model id.
    """
    provider, _, model = ref.partition("/")
    if not provider or not model:
        raise ValueError(f"model {ref!r} is not in the form 'provider/model'")
    return provider, model


def model_for(task: Task, models: ModelSettings, *, revision: bool = False) -> RoutedModel:
    """The model `task`'s agent runs on, and why (its kind and the role that was used). A
    revision after a review (`revision`) runs on `models.review` when one is set: answering
    a reviewer is its own job, which a repository may give a stronger (or cheaper) model."""
    kind = classify(task)
    role: Role = "review" if revision and models.review is not None else role_for(kind)
    ref = models.for_role(role)
    provider_id, model_id = split_model(ref)
    return RoutedModel(kind=kind, role=role, model=ref, provider_id=provider_id, model_id=model_id)
