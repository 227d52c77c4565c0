"""The pinned OpenCode install: what npm put on disk is held to the committed lockfile.

npm itself is replaced by a small script on PATH (the registry is not reachable from tests):
it lays out `node_modules` the way npm does, including the hidden lockfile where npm records
the integrity it checked each tarball against — as the real registry gave it, or tampered.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from multi_agent_coder.agents.opencode.install import (
    LOCK,
    UnpinnedPackageError,
    check_pinned,
    install_opencode,
    locked_version,
    main,
)
from multi_agent_coder.agents.opencode.server import find_binary
from multi_agent_coder.config import Settings

PINNED = json.loads(LOCK.read_text())["packages"]


def test_the_lockfile_pins_the_version_macoder_runs_with_sha512_for_each_package() -> None:
    assert locked_version() == Settings().opencode_version
    packages = {k: v for k, v in PINNED.items() if k}
    assert "node_modules/opencode-ai" in packages
    assert any(k.startswith("node_modules/opencode-linux-") for k in packages)
    for entry in packages.values():
        assert entry["version"] == locked_version()
        assert entry["integrity"].startswith("sha512-")


def hidden_lock(prefix: Path, packages: dict[str, object]) -> None:
    folder = prefix / "node_modules"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".package-lock.json").write_text(json.dumps({"packages": packages}))


def test_an_install_that_matches_the_lockfile_passes(tmp_path: Path) -> None:
    hidden_lock(tmp_path, {k: v for k, v in PINNED.items() if k})
    assert check_pinned(tmp_path) == len(PINNED) - 1
    assert main([str(tmp_path)]) == 0


def test_another_integrity_is_refused_naming_package_and_hashes(tmp_path: Path) -> None:
    packages = {k: dict(v) for k, v in PINNED.items() if k}
    packages["node_modules/opencode-ai"]["integrity"] = "sha512-tampered"
    hidden_lock(tmp_path, packages)
    with pytest.raises(UnpinnedPackageError, match="opencode-ai with integrity 'sha512-tampered'"):
        check_pinned(tmp_path)
    assert main([str(tmp_path)]) == 1


def test_a_package_the_lockfile_does_not_have_is_refused(tmp_path: Path) -> None:
    packages = {k: v for k, v in PINNED.items() if k}
    packages["node_modules/left-pad"] = {"version": "1.0.0", "integrity": "sha512-x"}
    hidden_lock(tmp_path, packages)
    with pytest.raises(
        UnpinnedPackageError, match=re.escape("left-pad@1.0.0, which package-lock.json")
    ):
        check_pinned(tmp_path)


FAKE_NPM = """#!{python}
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
prefix = Path(args[args.index("--prefix") + 1])
with open(os.environ["FAKE_NPM_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
packages = json.loads(os.environ["FAKE_NPM_PACKAGES"])
(prefix / "node_modules").mkdir(parents=True, exist_ok=True)
(prefix / "node_modules" / ".package-lock.json").write_text(json.dumps({{"packages": packages}}))
binary = prefix / "node_modules" / os.environ["FAKE_NPM_PLATFORM"] / "bin" / "opencode"
binary.parent.mkdir(parents=True, exist_ok=True)
binary.write_text("#!/bin/sh\\necho " + os.environ["FAKE_NPM_VERSION"] + "\\n")
binary.chmod(0o755)
"""


def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, packages: dict[str, object]) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    npm = bindir / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable))
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "npm.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    monkeypatch.setenv("FAKE_NPM_PACKAGES", json.dumps(packages))
    monkeypatch.setenv("FAKE_NPM_VERSION", locked_version())
    platform = next(k for k in PINNED if k.startswith("node_modules/opencode-linux-x64"))
    monkeypatch.setenv("FAKE_NPM_PLATFORM", platform.removeprefix("node_modules/"))
    return log


@pytest.mark.skipif(sys.platform != "linux", reason="the fake lays out the linux-x64 build")
def test_the_pinned_install_runs_no_scripts_and_checks_the_lockfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_npm(tmp_path, monkeypatch, {k: v for k, v in PINNED.items() if k})
    out = io.StringIO()
    binary = install_opencode(tmp_path / "home", locked_version(), out)
    assert binary == find_binary(project_root=tmp_path / "home")
    (args,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert "--ignore-scripts" in args
    assert "checked against the lockfile" in out.getvalue()


@pytest.mark.skipif(sys.platform != "linux", reason="the fake lays out the linux-x64 build")
def test_a_tampered_registry_answer_fails_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packages = {k: dict(v) for k, v in PINNED.items() if k}
    next(iter(packages.values()))["integrity"] = "sha512-evil"
    fake_npm(tmp_path, monkeypatch, packages)
    with pytest.raises(UnpinnedPackageError, match="sha512-evil"):
        install_opencode(tmp_path / "home", locked_version(), io.StringIO())


@pytest.mark.skipif(sys.platform != "linux", reason="the fake lays out the linux-x64 build")
def test_install_opencode_puts_the_pinned_binary_where_run_and_doctor_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli import macoder
    from tests.integration.gitrepos import make_repo

    fake_npm(tmp_path, monkeypatch, {k: v for k, v in PINNED.items() if k})
    root = make_repo(tmp_path / "repo", {"README.md": "mine\n"})
    done = macoder("install-opencode", cwd=root)
    assert done.code == 0, done.output
    binary = find_binary(project_root=root)  # the default discovery finds it
    assert done.stdout == f"OpenCode {locked_version()}: {binary}\n"
    assert "checked against the lockfile" in done.stderr
    # Never committed by mistake: the clone excludes it, and git sees a clean tree.
    assert "/.tools/" in (root / ".git" / "info" / "exclude").read_text().splitlines()
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=root, capture_output=True, check=True
    )
    assert status.stdout == b""
    again = macoder("install-opencode", cwd=root)
    assert again.code == 0
    assert (root / ".git" / "info" / "exclude").read_text().count("/.tools/") == 1


@pytest.mark.skipif(sys.platform != "linux", reason="the fake lays out the linux-x64 build")
def test_with_a_cache_npm_prefers_it_and_the_install_is_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Action keeps npm's cache between jobs: npm is told to use it first, and what it
    installs from it is checked against the lockfile like a download."""
    cache = tmp_path / "npm-cache"
    log = fake_npm(tmp_path, monkeypatch, {k: v for k, v in PINNED.items() if k})
    install_opencode(tmp_path / "home", locked_version(), io.StringIO(), cache=cache)
    (args,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert args[args.index("--cache") + 1] == str(cache)
    assert "--prefer-offline" in args
    packages = {k: dict(v) for k, v in PINNED.items() if k}
    next(iter(packages.values()))["integrity"] = "sha512-from-a-poisoned-cache"
    monkeypatch.setenv("FAKE_NPM_PACKAGES", json.dumps(packages))
    with pytest.raises(UnpinnedPackageError, match="sha512-from-a-poisoned-cache"):
        install_opencode(tmp_path / "home2", locked_version(), io.StringIO(), cache=cache)


@pytest.mark.skipif(sys.platform != "linux", reason="the fake lays out the linux-x64 build")
def test_without_a_cache_npm_is_not_told_of_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_npm(tmp_path, monkeypatch, {k: v for k, v in PINNED.items() if k})
    install_opencode(tmp_path / "home", locked_version(), io.StringIO())
    (args,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert "--cache" not in args
    assert "--prefer-offline" not in args


def test_npm_downloads_are_cached_only_for_the_version_the_lockfile_pins() -> None:
    """A restored cache may come from any workflow run of the repository: only what the
    install then checks against the lockfile may come from one."""
    from multi_agent_coder.run.setup import opencode_cache_key

    pinned = Settings()
    key = opencode_cache_key(pinned, "Linux", "x86_64")
    assert key is not None
    assert key.startswith(f"macoder-npm-Linux-x86_64-opencode-ai@{locked_version()}-")
    assert opencode_cache_key(pinned, "Darwin", "arm64") != key  # npm fetches one platform's
    assert opencode_cache_key(Settings(opencode_version="1.0.0"), "Linux", "x86_64") is None
    configured = Settings(opencode_bin="/opt/opencode")  # nothing is installed
    assert opencode_cache_key(configured, "Linux", "x86_64") is None
