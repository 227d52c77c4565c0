"""The committed JSON Schema is the one the model generates, and it agrees with the loader."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from multi_agent_coder.backlog.schema import backlog_schema, schema_text

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_is_in_sync_with_the_model() -> None:
    committed = (ROOT / "schema" / "backlog.schema.json").read_text()
    assert committed == schema_text(), "run: .venv/bin/macoder schema > schema/backlog.schema.json"


def test_the_good_example_validates_against_the_schema() -> None:
    data = yaml.safe_load((ROOT / "examples/backlogs/good/BACKLOG.yaml").read_text())
    # PyYAML (1.1) turns unquoted timestamps into datetimes; the schema speaks of strings.
    data["created_at"], data["updated_at"] = str(data["created_at"]), str(data["updated_at"])
    jsonschema.Draft202012Validator(backlog_schema()).validate(data)


def test_the_schema_refuses_what_the_model_refuses() -> None:
    validator = jsonschema.Draft202012Validator(backlog_schema())
    task = {
        "id": "T1;ls",
        "title": "t",
        "description": "d",
        "status": "done",
        "acceptance": [],
        "scope": {"estimated_hours": 0},
        "extra": 1,
    }
    doc = {
        "version": "1",
        "track_id": "x",
        "created_at": "2026-01-01",
        "updated_at": "2026-01-01",
        "tasks": [task],
    }
    messages = " ".join(e.message for e in validator.iter_errors(doc))
    for fragment in ("T1;ls", "'done'", "[]", "0", "extra"):
        assert fragment in messages
    assert json.loads(schema_text())["title"] == "BACKLOG.yaml (multi-agent-coder)"
