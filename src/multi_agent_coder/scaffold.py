"""`macoder init`: the files a repository needs to start, written once and never over a file.

What a newcomer needs to get from "installed" to a first run, and nothing that guesses for
them: a commented `.macoder.yaml` with the test command detected in this repository (and
the one line every run needs, the model, left for them to name); an OpenCode provider block
with the three kinds of endpoint people use (OpenAI-compatible, Anthropic, a local Ollama),
keys as `{env:NAME}` so the file holds no secret; a starter `BACKLOG.yaml` that passes
`macoder check`, pointing an editor at the schema; and the pre-commit hooks. A file that
exists is kept as it is and reported: `init` is safe to run again.

The texts are built here (pure); `write_new` is the one I/O, an exclusive create.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

SCHEMA_FILE: Final = ".macoder.schema.json"
PROVIDERS_FILE: Final = "opencode.json"


def macoder_yaml(test_command: Sequence[str] | None) -> str:
    """The commented settings file; the detected test command filled in when there is one."""
    if test_command:
        checks = f"checks:\n  test: {json.dumps(list(test_command))}   # detected by macoder init\n"
    else:
        checks = (
            "# checks:\n"
            "#   test: [make, test]   # no test runner was detected; name the command here\n"
        )
    return (
        "# multi-agent-coder settings (README: Configuration). Every key is optional but the\n"
        "# model: name the one your provider serves, as provider/model from opencode.json.\n"
        "opencode_config: opencode.json\n"
        "models:\n"
        "  implementation: openai/gpt-4.1          # <- your provider/model\n"
        "  # documentation: local/qwen3-coder      # small tasks; default: the model above\n"
        "\n"
        f"{checks}"
        "\n"
        "# task_timeout: 1800        # seconds of agent time per task\n"
        "# workers: 3                # tasks at once\n"
        "# max_tokens_per_task: 400000\n"
        "# failure_mode: no-pr       # or draft-pr: keep a failed attempt as a draft PR\n"
    )


def opencode_json() -> str:
    """OpenCode's provider block: the three kinds of endpoint, keys from the environment
    (macoder's gateway adds them outside the agent's sandbox; the file holds no secret)."""
    config = {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "openai": {"options": {"apiKey": "{env:OPENAI_API_KEY}"}},
            "anthropic": {"options": {"apiKey": "{env:ANTHROPIC_API_KEY}"}},
            "local": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Ollama on this machine",
                "options": {"baseURL": "http://127.0.0.1:11434/v1"},
                "models": {"qwen3-coder": {"tool_call": True}},
            },
        },
    }
    return json.dumps(config, indent=2) + "\n"


def backlog_yaml(now: datetime) -> str:
    """A one-task backlog that passes `macoder check`, with the schema modeline."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"# yaml-language-server: $schema={SCHEMA_FILE}\n"
        "# The work plan: one task per pull request. `macoder check` validates it,\n"
        "# `macoder ready` lists what can start, `macoder run` runs it.\n"
        'version: "1.0"\n'
        "track_id: main\n"
        f"created_at: {stamp}\n"
        f"updated_at: {stamp}\n"
        "\n"
        "tasks:\n"
        "  - id: T001\n"
        "    title: Add a health-check function\n"
        "    description: >-\n"
        "      Add health() in health.py returning the string ok, with a test.\n"
        "    status: pending\n"
        "    depends_on: []\n"
        "    acceptance:\n"
        '      - health() returns "ok"\n'
        "      - a test covers it\n"
        "    attempts: 0\n"
        "    scope:\n"
        "      files_hint: [health.py, tests/test_health.py]\n"
        "      estimated_hours: 0.5\n"
    )


def precommit_yaml() -> str:
    """The two hooks as local hooks on the installed `macoder` (no download, no pinned rev)."""
    return (
        "# multi-agent-coder's checks of BACKLOG.yaml, run on the `macoder` you installed.\n"
        "repos:\n"
        "  - repo: local\n"
        "    hooks:\n"
        "      - id: backlog-schema\n"
        "        name: backlog schema (YAML, schema, ids, dependencies, status)\n"
        "        entry: macoder check --only schema\n"
        "        language: system\n"
        "        files: (^|/)BACKLOG\\.ya?ml$\n"
        "        require_serial: true\n"
        "      - id: context-hygiene\n"
        "        name: context hygiene (size, planning debris, other task ids, pasted files)\n"
        "        entry: macoder check --only hygiene\n"
        "        language: system\n"
        "        files: (^|/)BACKLOG\\.ya?ml$|^specs/\n"
        "        require_serial: true\n"
    )


@dataclass(frozen=True, slots=True)
class Written:
    path: str
    created: bool


def write_new(root: Path, name: str, text: str) -> Written:
    """Create `root/name` with `text`, or keep the file that is there (never overwritten,
    not even by a race: the create is exclusive)."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return Written(name, created=False)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(text)
    return Written(name, created=True)
