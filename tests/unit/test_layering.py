"""The layering DESIGN §3 asks for, held by reading the imports of every module.

- `cli/` and `action/` are faces: they parse input, call `run/` (or `backlog/`, `context/`)
  and render; they never import `git/`, `forge/` or `agents/` (the session builds those);
- the pure layers (`backlog/`, `context/`, `planning/`, `run/state.py`, every `sansio.py`,
  the PR policy, the structured merge) import no I/O library;
- readiness is decided in one place: `ready_tasks` is called from `run/state.py` alone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "multi_agent_coder"
IO_LIBRARIES = frozenset({"httpx", "pygit2", "subprocess", "socket", "tenacity"})


def imported(path: Path) -> Iterator[str]:
    """Every module `path` imports, anywhere in it (also inside functions)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def modules(*parts: str) -> list[Path]:
    found: list[Path] = []
    for part in parts:
        target = PACKAGE / part
        found += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return found


@pytest.mark.parametrize("path", modules("cli", "action"), ids=lambda p: p.name)
def test_faces_never_build_plumbing(path: Path) -> None:
    forbidden = ("multi_agent_coder.git", "multi_agent_coder.forge", "multi_agent_coder.agents")
    assert [name for name in imported(path) if name.startswith(forbidden)] == []


PURE = [
    *modules("backlog", "context", "planning"),
    *modules("run/state.py", "forge/pr_policy.py", "forge/github_sansio.py"),
    *modules("run/metrics.py", "run/metrics_render.py", "run/feature_rules.py"),
    *modules("run/rebase_rules.py"),
    *modules("forge/github_graphql.py"),
    *modules("agents/opencode/sansio.py", "agents/opencode/timeouts.py", "agents/router.py"),
    *modules("gateway/sansio.py", "gateway/routes.py", "sandbox/policy.py", "retry_after.py"),
    *modules("planning/merge.py", "markdown.py"),
]


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_import_no_io(path: Path) -> None:
    heavy = {name.split(".")[0] for name in imported(path)} & IO_LIBRARIES
    assert heavy == set()


def test_readiness_is_decided_in_one_place() -> None:
    callers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name | ast.Attribute)
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "ready_tasks"
    )
    assert callers == ["run/state.py"]
