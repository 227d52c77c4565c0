"""The hooks as a user meets them, end to end, in real git repositories.

1. The pre-commit framework: `pre-commit try-repo <this project> HOOK` inside a fresh repository
   builds the hook's virtualenv exactly as for a user (`language: python`: pip installs this
   project, building it with hatchling) and runs it. Offline: pip sees only the wheelhouse
   that `scripts/wheelhouse.sh` fills (PIP_NO_INDEX, PIP_FIND_LINKS), and every proxy variable
   points at a closed port.
2. The plain git hook `hooks/pre-commit`, installed with `core.hooksPath`, on real `git commit`s.
3. Both, on what `macoder plan` wrote when its planning agents (the real OpenCode, the scripted
   model) put their chatter into the specs.

`try-repo` is given a committed snapshot of this project's working tree (tracked and untracked,
not ignored files): on a local path it does build from uncommitted changes (a shadow commit,
checked on pre-commit 4.7.0), but only from files git already tracks, so a new module not yet
`git add`ed would be missing. It also builds its hook environment in a store of its own each
time (it ignores PRE_COMMIT_HOME): 6-14 s per call measured here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from testing import scripted_model as sm
from tests.conftest import MakeTarget
from tests.integration import runs

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
PRE_COMMIT = VENV_BIN / "pre-commit"
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
GIT_HOOKS = ROOT / "hooks"
GOOD_BACKLOG = (ROOT / "examples" / "backlogs" / "good" / "BACKLOG.yaml").read_text()

#: The good backlog with T003 depending on a task that does not exist.
UNKNOWN_DEPENDENCY = GOOD_BACKLOG.replace("depends_on: [T001, T002]", "depends_on: [T001, T099]")

#: The good backlog with T003's description naming another task (valid schema, dirty context).
NAMES_ANOTHER_TASK = GOOD_BACKLOG.replace(
    "\"`todo list` prints one line per item: '[x] text' or '[ ] text'.\"",
    "\"`todo list` prints the items T001 stores, one line each: '[x] text' or '[ ] text'.\"",
)

CLOSED_PORT = "http://127.0.0.1:9"


@dataclass(frozen=True)
class Run:
    code: int
    output: str  # stdout and stderr, interleaved as the user sees them


def run(cmd: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 240) -> Run:
    done = subprocess.run(
        [str(part) for part in cmd],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout)


def git(repo: Path, *args: str, env: dict[str, str]) -> Run:
    return run(["git", *args], cwd=repo, env=env)


def git_ok(repo: Path, *args: str, env: dict[str, str]) -> str:
    done = git(repo, *args, env=env)
    assert done.code == 0, f"git {' '.join(args)}: {done.output}"
    return done.output


def base_env(home: Path) -> dict[str, str]:
    """The caller's environment minus anything that could steer git, pip or macoder, with a
    throwaway HOME and a fixed commit identity."""
    steering = ("GIT_", "PIP_", "PRE_COMMIT", "VIRTUALENV_", "MACODER_", "UV_", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(steering)}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Hook Tester",
        GIT_AUTHOR_EMAIL="hooks@example.invalid",
        GIT_COMMITTER_NAME="Hook Tester",
        GIT_COMMITTER_EMAIL="hooks@example.invalid",
    )
    return env


def new_repo(path: Path, env: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    git_ok(path, "-c", "init.defaultBranch=main", "init", "--quiet", env=env)
    return path


def write(repo: Path, name: str, text: str) -> Path:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


def problem_at(text: str, needle: str, field: str) -> str:
    """`BACKLOG.yaml:LINE:COL: FIELD:` for the first `needle` in `text` (1-based, as reported)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return f"BACKLOG.yaml:{number}:{line.index(needle) + 1}: {field}:"
    raise AssertionError(f"{needle!r} not in the backlog")


# --- pre-commit try-repo ----------------------------------------------------------------------


