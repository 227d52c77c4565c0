"""Fixtures every test directory shares: the OpenCode binary, the scripted model, a target.

- `binary`: the pinned OpenCode that scripts/opencode.sh installs under `.tools/opencode`
  (the plain platform build first); a test that needs it is skipped, with the reason and the
  fix, where it is missing (or where `TESTS_WITHOUT_TOOLS=1` asks to do without).
- `model`: one scripted OpenAI-compatible model server per test module (a module may give it
  scenarios with a `SCENARIOS` mapping; tests add more with `set_scenario`).
- `backlog_reads`: every read of `BACKLOG.yaml` at a commit (`Repo.file_at`) during the test,
  for tests that prove a path reads the backlog once.
- `make_target`: builds fresh target repositories for end-to-end runs of the CLI, and kills
  any OpenCode process a test left behind (each test asserts on leftovers itself; this only
  keeps one failure from leaking into the next test).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testing import scripted_model as sm
from tests.integration import runs

MakeTarget = Callable[..., runs.Target]

#: Set to run the suite as on a machine with none of the external tools (OpenCode, GitHub's
#: published OpenAPI description): what `scripts/coverage.sh` measures the core with.
WITHOUT_TOOLS = "TESTS_WITHOUT_TOOLS"


def without_tools() -> bool:
    return os.environ.get(WITHOUT_TOOLS, "") not in ("", "0")


@pytest.fixture(scope="session")
def binary() -> Path:
    if without_tools():
        pytest.skip(f"{WITHOUT_TOOLS} is set: the run goes without the OpenCode binary")
    found = runs.opencode_binary()
    if found is None:
        pytest.skip(runs.INSTALL_HINT)
    return found


@pytest.fixture(scope="module")
def model(request: pytest.FixtureRequest) -> Iterator[sm.ScriptedModel]:
    with sm.ScriptedModel(getattr(request.module, "SCENARIOS", None)) as server:
        yield server


@pytest.fixture
def make_target(tmp_path: Path, binary: Path, model: sm.ScriptedModel) -> Iterator[MakeTarget]:
    made: list[runs.Target] = []

    def build(backlog: str, **kwargs: Any) -> runs.Target:
        target = runs.make_target(tmp_path / f"t{len(made)}", model, binary, backlog, **kwargs)
        made.append(target)
        return target

    yield build
    for target in made:
        runs.kill_all(target.opencode_pids())


@pytest.fixture
def backlog_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The revisions `BACKLOG.yaml` is read at (through `Repo.file_at`), in order."""
    from multi_agent_coder.git.repo import Repo

    reads: list[str] = []
    file_at = Repo.file_at

    def counted(self: Repo, rev: str, path: str, **kw: Any) -> bytes | None:
        if path == "BACKLOG.yaml":
            reads.append(rev)
        return file_at(self, rev, path, **kw)

    monkeypatch.setattr(Repo, "file_at", counted)
    return reads
