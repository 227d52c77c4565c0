"""The repository's checks (detection, running real ones) and the health verdict on them."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.config import CheckCommands, Settings
from multi_agent_coder.processes import OUTPUT_TAIL_BYTES
from multi_agent_coder.run.checks import (
    NO_TESTS_EXIT,
    CheckRunner,
    CommandResult,
    choose_commands,
    detect_commands,
    run_checks,
    scan_repo,
)
from multi_agent_coder.run.health import HealthReport, check_health, judge, vouched
from multi_agent_coder.sandbox import jail_for

PY = "/opt/py/bin/python"


@pytest.fixture(params=["sandboxed", "plain"])
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> CheckRunner:
    """Where the checks run: in the checks sandbox (the default), or, with `sandbox: off`,
    as plain children of macoder; both must judge alike."""
    jail = jail_for(
        enabled=request.param == "sandboxed",
        extra_read=(),
        repo_root=tmp_path / "no-repository",
        git_dir=tmp_path / "no-repository" / ".git",
    )
    return CheckRunner(jail, dict(os.environ))


PYTEST = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
UNITTEST = [PY, "-m", "unittest", "discover", "-q"]


def detect(
    *files: str, package_json: Mapping[str, Any] | None = None, **configs: str
) -> list[str] | None:
    """The detected test command; `configs` are file texts, `setup_cfg=` for `setup.cfg`."""
    texts = {name.replace("_", "."): text for name, text in configs.items()}
    detected = detect_commands(files, package_json, PY, configs=texts)
    assert detected.lint is None
    assert detected.types is None
    return detected.test


# --- detection: python ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pytest.ini", ".pytest.ini", "conftest.py"])
def test_pytest_own_files_mean_pytest(name: str) -> None:
    assert detect(name, "README.md") == PYTEST


def test_a_pyproject_with_a_pytest_table_means_pytest() -> None:
    assert detect("pyproject.toml", pyproject_toml="[tool.pytest.ini_options]\n") == PYTEST
    assert detect("pyproject.toml", pyproject_toml='[tool.pytest]\nminversion = "9.0"\n') == PYTEST


def test_a_pyproject_without_pytest_or_unparsable_says_nothing() -> None:
    assert detect("pyproject.toml", pyproject_toml="[tool.ruff]\nline-length = 100\n") is None
    assert detect("pyproject.toml", pyproject_toml="[tool.pytest\n") is None


def test_setup_cfg_and_tox_ini_mean_pytest_only_with_a_pytest_section() -> None:
    assert detect("setup.cfg", setup_cfg="[metadata]\n[tool:pytest]\naddopts = -q\n") == PYTEST
    assert detect("tox.ini", tox_ini="[tox]\n[pytest]\n") == PYTEST
    assert detect("setup.cfg", "tox.ini", setup_cfg="[metadata]\n", tox_ini="[tox]\n") is None


@pytest.mark.parametrize(
    "path", ["tests/test_app.py", "tests/unit/test_app.py", "test/app_test.py"]
)
def test_a_test_directory_with_test_files_means_pytest(path: str) -> None:
    assert detect("setup.py", path) == PYTEST


def test_a_test_directory_without_test_files_means_nothing() -> None:
    assert detect("tests/helpers.py", "tests/data.json") is None
    assert detect("src/test_looking.py") is None


def test_root_test_files_without_pytest_mean_unittest() -> None:
    assert detect("test_app.py", "app.py") == UNITTEST
    assert detect("tests.py") == UNITTEST  # unittest's pattern is test*.py


def test_pytest_wins_over_unittest() -> None:
    assert detect("test_app.py", "conftest.py") == PYTEST


# --- detection: other ecosystems ----------------------------------------------------------------


def test_a_real_npm_test_script_means_npm_test() -> None:
    package = {"scripts": {"test": "vitest run"}}
    assert detect("package.json", package_json=package) == ["npm", "test", "--silent"]


@pytest.mark.parametrize(
    "package",
    [
        {"scripts": {"test": 'echo "Error: no test specified" && exit 1'}},  # npm init's
        {"scripts": {"build": "tsc"}},
        {"scripts": {"test": "  "}},
        {"scripts": ["test"]},
        {},
    ],
)
def test_npm_placeholder_or_missing_test_script_is_no_runner(package: dict[str, Any]) -> None:
    assert detect("package.json", package_json=package) is None


def test_go_and_cargo_are_detected_by_their_manifests() -> None:
    assert detect("go.mod") == ["go", "test", "./..."]
    assert detect("Cargo.toml") == ["cargo", "test", "--quiet"]


def test_python_comes_first_then_npm_go_cargo() -> None:
    npm = {"scripts": {"test": "jest"}}
    assert detect("conftest.py", "go.mod", package_json=npm) == PYTEST
    assert detect("go.mod", "Cargo.toml", package_json=npm) == ["npm", "test", "--silent"]
    assert detect("go.mod", "Cargo.toml") == ["go", "test", "./..."]


def test_nothing_recognisable_means_no_test_command() -> None:
    assert detect("README.md", "Makefile") is None
    assert detect() is None


def test_configured_commands_win_and_lint_and_types_are_never_guessed() -> None:
    configured = CheckCommands(lint=["ruff", "check"], types=None)
    detected = CheckCommands(test=["go", "test"])
    assert choose_commands(configured, detected) == {
        "test": ["go", "test"],
        "lint": ["ruff", "check"],
    }
    assert choose_commands(CheckCommands(test=["make", "test"]), detected) == {
        "test": ["make", "test"]
    }


# --- the verdict -------------------------------------------------------------------------------


def result(
    name: str,
    exit_code: int | None = 0,
    *,
    argv: tuple[str, ...] = ("tool",),
    output: str = "",
    failure: str | None = None,
) -> CommandResult:
    return CommandResult(name, argv, exit_code, 0.1, output, failure)


def test_all_checks_passing_is_healthy() -> None:
    results = [result("test"), result("lint"), result("types")]
    assert judge(results) == HealthReport(
        healthy=True, errors=(), warnings=(), checks=tuple(results)
    )


def test_a_failing_test_runner_is_critical_and_quotes_its_last_line() -> None:
    report = judge([result("test", 1, argv=("pytest", "-q"), output="..F\n1 failed in 0.02s\n")])
    assert not report.healthy
    assert report.errors == ("test runner: `pytest -q`: exited with status 1: 1 failed in 0.02s",)


def test_no_test_runner_at_all_is_critical() -> None:
    report = judge([result("lint")])
    assert not report.healthy
    assert report.errors == ("test runner: no test runner detected; set checks.test",)


def test_a_configured_type_checker_that_fails_is_critical() -> None:
    report = judge([result("test"), result("types", 1, argv=("mypy", "src"))])
    assert not report.healthy
    assert report.errors == ("type checker: `mypy src`: exited with status 1",)


def test_a_failing_linter_is_only_a_warning() -> None:
    report = judge([result("test"), result("lint", 1, argv=("ruff", "check"))])
    assert report.healthy
    assert report.warnings == ("linter: `ruff check`: exited with status 1",)


def test_pytest_collecting_no_tests_is_healthy_with_a_warning() -> None:
    report = judge([result("test", NO_TESTS_EXIT, argv=(PY, "-m", "pytest"))])
    assert report.healthy
    assert report.warnings == (
        f"test runner: `{PY} -m pytest`: no tests collected: verification cannot prove anything",
    )


def test_unittest_running_no_tests_is_a_warning_whatever_the_python_version() -> None:
    new = result("test", NO_TESTS_EXIT, argv=tuple(UNITTEST))  # Python >= 3.12
    old = result("test", 0, argv=tuple(UNITTEST), output="\nRan 0 tests in 0.000s\n\nOK\n")
    for outcome in (new, old):
        report = judge([outcome])
        assert report.healthy
        assert "no tests collected" in report.warnings[0]


def test_exit_5_of_another_runner_is_a_plain_failure() -> None:
    report = judge([result("test", NO_TESTS_EXIT, argv=("make", "test"))])
    assert report.errors == ("test runner: `make test`: exited with status 5",)


def test_not_found_timed_out_and_killed_say_so() -> None:
    report = judge(
        [
            result("test", None, argv=("nope",), failure="command not found: nope"),
            result("types", None, argv=("sleep", "9"), failure="timed out after 1s"),
            result("lint", -9, argv=("lint",)),
        ]
    )
    assert report.errors == (
        "test runner: `nope`: command not found: nope",
        "type checker: `sleep 9`: timed out after 1s",
    )
    assert report.warnings == ("linter: `lint`: killed by signal SIGKILL",)


def test_the_description_lists_problems_and_the_tail_of_failed_output() -> None:
    report = judge(
        [result("test", 1, argv=("t",), output="line 1\nboom\n"), result("lint", output="ok")]
    )
    assert report.describe() == (
        "the repository's own checks on the default branch: FAILED (fix these before running"
        " any task)\n"
        "  error: test runner: `t`: exited with status 1: boom\n"
        "  output of test runner (last lines):\n"
        "    | line 1\n"
        "    | boom"
    )
    assert (
        judge([result("test")]).describe()
        == "the repository's own checks on the default branch: healthy"
    )


# --- running real checks -----------------------------------------------------------------------


def write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def settings(**checks: list[str]) -> Settings:
    return Settings(checks=CheckCommands(**checks))


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def is_running(pid: int) -> bool:
    """Alive and not a zombie (a zombie is dead, only waiting for its parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def gone_soon(pid: int, within_s: float = 15.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.02)
    return False


def test_a_passing_pytest_project_is_healthy(tmp_path: Path, runner: CheckRunner) -> None:
    write(tmp_path, {"tests/test_ok.py": "def test_ok():\n    assert 1 + 1 == 2\n"})
    report = check_health(tmp_path, Settings(), runner=runner)
    assert report.healthy, report.describe()
    assert report.errors == report.warnings == ()
    [test] = report.checks
    assert test.argv == (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert "1 passed" in test.output_tail
    written = {p.name for p in tmp_path.rglob("*")}
    assert not written & {".pytest_cache", "__pycache__"}  # the check wrote no caches


def test_a_failing_pytest_project_is_unhealthy(tmp_path: Path, runner: CheckRunner) -> None:
    write(tmp_path, {"tests/test_bad.py": "def test_bad():\n    assert 1 + 1 == 3\n"})
    report = check_health(tmp_path, Settings(), runner=runner)
    assert not report.healthy
    [error] = report.errors
    assert error.startswith("test runner: ")
    assert re.search(r"exited with status 1: 1 failed in [0-9.]+s$", error), error
    assert "FAILED tests/test_bad.py::test_bad" in report.describe()


def test_a_pytest_project_with_no_tests_is_healthy_with_a_warning(
    tmp_path: Path, runner: CheckRunner
) -> None:
    write(tmp_path, {"pytest.ini": "[pytest]\n"})
    report = check_health(tmp_path, Settings(), runner=runner)
    assert report.healthy
    assert report.warnings[0].endswith("no tests collected: verification cannot prove anything")


def test_a_unittest_project_is_detected_and_run(tmp_path: Path, runner: CheckRunner) -> None:
    write(
        tmp_path,
        {
            "test_math.py": (
                "import unittest\n\n"
                "class T(unittest.TestCase):\n"
                "    def test_add(self):\n"
                "        self.assertEqual(1 + 1, 2)\n"
            )
        },
    )
    report = check_health(tmp_path, Settings(), runner=runner)
    assert report.healthy, report.describe()
    assert report.checks[0].argv[1:3] == ("-m", "unittest")
    assert "Ran 1 test" in report.checks[0].output_tail


def test_an_empty_repository_has_no_test_runner(tmp_path: Path, runner: CheckRunner) -> None:
    report = check_health(tmp_path, Settings(), runner=runner)
    assert not report.healthy
    assert report.errors == ("test runner: no test runner detected; set checks.test",)
    assert report.checks == ()


def test_a_configured_test_command_wins_over_detection(tmp_path: Path, runner: CheckRunner) -> None:
    write(tmp_path, {"tests/test_bad.py": "def test_bad():\n    assert False\n"})
    report = check_health(
        tmp_path, settings(test=python("print('custom suite ok')")), runner=runner
    )
    assert report.healthy
    assert report.checks[0].output_tail == "custom suite ok\n"


def test_a_command_that_does_not_exist_is_a_clear_failure(
    tmp_path: Path, runner: CheckRunner
) -> None:
    report = check_health(
        tmp_path, settings(test=["macoder-no-such-command", "--flag"]), runner=runner
    )
    assert report.errors == (
        "test runner: `macoder-no-such-command --flag`: command not found: macoder-no-such-command",
    )
    assert report.checks[0].exit_code is None


def test_a_hanging_check_is_killed_with_its_children(tmp_path: Path) -> None:
    hang = ["sh", "-c", "sleep 30 & echo $! > child.pid; wait"]
    started = time.monotonic()
    [outcome] = run_checks(tmp_path, {"test": hang}, timeout_s=1)
    assert time.monotonic() - started < 20  # not the child's 30 s
    assert outcome.failure == "timed out after 1s"
    assert outcome.exit_code is None
    assert not outcome.passed
    child = int((tmp_path / "child.pid").read_text())
    assert gone_soon(child), f"the check's child {child} outlived the timeout"
    assert judge([outcome]).errors == (
        "test runner: `sh -c 'sleep 30 & echo $! > child.pid; wait'`: timed out after 1s",
    )


def test_the_health_check_is_bounded_by_checks_timeout(tmp_path: Path, runner: CheckRunner) -> None:
    configured = Settings(checks=CheckCommands(test=["sleep", "30"]), checks_timeout=1)
    report = check_health(tmp_path, configured, runner=runner)
    assert report.errors == ("test runner: `sleep 30`: timed out after 1s",)


def test_children_left_behind_by_a_finished_check_are_killed(tmp_path: Path) -> None:
    [outcome] = run_checks(tmp_path, {"test": ["sh", "-c", "sleep 30 & echo $! > child.pid"]}, 30)
    assert outcome.passed
    assert outcome.duration_s < 20  # did not wait for the child's end of output (30 s)
    assert gone_soon(int((tmp_path / "child.pid").read_text()))


def test_a_failing_type_checker_makes_the_repository_unhealthy(
    tmp_path: Path, runner: CheckRunner
) -> None:
    configured = settings(
        test=python("pass"), types=python("import sys; print('error: bad type'); sys.exit(1)")
    )
    report = check_health(tmp_path, configured, runner=runner)
    assert not report.healthy
    [error] = report.errors
    assert error.startswith("type checker: ")
    assert error.endswith("exited with status 1: error: bad type")


def test_a_failing_linter_in_a_real_run_is_only_a_warning(
    tmp_path: Path, runner: CheckRunner
) -> None:
    configured = settings(test=python("pass"), lint=python("raise SystemExit(3)"))
    report = check_health(tmp_path, configured, runner=runner)
    assert report.healthy
    assert report.warnings[0].startswith("linter: ")
    assert report.warnings[0].endswith("exited with status 3")
    assert [check.name for check in report.checks] == ["test", "lint"]


def test_git_variables_never_reach_a_check(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "GIT_DIR": "/elsewhere/.git",
        "GIT_INDEX_FILE": "x",
        "KEEP": "1",
    }
    show = python(
        "import os; print(sorted(k for k in os.environ if k in {'GIT_DIR', 'GIT_INDEX_FILE',"
        " 'KEEP'}))"
    )
    [outcome] = run_checks(tmp_path, {"test": show}, 30, env)
    assert outcome.output_tail == "['KEEP']\n"


def test_only_the_tail_of_long_output_is_kept(tmp_path: Path) -> None:
    noisy = python("print('é' * 20000, end=''); print('THE END')")
    [outcome] = run_checks(tmp_path, {"test": noisy}, 30)
    assert outcome.output_tail.endswith("éTHE END\n")
    assert len(outcome.output_tail.encode()) <= OUTPUT_TAIL_BYTES
    assert "\ufffd" not in outcome.output_tail  # never cut inside a character


def test_stderr_is_kept_with_stdout_in_order(tmp_path: Path) -> None:
    both = python("import sys; print('out', flush=True); print('err', file=sys.stderr)")
    [outcome] = run_checks(tmp_path, {"test": both}, 30)
    assert outcome.output_tail == "out\nerr\n"


def test_a_missing_working_directory_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        run_checks(tmp_path / "missing", {"test": ["true"]}, 5)


def test_scanning_reads_what_detection_needs(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": "[project]\n",
            "package.json": '{"scripts": {"test": "jest"}}',
            "tests/unit/test_a.py": "",
            "tests/helpers.py": "",
            "src/test_not_here.py": "",
        },
    )
    facts = scan_repo(tmp_path)
    assert facts.files == ("package.json", "pyproject.toml", "tests/unit/test_a.py")
    assert facts.package_json == {"scripts": {"test": "jest"}}
    assert facts.configs == {"pyproject.toml": "[project]\n"}


def test_an_unparsable_package_json_is_ignored(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": "{not json"})
    assert scan_repo(tmp_path).package_json is None


# --- the wave's health job ---------------------------------------------------------------

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_a_run_trusts_the_health_job_only_for_the_very_commit_it_checked() -> None:
    assert vouched(SHA, SHA) == f"health check passed for {SHA} in the wave's health job"
    assert vouched(SHA, None) is None  # no health job (the CLI, an older workflow)
    assert vouched(SHA, "f" * 40) is None  # another commit: the run checks its own
    assert vouched(SHA, SHA[:10]) is None  # a prefix names no verdict
    assert vouched(SHA, SHA.upper()) is None


def test_the_health_report_says_what_was_checked() -> None:
    failed = judge([result("test", 1, output="1 failed in 0.02s\n")])
    assert failed.describe().startswith("the repository's own checks on the default branch: ")
    there = failed.describe(where=f"at {SHA}")
    assert there.startswith(f"the repository's own checks at {SHA}: FAILED")
    assert "1 failed in 0.02s" in there
