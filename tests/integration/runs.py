"""Helpers for end-to-end `macoder run` tests: a fresh target repository, the real CLI in a
subprocess, and snapshots of everything a run may (or must not) change.

The target repository is built with the `git` binary: a tiny Python package with a passing
pytest suite, a BACKLOG.yaml the test writes, a `.macoder.yaml` that points OpenCode (the real
binary from `.tools/opencode`) at a `ScriptedModel` the test module runs. Every `macoder`
subprocess gets its own `TMPDIR` under the test's directory: `opencode serve` makes its HOME
there (`tempfile.mkdtemp`) and runs with that as its working directory, so the OpenCode
processes a test started can be told from every other one on the machine (`opencode_pids`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from multi_agent_coder.errors import EXIT_INTERNAL
from testing import scripted_model as sm
from tests.integration.gitrepos import git
from tests.support import backlog_yaml, task_dict

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "opencode" / "node_modules"
INSTALL_HINT = "OpenCode binary missing under .tools/opencode; run `bash scripts/opencode.sh`"

#: The identity of the person who owns the target repository (their commits, their checkout).
DEV = ("Dev Person", "dev@example.com")
#: macoder's own identity (Settings defaults).
MACODER = ("macoder", "macoder@localhost")
LEDGER_REF = "refs/macoder/ledger"

#: The target's code and tests: small, fast, green.
PACKAGE = {
    "mathlib/__init__.py": '"""A tiny package for macoder to work on."""\n',
    "mathlib/core.py": 'def double(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n',
    "tests/__init__.py": "",
    "tests/test_core.py": (
        "from mathlib.core import double\n\n\n"
        "def test_double() -> None:\n"
        "    assert double(21) == 42\n"
    ),
    "pyproject.toml": (
        '[project]\nname = "mathlib"\nversion = "0.1.0"\n\n'
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
    ),
}
GITIGNORE = ".macoder/\n__pycache__/\n"


def opencode_binary() -> Path | None:
    """The binary scripts/opencode.sh installs (the plain platform build first), or None."""
    found = sorted(
        (p for p in TOOLS.glob("opencode-*/bin/opencode") if p.is_file() and os.access(p, os.X_OK)),
        key=lambda p: (len(p.parent.parent.name), p.parent.parent.name),
    )
    return found[0].resolve() if found else None


# --- scenarios ---------------------------------------------------------------------------------


def feature(name: str = "triple", factor: int = 3, *, delay_s: float = 0.0) -> sm.Scenario:
    """A good agent: a module and its test, both passing, then a final answer."""
    return sm.Scenario(
        [
            sm.write(
                f"{{worktree}}/mathlib/{name}.py",
                f"def {name}(x: int) -> int:\n    return {factor} * x\n",
                delay_s=delay_s,
            ),
            sm.write(
                f"{{worktree}}/tests/test_{name}.py",
                f"from mathlib.{name} import {name}\n\n\n"
                f"def test_{name}() -> None:\n    assert {name}(2) == {2 * factor}\n",
            ),
            sm.text(f"Added mathlib/{name}.py with tests."),
        ]
    )


def wrong_code() -> sm.Scenario:
    """An agent whose code does not do what its own test says."""
    return sm.Scenario(
        [
            sm.write("{worktree}/mathlib/half.py", "def half(x: int) -> int:\n    return x\n"),
            sm.write(
                "{worktree}/tests/test_half.py",
                "from mathlib.half import half\n\n\n"
                "def test_half() -> None:\n    assert half(4) == 2\n",
            ),
            sm.text("Added half()."),
        ]
    )


# --- the target repository ---------------------------------------------------------------------


def tasks(*ids: str, depends: Mapping[str, Sequence[str]] | None = None) -> str:
    """BACKLOG.yaml text with `ids` as pending tasks (hints and titles distinct per task)."""
    deps = depends or {}
    return backlog_yaml(
        *(
            task_dict(
                task_id,
                title=f"Feature number {task_id[1:]}",
                depends_on=list(deps.get(task_id, ())),
                scope={"files_hint": [f"mathlib/f{task_id.lower()}.py"], "estimated_hours": 1.0},
            )
            for task_id in ids
        )
    )


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:  # pragma: no cover - a failing test shows why
            raise AssertionError(f"not JSON ({exc}):\n{self}") from None

    def __str__(self) -> str:
        return (
            f"exit {self.code} after {self.seconds:.1f} s\n--- stdout\n{self.stdout}"
            f"\n--- stderr\n{self.stderr}"
        )


@dataclass
class Target:
    """One target repository and what its `macoder` subprocesses run with."""

    root: Path
    scratch: Path  # TMPDIR of every macoder subprocess: opencode servers live under it
    home: Path  # HOME of every macoder subprocess: no developer git config leaks in

    # the CLI

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MACODER_"))}
        env.update(
            TMPDIR=str(self.scratch),
            HOME=str(self.home),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONUNBUFFERED="1",
            COLUMNS="200",
        )
        env.pop("XDG_CONFIG_HOME", None)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "multi_agent_coder", *args]

    def macoder(
        self, *args: str, timeout: float = 120, extra_env: Mapping[str, str] | None = None
    ) -> Result:
        """Run the real CLI to completion in the repository (`extra_env` on top of `env()`)."""
        started = time.monotonic()
        done = subprocess.run(
            self.command(*args),
            cwd=self.root,
            env={**self.env(), **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return _result(done.returncode, done.stdout, done.stderr, started)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start the CLI without waiting (its own process group, like a terminal job)."""
        return subprocess.Popen(
            self.command(*args),
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    # writing

    def commit(self, files: Mapping[str, str], message: str) -> str:
        for name, content in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)
        return git(self.root, "rev-parse", "HEAD")

    # reading

    def git(self, *args: str, check: bool = True) -> str:
        return git(self.root, *args, check=check)

    @property
    def git_dir(self) -> Path:
        return self.root / ".git"

    @property
    def forge_file(self) -> Path:
        return self.git_dir / "macoder" / "forge.json"

    def forge_bytes(self) -> bytes | None:
        return self.forge_file.read_bytes() if self.forge_file.exists() else None

    def pulls(self) -> list[dict[str, Any]]:
        """Every PR record of the local forge (read directly, not through macoder)."""
        raw = self.forge_bytes()
        return [] if raw is None else list(json.loads(raw)["pulls"])

    def comments(self, number: int) -> list[str]:
        """The texts of the local forge's comments on PR `number` (read directly)."""
        raw = self.forge_bytes()
        kept = {} if raw is None else json.loads(raw).get("comments", {})
        return [
            c["body"]
            for _, c in sorted(kept.items(), key=lambda kv: int(kv[0]))
            if c["pr"] == number
        ]

    def checkout(self) -> tuple[str, str, str]:
        """The user's checkout: current branch, HEAD, and status (untracked files included)."""
        return (
            self.git("symbolic-ref", "-q", "HEAD", check=False),
            self.git("rev-parse", "HEAD"),
            self.git("--no-optional-locks", "status", "--porcelain=v1", "--untracked-files=all"),
        )

    def worktrees(self) -> list[str]:
        """Every worktree git lists, the main checkout first."""
        lines = self.git("worktree", "list", "--porcelain").splitlines()
        return [line.removeprefix("worktree ") for line in lines if line.startswith("worktree ")]

    def worktree_dirs(self) -> list[str]:
        """What is left under .macoder/worktrees (directories and files)."""
        base = self.root / ".macoder" / "worktrees"
        return sorted(p.name for p in base.iterdir()) if base.is_dir() else []

    def no_worktree_left(self) -> bool:
        return self.worktrees() == [str(self.root)] and self.worktree_dirs() == []

    def branches(self) -> list[str]:
        out = self.git("branch", "--list", "macoder/*", "--format=%(refname:short)")
        return out.splitlines()

    def refs(self) -> str:
        return self.git("for-each-ref", "--format=%(objectname) %(refname)")

    def ledger(self) -> list[dict[str, Any]] | None:
        """The ledger's records, or None when the ref does not exist."""
        if not self.git("for-each-ref", LEDGER_REF):
            return None
        text = self.git("show", f"{LEDGER_REF}:ledger.jsonl")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def records(self, task_id: str) -> list[dict[str, Any]]:
        return [r for r in self.ledger() or [] if r["task"] == task_id]

    def commits(self, base: str, head: str) -> list[tuple[str, str, str]]:
        """`(author, committer, subject)` of the commits `base..head`, oldest first."""
        out = self.git(
            "log", "--reverse", "--format=%an <%ae>%x09%cn <%ce>%x09%s", f"{base}..{head}"
        )
        return [tuple(line.split("\t")) for line in out.splitlines()]  # type: ignore[misc]

    def files_changed(self, base: str, head: str) -> list[str]:
        return self.git("diff", "--name-only", base, head).splitlines()

    def opencode_pids(self) -> list[int]:
        """Live OpenCode processes started for this target (see the module docstring)."""
        return opencode_pids_under(self.scratch)


