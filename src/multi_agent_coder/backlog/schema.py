"""The JSON Schema of BACKLOG.yaml, generated from the pydantic model (one source of truth).

A copy is committed as `schema/backlog.schema.json` for editors (`# yaml-language-server:
$schema=...`) and other validators; a test keeps it in sync with `schema_text()`.
"""

from __future__ import annotations

import json
from typing import Any

from multi_agent_coder.backlog.model import Backlog


def backlog_schema() -> dict[str, Any]:
    return Backlog.model_json_schema()


def schema_text() -> str:
    return json.dumps(backlog_schema(), indent=2, sort_keys=False) + "\n"
