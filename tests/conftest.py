"""Fixtures every test directory shares: the OpenCode binary, the scripted model, a target.

- `binary`: the pinned OpenCode that scripts/opencode.sh installs under `.tools/opencode`
  (the plain platform build first); a test that needs it is skipped, with the reason and the
  fix, where it is missing.
- `model`: one scripted OpenAI-compatible model server per test module (a module may give it
  scenarios with a `SCENARIOS` mapping; tests add more with `set_scenario`).
- `make_target`: builds fresh target repositories for end-to-end runs of the CLI, and kills
  any OpenCode process a test left behind (each test asserts on leftovers itself; this only
  keeps one failure from leaking into the next test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testing import scripted_model as sm
from tests.integration import runs

MakeTarget = Callable[..., runs.Target]


@pytest.fixture(scope="session")
def binary() -> Path:
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
