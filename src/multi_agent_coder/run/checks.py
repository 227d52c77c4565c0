"""The repository's own checks: which commands they are, and running them on a tree.

A task is verified, and a repository judged healthy, by running the target repository's own
test runner (and linter and type checker, when configured). This module knows how to find
those commands (pure: file names and texts in, argv lists out) and how to run them on a
worktree (each bounded in time, its whole process tree killed at the end: `processes.py`).
What the results mean is decided by its callers: `health.py` for the baseline before a run,
`verify.py` for an agent's result.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any, Final

from multi_agent_coder.config import CheckCommands
from multi_agent_coder.errors import UnreadableFileError
from multi_agent_coder.git.env import clean_env
from multi_agent_coder.processes import run_bounded
from multi_agent_coder.sandbox import Jail
from multi_agent_coder.userfiles import read_user_file

#: The check names, as in `Settings.checks`, in the order they run.
TEST: Final = "test"
LINT: Final = "lint"
TYPES: Final = "types"

#: How each check is named to the user (the seed's words).
LABELS: Final[Mapping[str, str]] = {TEST: "test runner", LINT: "linter", TYPES: "type checker"}

#: pytest's "no tests were collected"; `python -m unittest` exits with it too since 3.12.
NO_TESTS_EXIT: Final = 5

#: `npm init` writes this test script; it fails on purpose and is no test runner.
NPM_PLACEHOLDER: Final = "no test specified"

#: Root files whose mere presence means pytest (they configure nothing else).
_PYTEST_FILES: Final = frozenset({"pytest.ini", ".pytest.ini", "conftest.py"})
#: Shared config files that mean pytest only with a pytest section (file -> section header).
_PYTEST_SECTIONS: Final[Mapping[str, re.Pattern[str]]] = {
    # `[ \t]`, not `\s`: `\s` also takes line breaks, so from every line start the match
    # would run over all the blank lines after it (quadratic in a file of blank lines).
    "setup.cfg": re.compile(r"^[ \t]*\[[ \t]*tool:pytest[ \t]*\]", re.MULTILINE),
    "tox.ini": re.compile(r"^[ \t]*\[[ \t]*pytest[ \t]*\]", re.MULTILINE),
}
PYPROJECT: Final = "pyproject.toml"
#: Config files whose text `detect_commands` wants (`scan_repo` reads them).
CONFIG_FILES: Final = (PYPROJECT, *_PYTEST_SECTIONS)
#: Directories whose test files make a pytest project.
TEST_DIRS: Final = ("tests", "test")
#: pytest's default test file names.
_PYTEST_FILE_PATTERNS: Final = ("test_*.py", "*_test.py")
#: `python -m unittest discover`'s default pattern.
_UNITTEST_PATTERN: Final = "test*.py"


# --- detection (pure) ---------------------------------------------------------------------


def pytest_command(python: str) -> list[str]:
    """pytest under `python`. `-p no:cacheprovider`: a check must not write into the tree it
    checks (a `.pytest_cache` would show up as a change in a task's worktree)."""
    return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def unittest_command(python: str) -> list[str]:
    return [python, "-m", "unittest", "discover", "-q"]


NPM_TEST: Final = ("npm", "test", "--silent")
GO_TEST: Final = ("go", "test", "./...")
CARGO_TEST: Final = ("cargo", "test", "--quiet")


def detect_commands(
    files: Collection[str],
    package_json: Mapping[str, Any] | None,
    python: str,
    *,
    configs: Mapping[str, str] | None = None,
) -> CheckCommands:
    """The checks a repository's files imply. Only the test runner is ever detected.

    `files` are repository-relative POSIX paths: the files at the root, plus the test files
    under `tests/` or `test/` (`scan_repo` collects exactly these). `package_json` is the
    parsed root `package.json`; `configs` maps the names in `CONFIG_FILES` to their text.

    First match wins: pytest (its config or a test directory), unittest (root `test*.py`),
    npm (a real `scripts.test`), `go test`, `cargo test`. A linter or type checker is never
    guessed: a guessed tool that is not installed would fail a repository that never asked
    for it, so those run only when configured.
    """
    if not python:
        raise ValueError("python must name an interpreter")
    texts = configs or {}
    roots = {path for path in files if "/" not in path}
    test: Sequence[str] | None = None
    if _uses_pytest(files, roots, texts):
        test = pytest_command(python)
    elif any(fnmatchcase(name, _UNITTEST_PATTERN) for name in roots):
        test = unittest_command(python)
    elif _npm_test_script(package_json):
        test = NPM_TEST
    elif "go.mod" in roots:
        test = GO_TEST
    elif "Cargo.toml" in roots:
        test = CARGO_TEST
    return CheckCommands(test=None if test is None else list(test))


def _uses_pytest(files: Collection[str], roots: Collection[str], texts: Mapping[str, str]) -> bool:
    if any(name in roots for name in _PYTEST_FILES):
        return True
    if PYPROJECT in texts and _pyproject_has_pytest(texts[PYPROJECT]):
        return True
    for name, section in _PYTEST_SECTIONS.items():
        if name in texts and section.search(texts[name]):
            return True
    return any(_is_test_dir_file(path) for path in files)


def _pyproject_has_pytest(text: str) -> bool:
    """`[tool.pytest.ini_options]` or pytest 9's `[tool.pytest]`. Unparsable TOML says
    nothing (the repository's own tools will complain about it)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    tool = document.get("tool")
    return isinstance(tool, dict) and "pytest" in tool


def _is_test_dir_file(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return (
        len(parts) > 1
        and parts[0] in TEST_DIRS
        and any(fnmatchcase(parts[-1], pattern) for pattern in _PYTEST_FILE_PATTERNS)
    )


def _npm_test_script(package_json: Mapping[str, Any] | None) -> bool:
    scripts = package_json.get("scripts") if package_json is not None else None
    if not isinstance(scripts, Mapping):
        return False
    test = scripts.get("test")
    return isinstance(test, str) and bool(test.strip()) and NPM_PLACEHOLDER not in test


def choose_commands(configured: CheckCommands, detected: CheckCommands) -> dict[str, list[str]]:
    """name -> argv of every check to run, in run order; a configured command wins."""
    pairs = (
        (TEST, configured.test or detected.test),
        (LINT, configured.lint or detected.lint),
        (TYPES, configured.types or detected.types),
    )
    return {name: list(argv) for name, argv in pairs if argv}


@dataclass(frozen=True, slots=True)
class CommandResult:
    """One check as it ran.

    `exit_code` is None when the command never exited on its own (not found, timed out);
    `failure` then says why. A negative `exit_code` is a signal that killed it.
    """

    name: str
    argv: tuple[str, ...]
    exit_code: int | None
    duration_s: float
    output_tail: str
    failure: str | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None and self.exit_code == 0

    @property
    def command(self) -> str:
        """The argv as one copy-pasteable shell line."""
        return shlex.join(self.argv)


# --- running commands (I/O) ---------------------------------------------------------------


def run_checks(
    workdir: Path,
    commands: Mapping[str, Sequence[str]],
    timeout_s: float,
    env: Mapping[str, str] | None = None,
) -> list[CommandResult]:
    """Run each named command in `workdir`, one after another, each bounded by `timeout_s`.

    No shell: an argv list goes to the program as is (`processes.run_bounded`: its own
    session, its whole group killed at the end). `env` (default: this process's environment)
    loses every `GIT_*` variable, so a check run from a git hook cannot act on the hook's
    repository; and `PYTHONDONTWRITEBYTECODE=1` keeps Python checks from writing
    `__pycache__` into the tree.
    """
    if not workdir.is_dir():
        raise NotADirectoryError(f"{workdir}: not a directory")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be above zero, not {timeout_s!r}")
    child_env = clean_env(env, PYTHONDONTWRITEBYTECODE="1")
    results: list[CommandResult] = []
    for name, argv in commands.items():
        if not argv:
            raise ValueError(f"check {name!r} has an empty command")
        done = run_bounded(argv, workdir, child_env, timeout_s)
        results.append(
            CommandResult(
                name, tuple(argv), done.exit_code, done.duration_s, done.output_tail, done.failure
            )
        )
    return results


# --- reading the repository (I/O) ---------------------------------------------------------

#: Enough entries of a test directory to find a test file; bounds the walk in a huge tree.
_MAX_WALK: Final = 10_000
#: Config files bigger than this are not read (no real one is).
_MAX_CONFIG_BYTES: Final = 1 << 20
_SKIPPED_DIRS: Final = frozenset({"__pycache__", "node_modules", ".git"})


@dataclass(frozen=True, slots=True)
class RepoFacts:
    """What detection looks at, read from a checkout (see `detect_commands`)."""

    files: tuple[str, ...]
    package_json: Mapping[str, Any] | None
    configs: Mapping[str, str]


def scan_repo(root: Path) -> RepoFacts:
    """The root's file names, the test files under `tests/` and `test/`, the parsed
    `package.json` (None if absent or not a JSON object) and the texts of `CONFIG_FILES`."""
    files: list[str] = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_file():
                files.append(entry.name)
            elif entry.is_dir() and entry.name in TEST_DIRS:
                files += _test_files(root, entry.name)
    configs = {name: text for name in CONFIG_FILES if (text := _read_text(root / name)) is not None}
    return RepoFacts(tuple(sorted(files)), _read_package_json(root / "package.json"), configs)


def _test_files(root: Path, directory: str) -> list[str]:
    """Python test files under `root/directory`, as POSIX paths from `root` (walk bounded)."""
    found: list[str] = []
    seen = 0
    for current, dirs, names in os.walk(root / directory):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith(".")]
        base = Path(current).relative_to(root).as_posix()
        for name in names:
            if any(fnmatchcase(name, pattern) for pattern in _PYTEST_FILE_PATTERNS):
                found.append(f"{base}/{name}")
        seen += len(names) + len(dirs)
        if found or seen > _MAX_WALK:
            break
    return found


def _read_text(path: Path) -> str | None:
    """The text of a build file the checks are detected from; None for anything `userfiles`
    refuses (absent, a FIFO, a symlink out of the tree, over 1 MiB): detection is a guess."""
    try:
        raw = read_user_file(path, max_bytes=_MAX_CONFIG_BYTES)
    except UnreadableFileError:
        return None
    return raw.decode("utf-8", errors="replace")


def _read_package_json(path: Path) -> Mapping[str, Any] | None:
    text = _read_text(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def detect_for(workdir: Path, configured: CheckCommands, python: str) -> dict[str, list[str]]:
    """name -> argv of every check to run in `workdir`: the configured ones, and the test
    runner detected from the tree (with `python` for pytest / unittest) when none is set."""
    detected = CheckCommands()
    if configured.test is None:
        facts = scan_repo(workdir)
        detected = detect_commands(facts.files, facts.package_json, python, configs=facts.configs)
    return choose_commands(configured, detected)


# --- where checks run ---------------------------------------------------------------------

#: The only variables the sandboxed checks get from macoder's environment: enough to find
#: the tools and speak the locale. No token, no key, no `GITHUB_*` file path.
CHECK_ENV_PASSED: Final = ("PATH", "LANG", "LC_ALL", "TERM")


def sandboxed_environment(environ: Mapping[str, str], scratch: Path) -> dict[str, str]:
    """The checks' environment in the sandbox: PATH and locale, a private home and temp dir."""
    env = {name: environ[name] for name in CHECK_ENV_PASSED if name in environ}
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), TMPDIR=str(scratch), PYTHONDONTWRITEBYTECODE="1", CI="true")
    return env


