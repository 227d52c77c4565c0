"""Every setting does something: each one is read by the product's code.

A setting that nothing reads is a lie to the user (they set it, nothing changes). This walks
the `Settings` model — every field and every field of its groups — and looks for a read of it
in the package's source (an attribute access of that name, outside the class that declares
it). Tests elsewhere show that each one takes effect; this one keeps a new, unwired setting
from slipping in.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from multi_agent_coder.config import Settings

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "multi_agent_coder"


def leaf_settings(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted setting, the attribute name that reads it) for every leaf of `model`."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from leaf_settings(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", name


def attributes_read() -> set[str]:
    """Names read as `x.name` anywhere in the package (loads, not assignments)."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                names.add(node.attr)
    return names


def test_every_setting_is_read_by_the_product() -> None:
    read = attributes_read()
    unread = [setting for setting, attr in leaf_settings(Settings) if attr not in read]
    assert unread == [], f"settings nothing reads (wire them or remove them): {unread}"


def test_the_walk_sees_nested_settings() -> None:
    settings = dict(leaf_settings(Settings))
    assert settings["retry.max_retries"] == "max_retries"
    assert settings["models.documentation"] == "documentation"
    assert "retry" not in settings  # a group is not itself a setting
