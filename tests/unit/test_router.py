"""Model routing: the seed's task kinds, and the model each kind runs on."""

from __future__ import annotations

from typing import Any

import pytest

from multi_agent_coder.agents.router import (
    RoutedModel,
    TaskKind,
    classify,
    model_for,
    split_model,
)
from multi_agent_coder.backlog.model import Task
from multi_agent_coder.config import ModelSettings
from tests.support import task

MODELS = ModelSettings(
    documentation="cheap/small-model",
    implementation="openrouter/anthropic/claude-sonnet-4",
)


def sized(hours: float, files: int, **overrides: Any) -> Task:
    """A task with neutral wording and the given size."""
    fields: dict[str, Any] = {
        "title": "Add rate limiting",
        "description": "Limit requests per client.",
        "scope": {
            "files_hint": [f"src/module_{n}.py" for n in range(files)],
            "estimated_hours": hours,
        },
    }
    return task(**{**fields, **overrides})


# --- classification: wording ------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "Document the public API",
        "Write API documentation",
        "Update README",
        "Fix typos in readme.md",
        "Add comments to the parser",
        "COMMENT the tricky bits",
    ],
)
def test_a_title_about_documents_readmes_or_comments_is_documentation(title: str) -> None:
    assert classify(sized(10, 20, title=title)) is TaskKind.DOCUMENTATION


def test_a_description_that_says_add_documentation_is_documentation() -> None:
    t = sized(10, 20, description="Add Documentation for every endpoint.")
    assert classify(t) is TaskKind.DOCUMENTATION


def test_documentation_words_in_the_description_alone_do_not_count() -> None:
    t = sized(3, 3, description="Keep the README and the comments in sync.")
    assert classify(t) is TaskKind.IMPLEMENTATION


def test_wording_wins_over_size() -> None:
    assert classify(sized(40, 30, title="Document everything")) is TaskKind.DOCUMENTATION


# --- classification: size -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "files", "kind"),
    [
        (0.5, 0, TaskKind.SIMPLE_CHANGE),
        (2, 2, TaskKind.SIMPLE_CHANGE),  # both limits are inclusive
        (2.5, 2, TaskKind.IMPLEMENTATION),
        (2, 3, TaskKind.IMPLEMENTATION),
        (4, 5, TaskKind.IMPLEMENTATION),  # both limits are exclusive
        (4.5, 1, TaskKind.COMPLEX_CHANGE),  # many hours alone
        (3, 6, TaskKind.COMPLEX_CHANGE),  # many files alone
        (1, 6, TaskKind.COMPLEX_CHANGE),  # few hours do not make many files simple
    ],
)
def test_size_decides_between_simple_implementation_and_complex(
    hours: float, files: int, kind: TaskKind
) -> None:
    assert classify(sized(hours, files)) is kind


# --- which model --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "kind", "role"),
    [
        (sized(1, 1, title="Update README"), TaskKind.DOCUMENTATION, "documentation"),
        (sized(1, 1), TaskKind.SIMPLE_CHANGE, "documentation"),
        (sized(3, 3), TaskKind.IMPLEMENTATION, "implementation"),
        (sized(8, 9), TaskKind.COMPLEX_CHANGE, "implementation"),
    ],
)
def test_documentation_and_simple_changes_use_the_documentation_model(
    t: Task, kind: TaskKind, role: str
) -> None:
    assert model_for(t, MODELS).kind is kind
    assert model_for(t, MODELS).role == role
    assert model_for(t, MODELS).model == getattr(MODELS, role)


def test_the_model_is_split_at_the_first_slash_for_opencode() -> None:
    assert model_for(sized(3, 3), MODELS) == RoutedModel(
        kind=TaskKind.IMPLEMENTATION,
        role="implementation",
        model="openrouter/anthropic/claude-sonnet-4",
        provider_id="openrouter",
        model_id="anthropic/claude-sonnet-4",
    )
    routed = model_for(sized(1, 1), MODELS)
    assert (routed.provider_id, routed.model_id) == ("cheap", "small-model")


def test_a_user_who_names_one_model_gets_it_for_every_task() -> None:
    """No second built-in default a provider may not have: documentation and small tasks
    follow the implementation model unless a documentation model is named."""
    models = ModelSettings(implementation="mine/coder")
    assert model_for(sized(1, 1), models).model == "mine/coder"
    assert model_for(sized(10, 9), models).model == "mine/coder"
    assert models.refs() == {"mine/coder"}


@pytest.mark.parametrize("ref", ["no-slash", "/model", "provider/"])
def test_a_reference_without_provider_and_model_is_refused(ref: str) -> None:
    with pytest.raises(ValueError, match="provider/model"):
        split_model(ref)