@dataclass(frozen=True, slots=True)
class CheckRunner:
    """Runs the repository's checks on a tree: in the checks sandbox (nothing writable but
    that tree and a scratch dir, no network, an environment with no secret), or — with the
    sandbox off — as plain children of macoder, as before."""

    jail: Jail
    environ: Mapping[str, str]

    def run(
        self, tree: Path, commands: Mapping[str, Sequence[str]], timeout_s: float
    ) -> list[CommandResult]:
        if not self.jail.enabled:
            return run_checks(tree, commands, timeout_s, self.environ)
        with tempfile.TemporaryDirectory(prefix="macoder-scratch-") as name:
            scratch = Path(name)
            env = sandboxed_environment(self.environ, scratch)
            policy = self.jail.checks_policy(
                copy=tree, scratch=scratch, env=env, environ=self.environ
            )
            wrapped = {label: self.jail.wrap(policy, argv) for label, argv in commands.items()}
            results = run_checks(tree, wrapped, timeout_s, env)
        # Reported as the user's commands, not as the sandbox's command lines, and a program
        # the sandbox could not start as not found (as it is reported outside one).
        return [_as_outside(replace(r, argv=tuple(commands[r.name]))) for r in results]


def _as_outside(result: CommandResult) -> CommandResult:
    missing = f"bwrap: execvp {result.argv[0]}: No such file or directory"
    if result.exit_code == 1 and result.output_tail.strip() == missing:
        return replace(result, exit_code=None, failure=f"command not found: {result.argv[0]}")
    return result