def _wheelhouse_problem() -> str | None:
    stamp = WHEELHOUSE / ".complete"
    if not stamp.is_file():
        return f"no wheelhouse at {WHEELHOUSE}: run scripts/wheelhouse.sh (needs the registry)"
    lock = hashlib.sha256((ROOT / "uv.lock").read_bytes()).hexdigest()
    if f"uv.lock sha256 {lock}" not in stamp.read_text().splitlines():
        return f"the wheelhouse at {WHEELHOUSE} predates uv.lock: run scripts/wheelhouse.sh"
    return None


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pre-commit with pip limited to the wheelhouse and no way out to the network."""
    if not PRE_COMMIT.is_file():
        pytest.skip(f"{PRE_COMMIT} is missing: run scripts/bootstrap.sh")
    problem = _wheelhouse_problem()
    if problem is not None:
        pytest.skip(problem)
    env = base_env(tmp_path_factory.mktemp("home"))
    env.update(
        PRE_COMMIT_HOME=str(tmp_path_factory.mktemp("pre-commit-home")),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(WHEELHOUSE),
        PIP_CONFIG_FILE=os.devnull,  # no index or find-links from the machine's pip.conf
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        VIRTUALENV_NO_PERIODIC_UPDATE="1",  # virtualenv would fetch newer seed wheels
    )
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[proxy] = env[proxy.lower()] = CLOSED_PORT
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return env


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory, offline_env: dict[str, str]) -> Path:
    """This project as its working tree is now, committed into a repository of its own."""
    listed = git_ok(
        ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", env=offline_env
    )
    snapshot = new_repo(tmp_path_factory.mktemp("hook-repo") / "multi-agent-coder", offline_env)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # skips files deleted from the working tree
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name, follow_symlinks=False)
    git_ok(snapshot, "add", "--all", env=offline_env)
    git_ok(snapshot, "commit", "--quiet", "--no-verify", "-m", "snapshot", env=offline_env)
    return snapshot


@pytest.fixture
def user_repo(tmp_path: Path, offline_env: dict[str, str]) -> Path:
    return new_repo(tmp_path / "user-repo", offline_env)


def try_repo(
    user_repo: Path, hook_repo: Path, env: dict[str, str], *args: str, hook: str | None = None
) -> Run:
    hooks = [hook] if hook else []
    return run([PRE_COMMIT, "try-repo", hook_repo, *hooks, *args], cwd=user_repo, env=env)


def hook_status(output: str, name_start: str) -> str:
    """`Passed` / `Failed` / `(no files to check)Skipped` from the hook's summary line."""
    for line in output.splitlines():
        if line.startswith(name_start) and "..." in line:
            return line.rsplit(".", 1)[-1].strip()
    raise AssertionError(f"no summary line for {name_start!r} in:\n{output}")


@pytest.mark.parametrize(
    ("hook", "name"),
    [("backlog-schema", "backlog schema"), ("context-hygiene", "context hygiene")],
)
def test_each_hook_passes_a_good_backlog(
    user_repo: Path, hook_repo: Path, offline_env: dict[str, str], hook: str, name: str
) -> None:
    write(user_repo, "BACKLOG.yaml", GOOD_BACKLOG)
    git_ok(user_repo, "add", "BACKLOG.yaml", env=offline_env)

    done = try_repo(user_repo, hook_repo, offline_env, "--all-files", hook=hook)

    assert done.code == 0, done.output
    assert hook_status(done.output, name) == "Passed"


def test_backlog_schema_fails_an_unknown_dependency_at_its_line(
    user_repo: Path, hook_repo: Path, offline_env: dict[str, str]
) -> None:
    backlog = write(user_repo, "BACKLOG.yaml", UNKNOWN_DEPENDENCY)
    git_ok(user_repo, "add", "BACKLOG.yaml", env=offline_env)

    done = try_repo(user_repo, hook_repo, offline_env, "--all-files", hook="backlog-schema")

    assert done.code == 1, done.output
    assert hook_status(done.output, "backlog schema") == "Failed"
    where = problem_at(UNKNOWN_DEPENDENCY, "T099", "tasks[2].depends_on[1]")
    assert f"{where} unknown task 'T099' in depends_on [unknown-dependency]" in done.output
    assert backlog.read_text() == UNKNOWN_DEPENDENCY  # a checker, never a fixer


