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
