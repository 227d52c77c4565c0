"""`macoder doctor`: every check a run makes before it leases anything, each reported, with
nothing written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from testing import scripted_model as sm
from tests.cli import macoder
from tests.integration.gitrepos import git, make_repo
from tests.integration.runs import opencode_binary
from tests.support import backlog_yaml, task_dict


def repo_with(tmp_path: Path, provider: dict[str, object]) -> Path:
    (tmp_path / "opencode.json").write_text(json.dumps({"provider": provider}))
    binary = opencode_binary()
    settings = {
        "opencode_config": str(tmp_path / "opencode.json"),
        "models": {"implementation": sm.MODEL_REF},
        "checks": {"test": [sys.executable, "-c", "print('fine')"]},
        **({"opencode_bin": str(binary)} if binary else {}),
    }
    return make_repo(
        tmp_path / "repo",
        {
            "BACKLOG.yaml": backlog_yaml(task_dict("T001")),
            ".macoder.yaml": yaml.safe_dump(settings),
        },
    )


def findings(stdout: str) -> dict[str, tuple[bool, str]]:
    out = {}
    for line in stdout.splitlines():
        mark, _, rest = line.partition(" ")
        name, _, detail = rest.strip().partition(": ")
        if mark in ("ok", "FAIL"):
            out[name] = (mark == "ok", detail)
    return out


def test_doctor_reports_each_check_of_a_working_setup(tmp_path: Path) -> None:
    with sm.ScriptedModel({}) as model:
        root = repo_with(tmp_path, model.provider_config())
        refs = git(root, "for-each-ref")
        done = macoder("doctor", cwd=root)
        found = findings(done.stdout)
        assert list(found) == ["git", "opencode", "sandbox", "models", "checks"], done.output
        assert found["git"][0]
        assert found["models"] == (True, f"{sm.MODEL_REF} answer")
        assert found["checks"][0], found["checks"]
        assert "-c print('fine')" in found["checks"][1]
        if opencode_binary() is None:
            assert not found["opencode"][0]
            assert "OpenCode not found" in found["opencode"][1]
        else:
            assert found["opencode"][0], found["opencode"]
        assert [r.kind for r in model.requests] == ["aux"]  # one tiny request, no task
        assert git(root, "for-each-ref") == refs  # nothing leased, nothing written
        assert done.code == (0 if all(ok for ok, _ in found.values()) else 1)


def test_doctor_names_a_model_that_does_not_answer_and_fails(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/v1"
    provider = sm.provider_config(dead)
    root = repo_with(tmp_path, provider)
    done = macoder("doctor", cwd=root)
    assert done.code == 1
    assert not findings(done.stdout)["models"][0]
    assert f"{sm.MODEL_REF} at {dead}/chat/completions: cannot connect" in done.stdout
    assert "would stop at the first" in done.stdout
