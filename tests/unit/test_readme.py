"""The README's reference tables say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from multi_agent_coder.problems import CODES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def table_between(marker: str) -> str:
    match = re.search(rf"<!-- {marker}[^>]*-->(.*?)<!-- /{marker} -->", README, re.S)
    assert match, f"README lacks the {marker} markers"
    return match.group(1)


def test_the_problem_code_table_lists_every_code_with_its_meaning() -> None:
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (.+?) \|$", table_between("codes-table"), re.M)
    assert dict(rows) == CODES


def test_the_readme_starts_with_the_two_commands() -> None:
    head = README.split("## A five-minute tour")[0]
    assert "scripts/demo.sh" in head
    assert "scripts/test.sh" in head


def test_the_configuration_table_names_every_setting() -> None:
    from multi_agent_coder.config import Settings

    keys = set(re.findall(r"^\| `([a-z_]+)[`.]", table_between("config-table"), re.M))
    assert keys == set(Settings.model_fields)


def test_the_actions_hashed_requirements_match_the_lock() -> None:
    """action.yml installs from action-requirements.txt with --require-hashes; it must say
    exactly what uv.lock says (scripts/action-requirements.sh writes it)."""
    import subprocess

    import pytest

    root = Path(__file__).resolve().parents[2]
    uv = root / ".tools" / "uv" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("the pinned uv is not installed: run scripts/bootstrap.sh")
    exported = subprocess.run(
        [
            *(str(uv), "export", "--frozen", "--no-dev", "--group", "build"),
            *("--no-emit-project", "--format", "requirements-txt", "--no-header", "--quiet"),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (root / "action-requirements.txt").read_text(encoding="utf-8")
    assert committed == exported, "run scripts/action-requirements.sh and commit the result"
    assert "--hash=sha256:" in committed
    assert "hatchling==" in committed
