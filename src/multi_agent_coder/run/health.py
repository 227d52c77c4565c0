"""The instrumentation health check: can the target repository's own checks be trusted?

A task is verified by running the repository's tests in its worktree (DESIGN §5 step 8). That
proves something only if the tests run, and pass, *before* an agent touches anything: with a
broken runner, a missing tool or a suite that is already red, every task would fail, or pass
for the wrong reason. So, like the seed's instrumentation checker, each run first runs the
checks once on the default branch head and stops, touching nothing, when a critical one fails:

- the test runner is critical, and finding no test runner at all is critical too;
- the type checker is critical when one is configured;
- the linter only warns (the seed: "optional").

The seed ran a throw-away smoke test; here the repository's real suite runs, because a green
baseline is what verification later compares against.

Layout: detection and judgement are pure (file names and results in, decisions out); the I/O
(reading the root, running commands) is at the bottom, and `check_health` ties them together.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final

from multi_agent_coder.config import CheckCommands, Settings
from multi_agent_coder.git.env import clean_env

#: The check names, as in `Settings.checks`, in the order they run.
TEST: Final = "test"
LINT: Final = "lint"
TYPES: Final = "types"

#: How each check is named to the user (the seed's words).
LABELS: Final[Mapping[str, str]] = {TEST: "test runner", LINT: "linter", TYPES: "type checker"}

#: A failing critical check makes the repository unhealthy; any other check only warns.
CRITICAL: Final = frozenset({TEST, TYPES})

#: What a check keeps of its output (the end is where runners put their summary).
OUTPUT_TAIL_BYTES: Final = 4096

#: pytest's "no tests were collected"; `python -m unittest` exits with it too since 3.12.
NO_TESTS_EXIT: Final = 5

NO_TEST_RUNNER: Final = "no test runner detected; set checks.test"
NO_TESTS_COLLECTED: Final = "no tests collected: verification cannot prove anything"

#: `npm init` writes this test script; it fails on purpose and is no test runner.
NPM_PLACEHOLDER: Final = "no test specified"

#: Root files whose mere presence means pytest (they configure nothing else).
_PYTEST_FILES: Final = frozenset({"pytest.ini", ".pytest.ini", "conftest.py"})
#: Shared config files that mean pytest only with a pytest section (file -> section header).
_PYTEST_SECTIONS: Final[Mapping[str, re.Pattern[str]]] = {
    "setup.cfg": re.compile(r"^\s*\[\s*tool:pytest\s*\]", re.MULTILINE),
    "tox.ini": re.compile(r"^\s*\[\s*pytest\s*\]", re.MULTILINE),
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


# --- judgement (pure) ---------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The verdict. `checks` are the results it was judged on, in run order."""

    healthy: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    checks: tuple[CommandResult, ...]

    def describe(self, tail_lines: int = 20) -> str:
        """A text for a log or a job summary: the verdict, every error and warning, and the
        last lines of output of each check that failed."""
        lines = [
            "instrumentation health check: "
            + ("healthy" if self.healthy else "FAILED (fix these before running any task)")
        ]
        lines += [f"  error: {error}" for error in self.errors]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        for result in self.checks:
            if result.passed or not result.output_tail.strip():
                continue
            lines.append(f"  output of {LABELS.get(result.name, result.name)} (last lines):")
            tail = result.output_tail.rstrip().splitlines()[-tail_lines:]
            lines += [f"    | {line}" for line in tail]
        return "\n".join(lines)


def judge(results: Sequence[CommandResult]) -> HealthReport:
    """The seed's verdict on the checks that ran.

    A missing test result means no test runner was configured or detected, which is critical:
    verification could then prove nothing. "No tests collected" is healthy with a warning, for
    the same reason not an error: a new repository may have no tests yet.
    """
    errors: list[str] = []
    warnings: list[str] = []
    if not any(result.name == TEST for result in results):
        errors.append(f"{LABELS[TEST]}: {NO_TEST_RUNNER}")
    for result in results:
        label = LABELS.get(result.name, result.name)
        if result.name == TEST and _no_tests(result):
            warnings.append(f"{label}: `{result.command}`: {NO_TESTS_COLLECTED}")
        elif not result.passed:
            message = f"{label}: `{result.command}`: {_what_went_wrong(result)}"
            (errors if result.name in CRITICAL else warnings).append(message)
    return HealthReport(
        healthy=not errors, errors=tuple(errors), warnings=tuple(warnings), checks=tuple(results)
    )


_RAN_NO_TESTS: Final = re.compile(r"^Ran 0 tests", re.MULTILINE)


def _no_tests(result: CommandResult) -> bool:
    """pytest or unittest ran and found nothing (unittest before 3.12 exits 0 for that)."""
    if result.failure is not None:
        return False
    words = {PurePosixPath(arg).name for arg in result.argv}
    unittest = "unittest" in words
    if result.exit_code == NO_TESTS_EXIT:
        return unittest or bool(words & {"pytest", "py.test"})
    return unittest and result.exit_code == 0 and bool(_RAN_NO_TESTS.search(result.output_tail))