def test_context_hygiene_fails_a_task_that_names_another_task(
    user_repo: Path, hook_repo: Path, offline_env: dict[str, str]
) -> None:
    backlog = write(user_repo, "BACKLOG.yaml", NAMES_ANOTHER_TASK)
    git_ok(user_repo, "add", "BACKLOG.yaml", env=offline_env)

    done = try_repo(user_repo, hook_repo, offline_env, "--all-files", hook="context-hygiene")

    assert done.code == 1, done.output
    assert hook_status(done.output, "context hygiene") == "Failed"
    where = problem_at(NAMES_ANOTHER_TASK, "T001 stores", "tasks[2].description")
    assert where in done.output
    assert "[cross-task-reference]" in done.output
    assert backlog.read_text() == NAMES_ANOTHER_TASK


def test_a_changed_spec_rechecks_the_root_backlog_for_context_hygiene_only(
    user_repo: Path, hook_repo: Path, offline_env: dict[str, str]
) -> None:
    backlog = write(user_repo, "BACKLOG.yaml", NAMES_ANOTHER_TASK)
    write(user_repo, "specs/x.md", "# Listing\n\nOne line per item.\n")
    git_ok(user_repo, "add", "--all", env=offline_env)

    # Every hook of the project, on the spec file alone: as on a commit that changes only it.
    done = try_repo(user_repo, hook_repo, offline_env, "--files", "specs/x.md")

    assert done.code == 1, done.output
    assert hook_status(done.output, "backlog schema") == "(no files to check)Skipped"
    assert hook_status(done.output, "context hygiene") == "Failed"
    assert problem_at(NAMES_ANOTHER_TASK, "T001 stores", "tasks[2].description") in done.output
    assert backlog.read_text() == NAMES_ANOTHER_TASK


#: A track's spec with planning chatter on its third line, second column onwards.
SPEC_WITH_DEBRIS = "## Requirements\n\n- We explored\n  three options; the list is sorted.\n"
DEBRIS_AT = 'specs/todo/SPEC.md:3:3: planning debris "we explored": '
MORE_DEBRIS_AT = 'specs/todo/SPEC.md:4:3: planning debris "three options": '


def test_context_hygiene_reads_a_changed_spec_for_planning_debris_at_its_line(
    user_repo: Path, hook_repo: Path, offline_env: dict[str, str]
) -> None:
    write(user_repo, "BACKLOG.yaml", GOOD_BACKLOG)
    spec = write(user_repo, "specs/todo/SPEC.md", SPEC_WITH_DEBRIS)
    write(user_repo, "specs/todo/QA.md", "## Risks\n\n- none\n")
    git_ok(user_repo, "add", "--all", env=offline_env)

    done = try_repo(
        user_repo, hook_repo, offline_env, "--files", "specs/todo/SPEC.md", "specs/todo/QA.md"
    )

    assert done.code == 1, done.output
    assert hook_status(done.output, "context hygiene") == "Failed"
    assert DEBRIS_AT in done.output
    assert MORE_DEBRIS_AT in done.output
    assert "specs/todo/QA.md" not in done.output
    assert spec.read_text() == SPEC_WITH_DEBRIS


# --- hooks/pre-commit as a plain git hook -----------------------------------------------------


@pytest.fixture
def hook_env(tmp_path: Path) -> dict[str, str]:
    """`macoder` of this project's virtualenv first on PATH, as after activating it."""
    if not (VENV_BIN / "macoder").is_file():
        pytest.skip(f"{VENV_BIN / 'macoder'} is missing: run scripts/bootstrap.sh")
    env = base_env(tmp_path / "home")
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    return env


@pytest.fixture
def hooked_repo(tmp_path: Path, hook_env: dict[str, str]) -> Path:
    """A fresh repository whose hooks are this project's `hooks/` (git config core.hooksPath)."""
    repo = new_repo(tmp_path / "repo", hook_env)
    git_ok(repo, "config", "core.hooksPath", str(GIT_HOOKS), env=hook_env)
    write(repo, "README.md", "A project planned in BACKLOG.yaml.\n")
    git_ok(repo, "add", "README.md", env=hook_env)
    git_ok(repo, "commit", "--quiet", "-m", "start", env=hook_env)
    return repo