def wait_for(what: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(step)
    return what()


def make_target(
    base: Path,
    model: sm.ScriptedModel,
    binary: Path,
    backlog: str,
    *,
    task_timeout: float = 30,
    settings: Mapping[str, Any] | None = None,
    files: Mapping[str, str] | None = None,
) -> Target:
    """A fresh target repository under `base`, committed on `main` by the dev identity."""
    root = base / "repo"
    scratch = base / "scratch"
    home = base / "home"
    for path in (root, scratch, home):
        path.mkdir(parents=True)
    opencode_json = base / "opencode.json"
    opencode_json.write_text(json.dumps({"provider": model.provider_config()}, indent=2))
    config: dict[str, Any] = {
        "opencode_config": str(opencode_json),
        "opencode_bin": str(binary),
        "models": dict.fromkeys(("implementation", "documentation"), sm.MODEL_REF),
        "checks": {"test": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]},
        "task_timeout": task_timeout,
        "workers": 3,
        **(settings or {}),
    }
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", DEV[0])
    git(root, "config", "user.email", DEV[1])
    git(root, "config", "commit.gpgsign", "false")
    target = Target(root, scratch, home)
    target.commit(
        {
            **PACKAGE,
            **(files or {}),
            ".gitignore": GITIGNORE,
            ".macoder.yaml": yaml.safe_dump(config, sort_keys=False),
            "BACKLOG.yaml": backlog,
        },
        "initial",
    )
    return target