def _what_went_wrong(result: CommandResult) -> str:
    if result.failure is not None:
        return result.failure
    code = result.exit_code
    if code is not None and code < 0:
        try:
            what = f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            what = f"killed by signal {-code}"
    else:
        what = f"exited with status {code}"
    last = _last_line(result.output_tail)
    return f"{what}: {last}" if last else what


def _last_line(text: str, limit: int = 160) -> str:
    """The last non-blank output line: pytest's "1 failed in 0.02s", python's "No module
    named pytest". Enough to say what happened in one line."""
    for line in reversed(text.splitlines()):
        stripped = line.strip()
        if stripped:
            return stripped if len(stripped) <= limit else stripped[: limit - 3] + "..."
    return ""


# --- running commands (I/O) ---------------------------------------------------------------

#: How often a running check is polled for exit, at most (it starts at 1 ms).
_POLL_MAX_S: Final = 0.05


def run_checks(
    workdir: Path,
    commands: Mapping[str, Sequence[str]],
    timeout_s: float,
    env: Mapping[str, str] | None = None,
) -> list[CommandResult]:
    """Run each named command in `workdir`, one after another, each bounded by `timeout_s`.

    No shell: an argv list goes to the program as is. Each command runs in its own process
    group (a new session), and the whole group is killed when the command ends or times out,
    so a stuck grandchild (a server a test started, a `sleep` under `sh`) cannot outlive it or
    hold the run. `env` (default: this process's environment) loses every `GIT_*` variable,
    so a check run from a git hook cannot act on the hook's repository; and
    `PYTHONDONTWRITEBYTECODE=1` keeps Python checks from writing `__pycache__` into the tree.
    """
    if not workdir.is_dir():
        raise NotADirectoryError(f"{workdir}: not a directory")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be above zero, not {timeout_s!r}")
    child_env = clean_env(env, PYTHONDONTWRITEBYTECODE="1")
    return [
        _run_one(name, tuple(argv), workdir, timeout_s, child_env)
        for name, argv in commands.items()
    ]


def _run_one(
    name: str, argv: tuple[str, ...], workdir: Path, timeout_s: float, env: Mapping[str, str]
) -> CommandResult:
    if not argv:
        raise ValueError(f"check {name!r} has an empty command")
    started = time.monotonic()
    with tempfile.TemporaryFile() as output:
        # A file, not a pipe: nothing can block on a full pipe, and a grandchild that keeps
        # the output open cannot make us wait for an end-of-file that never comes.
        try:
            process = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            failure = f"command not found: {argv[0]}"
            return CommandResult(name, argv, None, time.monotonic() - started, "", failure)
        except OSError as exc:
            failure = f"cannot run {argv[0]}: {exc.strerror or exc}"
            return CommandResult(name, argv, None, time.monotonic() - started, "", failure)
        try:
            exited = _wait_unreaped(process.pid, timeout_s)
        finally:
            # The leader is not reaped yet, so its pid still names this group: the kill
            # cannot hit an unrelated process that reused the number.
            _kill_group(process.pid)
            code = process.wait()
        duration = time.monotonic() - started
        tail = _tail(output)
    if not exited:
        return CommandResult(name, argv, None, duration, tail, f"timed out after {timeout_s:g}s")
    return CommandResult(name, argv, code, duration, tail)


def _wait_unreaped(pid: int, timeout_s: float) -> bool:
    """Wait up to `timeout_s` for `pid` to exit, leaving it unreaped; True if it exited."""
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    while True:
        state = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if state is not None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))
        delay = min(delay * 2, _POLL_MAX_S)


def _kill_group(pgid: int) -> None:
    # The unreaped leader keeps the group alive, so this finds it; suppress() is a safety net.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(output: IO[bytes]) -> str:
    """The last `OUTPUT_TAIL_BYTES` of the output, not starting inside a UTF-8 character."""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - OUTPUT_TAIL_BYTES))
    data = output.read()
    if size > OUTPUT_TAIL_BYTES:
        skip = 0
        while skip < min(3, len(data)) and data[skip] & 0xC0 == 0x80:
            skip += 1
        data = data[skip:]
    return data.decode("utf-8", "replace")


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
    try:
        if not path.is_file() or path.stat().st_size > _MAX_CONFIG_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _read_package_json(path: Path) -> Mapping[str, Any] | None:
    text = _read_text(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# --- the whole check ----------------------------------------------------------------------


def check_health(
    workdir: Path,
    settings: Settings,
    *,
    python: str = sys.executable,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> HealthReport:
    """Run the repository's checks in `workdir` (a checkout of the default branch head) and
    judge them. Commands come from `settings.checks` where set, detected otherwise; each
    check is bounded by `timeout_s` (default: `settings.task_timeout`)."""
    configured = settings.checks
    detected = CheckCommands()
    if configured.test is None:
        facts = scan_repo(workdir)
        detected = detect_commands(facts.files, facts.package_json, python, configs=facts.configs)
    commands = choose_commands(configured, detected)
    timeout = settings.task_timeout if timeout_s is None else timeout_s
    return judge(run_checks(workdir, commands, timeout, env))