def commit(repo: Path, env: dict[str, str], message: str = "change") -> Run:
    return git(repo, "commit", "--quiet", "-m", message, env=env)


def commits(repo: Path, env: dict[str, str]) -> int:
    return int(git_ok(repo, "rev-list", "--count", "HEAD", env=env))


def test_git_hook_lets_a_good_backlog_be_committed(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    write(hooked_repo, "BACKLOG.yaml", GOOD_BACKLOG)
    git_ok(hooked_repo, "add", "BACKLOG.yaml", env=hook_env)

    done = commit(hooked_repo, hook_env)

    assert done.code == 0, done.output
    assert commits(hooked_repo, hook_env) == 2


def test_git_hook_refuses_a_bad_backlog_and_shows_the_line(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    write(hooked_repo, "BACKLOG.yaml", UNKNOWN_DEPENDENCY)
    git_ok(hooked_repo, "add", "BACKLOG.yaml", env=hook_env)

    done = commit(hooked_repo, hook_env)

    assert done.code != 0
    where = problem_at(UNKNOWN_DEPENDENCY, "T099", "tasks[2].depends_on[1]")
    assert f"{where} unknown task 'T099' in depends_on [unknown-dependency]" in done.output
    assert "commit refused" in done.output
    assert commits(hooked_repo, hook_env) == 1


def test_git_hook_refuses_a_task_that_names_another_task(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    write(hooked_repo, "BACKLOG.yaml", NAMES_ANOTHER_TASK)
    git_ok(hooked_repo, "add", "BACKLOG.yaml", env=hook_env)

    done = commit(hooked_repo, hook_env)

    assert done.code != 0
    assert "[cross-task-reference]" in done.output
    assert commits(hooked_repo, hook_env) == 1


def test_git_hook_checks_the_staged_backlog_not_an_unstaged_fix(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    write(hooked_repo, "BACKLOG.yaml", UNKNOWN_DEPENDENCY)
    git_ok(hooked_repo, "add", "BACKLOG.yaml", env=hook_env)
    write(hooked_repo, "BACKLOG.yaml", GOOD_BACKLOG)  # fixed, but not staged

    done = commit(hooked_repo, hook_env)

    assert done.code != 0
    assert "[unknown-dependency]" in done.output
    assert commits(hooked_repo, hook_env) == 1


def test_git_hook_checks_the_staged_backlog_not_an_unstaged_breakage(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    write(hooked_repo, "BACKLOG.yaml", GOOD_BACKLOG)
    git_ok(hooked_repo, "add", "BACKLOG.yaml", env=hook_env)
    write(hooked_repo, "BACKLOG.yaml", UNKNOWN_DEPENDENCY)  # broken, but not staged

    done = commit(hooked_repo, hook_env)

    assert done.code == 0, done.output
    assert commits(hooked_repo, hook_env) == 2
    committed = git_ok(hooked_repo, "show", "HEAD:BACKLOG.yaml", env=hook_env)
    assert committed == GOOD_BACKLOG


def test_git_hook_checks_what_commit_all_would_commit(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    write(hooked_repo, "BACKLOG.yaml", GOOD_BACKLOG)
    git_ok(hooked_repo, "add", "BACKLOG.yaml", env=hook_env)
    assert commit(hooked_repo, hook_env).code == 0
    write(hooked_repo, "BACKLOG.yaml", UNKNOWN_DEPENDENCY)  # `commit -a` stages it

    done = git(hooked_repo, "commit", "--quiet", "--all", "-m", "all", env=hook_env)

    assert done.code != 0
    assert "[unknown-dependency]" in done.output
    assert commits(hooked_repo, hook_env) == 2


def test_git_hook_rechecks_the_backlog_when_a_spec_changes(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    write(hooked_repo, "BACKLOG.yaml", NAMES_ANOTHER_TASK)
    git_ok(hooked_repo, "add", "BACKLOG.yaml", env=hook_env)
    git_ok(hooked_repo, "commit", "--quiet", "--no-verify", "-m", "dirty context", env=hook_env)
    write(hooked_repo, "specs/list command.md", "# Listing\n\nOne line per item.\n")
    git_ok(hooked_repo, "add", "specs", env=hook_env)

    done = commit(hooked_repo, hook_env)

    assert done.code != 0
    assert problem_at(NAMES_ANOTHER_TASK, "T001 stores", "tasks[2].description") in done.output
    assert commits(hooked_repo, hook_env) == 2


def test_git_hook_checks_a_backlog_in_a_directory_with_an_awkward_name(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    name = "plans/-q sub\ndir/BACKLOG.yml"
    write(hooked_repo, name, UNKNOWN_DEPENDENCY)
    git_ok(hooked_repo, "add", "plans", env=hook_env)

    done = commit(hooked_repo, hook_env)

    assert done.code != 0
    assert "[unknown-dependency]" in done.output
    # The problem line names the file with its line break made visible: one line per problem.
    assert "plans/-q sub\\x0adir/BACKLOG.yml:" in done.output


def test_git_hook_refuses_a_spec_with_planning_debris_and_shows_the_line(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    write(hooked_repo, "BACKLOG.yaml", GOOD_BACKLOG)
    write(hooked_repo, "specs/todo/SPEC.md", SPEC_WITH_DEBRIS)
    git_ok(hooked_repo, "add", "--all", env=hook_env)

    done = commit(hooked_repo, hook_env)

    assert done.code != 0
    assert DEBRIS_AT in done.output
    assert "commit refused" in done.output
    assert commits(hooked_repo, hook_env) == 1


def test_git_hook_checks_the_staged_spec_not_an_unstaged_fix(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    write(hooked_repo, "specs/todo/SPEC.md", SPEC_WITH_DEBRIS)
    git_ok(hooked_repo, "add", "--all", env=hook_env)
    write(hooked_repo, "specs/todo/SPEC.md", "## Requirements\n\n- The list is sorted.\n")

    done = commit(hooked_repo, hook_env)

    assert done.code != 0
    assert DEBRIS_AT in done.output
    assert commits(hooked_repo, hook_env) == 1


def test_git_hook_lets_a_clean_spec_be_committed(
    hooked_repo: Path, hook_env: dict[str, str]
) -> None:
    write(hooked_repo, "BACKLOG.yaml", GOOD_BACKLOG)
    write(hooked_repo, "specs/todo/SPEC.md", "## Requirements\n\n- The list is sorted.\n")
    git_ok(hooked_repo, "add", "--all", env=hook_env)

    done = commit(hooked_repo, hook_env)

    assert done.code == 0, done.output
    assert commits(hooked_repo, hook_env) == 2


@pytest.fixture
def path_without_macoder(tmp_path: Path) -> str:
    """A PATH with git and the shell tools the hook uses, and nothing else (no Python)."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("git", "sh", "mktemp", "mkdir", "rm", "xargs"):
        found = shutil.which(tool)
        assert found is not None, tool
        (tools / tool).symlink_to(found)
    return str(tools)


def test_git_hook_stays_out_of_commits_that_touch_no_backlog_or_spec(
    hooked_repo: Path, hook_env: dict[str, str], path_without_macoder: str
) -> None:
    hook_env["PATH"] = path_without_macoder  # the hook would fail if it ran macoder
    write(hooked_repo, "BACKLOG.yaml.bak", UNKNOWN_DEPENDENCY)
    write(hooked_repo, "docs/specs/old.md", "not under the root specs/\n")
    git_ok(hooked_repo, "add", "--all", env=hook_env)

    done = commit(hooked_repo, hook_env)

    assert done.code == 0, done.output
    assert commits(hooked_repo, hook_env) == 2


def test_git_hook_without_macoder_refuses_and_says_what_is_missing(
    hooked_repo: Path, hook_env: dict[str, str], path_without_macoder: str
) -> None:
    hook_env["PATH"] = path_without_macoder
    write(hooked_repo, "BACKLOG.yaml", GOOD_BACKLOG)
    git_ok(hooked_repo, "add", "BACKLOG.yaml", env=hook_env)

    done = commit(hooked_repo, hook_env)

    assert done.code != 0
    assert "neither 'macoder' nor a Python with multi_agent_coder" in done.output
    assert commits(hooked_repo, hook_env) == 1


# --- a plan whose agents write planning debris into the specs ---------------------------------

#: Planning agents that think aloud in their documents, in the middle and at the end.
CHATTY_SPEC = (
    "## Requirements\n"
    "Let me think about what a user needs here.\n"
    "1. Items are listed sorted by their text.\n\n"
    "## Acceptance Criteria\n"
    "- GIVEN two items WHEN listed THEN in the order of their text\n"
)
CHATTY_ARCH = (
    "## Design\n"
    "1. Sort in the list command, not in the store.\n\n"
    "## API\n"
    "- `todo list` prints the items sorted\n\n"
    "On second thought, the store could keep them sorted too.\n"
)
PLAIN_QA = "## Test Plan\n- `todo list` with two items\n\n## Risks\n- none\n"


def test_a_plan_whose_agents_write_debris_into_the_specs_fails_and_the_hooks_refuse_it(
    make_target: MakeTarget,
    model: sm.ScriptedModel,
    hook_repo: Path,
    offline_env: dict[str, str],
    hook_env: dict[str, str],
) -> None:
    model.set_scenario("planning:spec", sm.Scenario([sm.text(CHATTY_SPEC)]))
    model.set_scenario("planning:architecture", sm.Scenario([sm.text(CHATTY_ARCH)]))
    model.set_scenario("planning:qa", sm.Scenario([sm.text(PLAIN_QA)]))
    target = make_target(runs.tasks("T001"), files={"CONTEXT.md": "# Sorted\n\nSort items.\n"})
    specs = target.root / "specs" / "sorted"

    # macoder plan: the documents are written as answered, and the command fails on the debris
    plan = target.macoder("plan", "CONTEXT.md", "--track", "sorted", timeout=300)

    assert plan.code == 1, plan
    found = [line for line in plan.stderr.splitlines() if line.endswith("[planning-debris]")]
    advice = "give the agent the decision, not how it was reached [planning-debris]"
    assert found[:2] == [
        f'specs/sorted/SPEC.md:2:1: planning debris "let me think": {advice}',
        f'specs/sorted/ARCH.md:7:1: planning debris "on second thought": {advice}',
    ], plan
    assert [line.split(":", 1)[0] for line in found[2:]] == ["specs/sorted/PLAN.md"] * 2
    assert "the context-hygiene hook refuses the commit" in plan.stderr
    assert (specs / "SPEC.md").read_text() == CHATTY_SPEC
    assert runs.wait_for(lambda: target.opencode_pids() == [], 15)

    # the plain git hook refuses to commit the track, with the very lines plan printed
    git_ok(target.root, "config", "core.hooksPath", str(GIT_HOOKS), env=hook_env)
    git_ok(target.root, "add", "specs", env=hook_env)
    before = commits(target.root, hook_env)

    refused = commit(target.root, hook_env, "sorted: plan")

    assert refused.code != 0
    assert all(line in refused.output for line in found), refused.output
    assert "commit refused" in refused.output
    assert commits(target.root, hook_env) == before

    # so does the pre-commit framework's context-hygiene hook
    names = [f"specs/sorted/{name}" for name in ("ARCH.md", "PLAN.md", "QA.md", "SPEC.md")]
    framework = try_repo(target.root, hook_repo, offline_env, "context-hygiene", "--files", *names)

    assert framework.code == 1, framework.output
    assert hook_status(framework.output, "context hygiene") == "Failed"
    assert all(line in framework.output for line in found), framework.output

    # the person deletes the chatter, merges PLAN.md again, and the commit goes through
    for name, chatter in (("SPEC.md", "Let me think"), ("ARCH.md", "On second thought")):
        lines = (specs / name).read_text().splitlines(keepends=True)
        (specs / name).write_text("".join(x for x in lines if not x.startswith(chatter)))
    merged = target.macoder("spec", "merge", "sorted")
    assert merged.code == 0, merged
    git_ok(target.root, "add", "specs", env=hook_env)

    done = commit(target.root, hook_env, "sorted: plan")

    assert done.code == 0, done.output
    assert commits(target.root, hook_env) == before + 1
