"""Builders for test backlogs: readable YAML from a few keyword arguments."""

from __future__ import annotations

from typing import Any

import yaml

from multi_agent_coder.backlog.model import Task

HEADER = {
    "version": "1.0",
    "track_id": "test-track",
    "created_at": "2026-11-01T09:00:00Z",
    "updated_at": "2026-11-02T09:00:00Z",
}


def task_dict(task_id: str = "T001", **overrides: Any) -> dict[str, Any]:
    """A valid task as plain data; keyword arguments replace fields."""
    data: dict[str, Any] = {
        "id": task_id,
        "title": f"Do the thing {task_id}",
        "description": "Implement the behaviour described in the acceptance criteria.",
        "status": "pending",
        "depends_on": [],
        "acceptance": ["the tests pass"],
        "attempts": 0,
        "scope": {"files_hint": ["src/thing.py"], "estimated_hours": 1.0},
    }
    data.update(overrides)
    return data


def task(task_id: str = "T001", **overrides: Any) -> Task:
    return Task.model_validate(task_dict(task_id, **overrides))


def backlog_dict(*tasks: dict[str, Any], **header: Any) -> dict[str, Any]:
    return {**HEADER, **header, "tasks": list(tasks)}


def backlog_yaml(*tasks: dict[str, Any], **header: Any) -> str:
    """Block-style YAML with keys in schema order, the way a person would write it."""
    return yaml.safe_dump(backlog_dict(*tasks, **header), sort_keys=False, allow_unicode=True)