# --- processes ---------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _home_under(pid: int, marker: Path) -> bool:
    """The process runs in, or has its HOME under, `marker` (an OpenCode server's own home)."""
    with contextlib.suppress(OSError):
        if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(marker):
            return True
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    prefix = f"HOME={marker}/".encode()
    return any(item.startswith(prefix) for item in environ)


def opencode_pids_under(marker: Path) -> list[int]:
    """Live processes of the .tools OpenCode binary whose server home is under `marker`."""
    tools = str(TOOLS.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except (OSError, UnicodeDecodeError):
            continue
        if tools not in exe and tools not in argv0:
            continue
        if _alive(pid) and _home_under(pid, marker):
            found.append(pid)
    return sorted(found)


def kill_all(pids: Sequence[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
    wait_for(lambda: not [p for p in pids if _alive(p)], 5)


def finish(process: subprocess.Popen[str], timeout: float = 60) -> Result:
    """Wait for a started CLI and collect its output (killing its group if it overstays)."""
    started = time.monotonic()
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
    return _result(process.returncode, out, err, started)


def _result(code: int, out: str, err: str, started: float) -> Result:
    """A finished CLI's result; an internal error's traceback file is read into its stderr and
    the whole result printed to the test's captured output (assertion texts are cut short)."""
    result = Result(code, out, err + _crash_reports(err), time.monotonic() - started)
    if code == EXIT_INTERNAL:
        print(result, file=sys.stderr)
    return result


def _crash_reports(stderr: str) -> str:
    """The traceback files an internal error named (`the traceback is in PATH`), their text."""
    texts = []
    for path in re.findall(r"the traceback is in (\S+); please report it", stderr):
        with contextlib.suppress(OSError):
            texts.append(f"--- {path}\n{Path(path).read_text()}")
    return "\n".join(texts)
