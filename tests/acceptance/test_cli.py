"""Every `macoder` command as a new user types it, on the good examples and on bad input.

The CLI runs through `main(argv)` in a temporary project directory holding a copy of an
example backlog, with no `MACODER_*` variables from the caller (`tests/cli.py`); the last
tests run each command once as a real process. Exit codes are DESIGN §8: 0 ok, 1 problems
found, 2 usage or configuration error, 3 internal error.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import jsonschema
import pytest

from multi_agent_coder import __version__
from multi_agent_coder.cli.main import COMMANDS
from multi_agent_coder.forge.base import WantedPr
from multi_agent_coder.yamlread import decode, parse_with_positions
from tests.cli import as_process, macoder
from tests.integration.gitrepos import git, make_repo
from tests.support import backlog_yaml, task_dict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "backlogs"
GOOD = EXAMPLES / "good"
BAD = EXAMPLES / "bad"


def project_with(tmp_path: Path, source: Path, name: str = "BACKLOG.yaml") -> Path:
    """A project directory holding `source` as its backlog."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    shutil.copyfile(source, project / name)
    return project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the three-task todo backlog (T001, T002 ready; T003 waits on both)."""
    return project_with(tmp_path, GOOD / "BACKLOG.yaml")


@pytest.fixture
def twelve(tmp_path: Path) -> Path:
    """A project with the twelve-task bookshop backlog."""
    return project_with(tmp_path, GOOD / "twelve-tasks.yaml")


def changed_lines(before: bytes, after: bytes) -> list[tuple[int, bytes, bytes]]:
    """(line number, old line, new line) for each line that differs; line count must match."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new), "a status change must not add or remove lines"
    return [(i + 1, a, b) for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]


def line_of(data: bytes, needle: bytes, after: bytes = b"") -> int:
    """1-based number of the first line containing `needle` after the line containing `after`."""
    lines = data.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i + 1 for i, line in enumerate(lines) if i >= start and needle in line)


# --- check ---------------------------------------------------------------------------------


def test_check_without_a_path_checks_backlog_yaml_in_the_dir_given_with_C(
    project: Path, tmp_path: Path
) -> None:
    run = macoder("-C", str(project), "check", cwd=tmp_path)

    assert run.code == 0, run.output
    assert run.stdout == "ok: 1 file checked, no problems\n"


def test_check_without_a_path_reports_problems_of_the_default_backlog(tmp_path: Path) -> None:
    project = project_with(tmp_path, BAD / "duplicate-id.yaml")

    run = macoder("-C", str(project), "check", cwd=tmp_path)

    assert run.code == 1
    assert run.stdout.startswith("BACKLOG.yaml:16:9: tasks[1].id: ")  # relative to -C, as git -C
    assert "[duplicate-id]" in run.stdout


def test_check_follows_the_backlog_setting_of_macoder_yaml(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "plan").mkdir(parents=True)
    shutil.copyfile(BAD / "self-dependency.yaml", project / "plan" / "tasks.yaml")
    (project / ".macoder.yaml").write_text("backlog: plan/tasks.yaml\n")

    run = macoder("-C", str(project), "check", cwd=tmp_path)

    assert run.code == 1
    assert "plan/tasks.yaml:11:18:" in run.stdout
    assert "[self-dependency]" in run.stdout


def test_check_with_no_backlog_is_an_error_like_every_command_that_reads_one(
    tmp_path: Path,
) -> None:
    for command in (["check"], ["ready", "--backlog-only"], ["stats"]):
        run = macoder(*command, cwd=tmp_path)
        assert run.code == 2, (command, run.output)
        assert "BACKLOG.yaml: no such file" in run.stderr, (command, run.output)


def test_a_spec_change_in_a_repository_without_a_backlog_passes_the_hook(tmp_path: Path) -> None:
    """pre-commit passes changed spec files: with no backlog yet there is nothing to check,
    and a commit must not fail for it."""
    run = macoder("check", "specs/idea.md", cwd=tmp_path)

    assert run.code == 0
    assert "no backlog at BACKLOG.yaml" in run.stderr


def test_an_unknown_option_is_refused_with_that_command_s_usage(tmp_path: Path) -> None:
    run = macoder("ready", "--bogus", cwd=tmp_path)

    assert run.code == 2
    assert run.stderr.startswith("usage: macoder ready ")
    assert "unrecognized arguments: --bogus" in run.stderr


def test_check_of_a_spec_file_checks_the_configured_backlog_instead(project: Path) -> None:
    """pre-commit passes every changed file; a changed spec means "check the backlog" (and
    the spec itself, for planning debris: two files)."""
    (project / "specs").mkdir()
    (project / "specs" / "storage.md").write_text("# Storage\n")

    run = macoder("check", "specs/storage.md", cwd=project)
    schema = macoder("check", "--only", "schema", "specs/storage.md", cwd=project)

    assert run.code == 0
    assert run.stdout == "ok: 2 files checked, no problems\n"
    assert schema.stdout == "ok: 1 file checked, no problems\n"


def test_check_of_a_good_and_a_bad_file_fails_and_counts_both(project: Path) -> None:
    shutil.copyfile(BAD / "status-typo.yaml", project / "other.yaml")

    run = macoder("check", "BACKLOG.yaml", "other.yaml", cwd=project)

    assert run.code == 1
    problem, summary = run.stdout.splitlines()
    assert problem.startswith("other.yaml:10:13: tasks[0].status: ")
    assert summary == "1 error(s), 0 warning(s) in 2 files"


def test_check_markdown_format_prints_a_summary_table(tmp_path: Path) -> None:
    project = project_with(tmp_path, BAD / "unknown-dependency.yaml")

    run = macoder("check", "--format", "markdown", cwd=project)

    assert run.code == 1
    assert run.stdout.startswith("### Backlog check: 1 error(s)")
    assert "| `BACKLOG.yaml:20:18` | `tasks[1].depends_on[0]` |" in run.stdout
    assert "`unknown-dependency` |" in run.stdout


def test_check_only_schema_skips_hygiene_and_only_hygiene_skips_schema(tmp_path: Path) -> None:
    project = project_with(tmp_path, BAD / "debris-in-description.yaml")

    schema_only = macoder("check", "--only", "schema", cwd=project)
    hygiene_only = macoder("check", "--only", "hygiene", cwd=project)

    assert schema_only.code == 0, schema_only.output
    assert hygiene_only.code == 1
    assert "[planning-debris]" in hygiene_only.stdout


def test_check_of_a_missing_file_is_a_usage_error_naming_it(project: Path) -> None:
    run = macoder("check", "nope.yaml", cwd=project)

    assert run.code == 2
    assert "nope.yaml" in run.stderr


def test_check_of_a_directory_with_a_yaml_name_is_a_usage_error(project: Path) -> None:
    (project / "backlogs.yaml").mkdir()

    run = macoder("check", "backlogs.yaml", cwd=project)

    assert run.code == 2
    assert "backlogs.yaml" in run.stderr
    assert "directory" in run.stderr


def test_check_of_a_directory_is_a_usage_error_not_a_check_of_the_default(project: Path) -> None:
    """A directory is not a file that "stands for the backlog" (specs/*.md does): checking the
    default BACKLOG.yaml instead and saying "ok" hides the user's mistake."""
    (project / "backlogs").mkdir()

    run = macoder("check", "backlogs", cwd=project)

    assert run.code == 2, run.output
    assert "backlogs" in run.stderr


def test_check_with_an_unknown_format_is_a_usage_error(project: Path) -> None:
    run = macoder("check", "--format", "xml", cwd=project)

    assert run.code == 2
    assert "invalid choice" in run.stderr


def test_C_makes_path_arguments_relative_to_that_directory(project: Path, tmp_path: Path) -> None:
    """`-C DIR` is "run as if started in DIR" (like `git -C`), so paths on the command line
    are read from DIR too."""
    checked = macoder("-C", "project", "check", "BACKLOG.yaml", cwd=tmp_path)
    ready = macoder(
        "-C", "project", "ready", "--backlog-only", "--backlog", "BACKLOG.yaml", cwd=tmp_path
    )

    assert checked.code == 0, checked.output
    assert ready.code == 0, ready.output


def test_C_with_a_directory_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    """A typo in `-C` must not make a CI check pass on "0 files checked"."""
    run = macoder("-C", "no-such-dir", "check", cwd=tmp_path)

    assert run.code == 2, run.output
    assert "no-such-dir" in run.stderr


# --- ready (the backlog file alone: --backlog-only) ----------------------------------------


def test_ready_lists_tasks_whose_dependencies_are_done_as_id_tab_title(project: Path) -> None:
    run = macoder("ready", "--backlog-only", cwd=project)

    assert run.code == 0
    assert run.stdout == "T001\tStore todo items in a JSON file\nT002\tAdd the 'add' command\n"


def test_ready_json_is_a_list_of_id_and_title(project: Path) -> None:
    run = macoder("ready", "--backlog-only", "--json", cwd=project)

    assert run.code == 0
    assert json.loads(run.stdout) == [
        {"id": "T001", "title": "Store todo items in a JSON file"},
        {"id": "T002", "title": "Add the 'add' command"},
    ]


def test_ready_skips_finished_running_blocked_and_exhausted_tasks(twelve: Path) -> None:
    run = macoder("ready", "--backlog-only", "--json", cwd=twelve)

    assert [task["id"] for task in json.loads(run.stdout)] == ["T005", "T006"]


def test_ready_says_so_when_nothing_can_start(tmp_path: Path) -> None:
    project = project_with(tmp_path, GOOD / "minimal.yaml")
    macoder("mark", "T001", "completed", cwd=project)

    text = macoder("ready", "--backlog-only", cwd=project)
    as_json = macoder("ready", "--backlog-only", "--json", cwd=project)

    assert text.code == as_json.code == 0
    assert text.stdout.startswith("no task is ready")
    assert json.loads(as_json.stdout) == []


def test_ready_on_an_invalid_backlog_fails_and_prints_its_problems(tmp_path: Path) -> None:
    project = project_with(tmp_path, BAD / "dependency-cycle.yaml")

    run = macoder("ready", "--backlog-only", cwd=project)

    assert run.code == 1
    assert run.stdout == ""
    assert "BACKLOG.yaml:11:18: tasks[0].depends_on[0]: dependency cycle" in run.stderr


def test_ready_on_an_invalid_backlog_prints_each_problem_once(tmp_path: Path) -> None:
    project = project_with(tmp_path, BAD / "unknown-dependency.yaml")

    run = macoder("ready", "--backlog-only", cwd=project)

    assert run.code == 1
    assert run.stderr.count("unknown task 'T009'") == 1, run.stderr


def test_ready_with_a_backlog_option_reads_that_file(project: Path) -> None:
    shutil.copyfile(GOOD / "twelve-tasks.yaml", project / "shop.yaml")

    run = macoder("ready", "--backlog-only", "--json", "--backlog", "shop.yaml", cwd=project)

    assert [task["id"] for task in json.loads(run.stdout)] == ["T005", "T006"]


# --- stats ---------------------------------------------------------------------------------


def test_stats_json_counts_statuses_ready_blocked_and_the_longest_chain(twelve: Path) -> None:
    run = macoder("stats", "--json", cwd=twelve)

    assert run.code == 0
    stats = json.loads(run.stdout)
    assert stats["total"] == 12
    assert stats["by_status"] == {
        "pending": 5,
        "ready": 2,
        "in_progress": 1,
        "review": 1,
        "completed": 2,
        "failed": 1,
    }
    assert stats["ready"] == ["T005", "T006"]
    blocked = {b["task_id"]: b for b in stats["blocked"]}
    assert list(blocked) == ["T004", "T009", "T010", "T011", "T012"]
    assert blocked["T004"]["waiting_on"] == [["T003", "review"]]  # the diamond's open side
    assert blocked["T010"]["waiting_on"] == [["T009", "pending"], ["T005", "ready"]]
    assert blocked["T011"] == {
        "task_id": "T011",
        "waiting_on": [],
        "attempts_exhausted": True,
        "leased": False,
    }
    chain = stats["longest_chain"]
    assert len(chain) == 6
    assert chain[0] == "T001"
    assert chain[2:] == ["T004", "T009", "T010", "T012"]
    assert chain[1] in {"T002", "T003"}  # either side of the diamond is as long


def test_stats_text_shows_the_track_the_counts_and_what_is_ready(twelve: Path) -> None:
    run = macoder("stats", cwd=twelve)

    assert run.code == 0
    assert "bookshop-api: 12 tasks" in run.stdout
    assert "ready now (2): T005, T006" in run.stdout
    assert "blocked T011: attempts used up (max 3)" in run.stdout


# --- context -------------------------------------------------------------------------------


def test_context_prints_the_prompt_and_its_exact_size_in_bytes(project: Path) -> None:
    run = macoder("context", "T001", cwd=project)

    assert run.code == 0
    assert run.stdout.startswith("# Task T001: Store todo items in a JSON file\n")
    for heading in ("## Specification", "## Acceptance Criteria", "## Files", "## Instructions"):
        assert heading in run.stdout
    assert "- save() then load() returns the same items" in run.stdout
    assert run.stderr == f"-- {len(run.stdout.encode())} bytes (limit 3000)\n"


def test_context_counts_bytes_not_characters(tmp_path: Path) -> None:
    project = project_with(tmp_path, GOOD / "formatted-crlf.yaml")

    run = macoder("context", "MENU-01", cwd=project)

    assert run.code == 0
    assert "# Task MENU-01: Menü: Gerichte aus menu.json lesen — ✓" in run.stdout
    assert "\r" not in run.stdout
    size = len(run.stdout.encode())
    assert size > len(run.stdout)
    assert run.stderr == f"-- {size} bytes (limit 3000)\n"


def test_context_shows_what_was_cut_before_the_size(tmp_path: Path) -> None:
    project = project_with(tmp_path, EXAMPLES / "warn" / "long-title.yaml")

    run = macoder("context", "T001", cwd=project)

    assert run.code == 0
    warning, size = run.stderr.splitlines()
    assert warning.startswith("BACKLOG.yaml:9:12: tasks[0].title: warning: 108 bytes")
    assert warning.endswith("[context-truncated]")
    assert size == f"-- {len(run.stdout.encode())} bytes (limit 3000)"
    title = run.stdout.splitlines()[0]
    assert title.endswith("...")
    assert len(title.removeprefix("# Task T001: ").encode()) == 100


def test_context_of_an_unknown_task_is_a_usage_error(project: Path) -> None:
    run = macoder("context", "T999", cwd=project)

    assert run.code == 2
    assert "no task with id 'T999'" in run.stderr


def test_context_refuses_a_backlog_with_problems(tmp_path: Path) -> None:
    project = project_with(tmp_path, BAD / "context-too-large.yaml")

    run = macoder("context", "T001", cwd=project)

    assert run.code == 1
    assert "[context-too-large]" in run.stderr


# --- mark ----------------------------------------------------------------------------------


def test_mark_changes_only_the_status_line_of_that_task(project: Path) -> None:
    before = (project / "BACKLOG.yaml").read_bytes()

    run = macoder("mark", "T002", "in_progress", cwd=project)

    assert run.code == 0, run.output
    assert run.stdout == "T002: set to in_progress\n"
    after = (project / "BACKLOG.yaml").read_bytes()
    status_line = line_of(before, b"status:", after=b"id: T002")
    assert changed_lines(before, after) == [
        (status_line, b"    status: pending\n", b"    status: in_progress\n")
    ]
    assert macoder("check", cwd=project).code == 0


def test_mark_keeps_crlf_quotes_comments_and_flow_style(tmp_path: Path) -> None:
    project = project_with(tmp_path, GOOD / "formatted-crlf.yaml")
    before = (project / "BACKLOG.yaml").read_bytes()

    first = macoder("mark", "MENU-01", "completed", cwd=project)
    second = macoder("mark", "MENU-02", "in_progress", cwd=project)

    assert first.code == second.code == 0, first.output + second.output
    after = (project / "BACKLOG.yaml").read_bytes()
    flow_task = line_of(before, b"{id: MENU-02")
    old_status = b'  status: "ready"           # quoted: a status change keeps the quotes\r\n'
    assert changed_lines(before, after) == [
        (
            line_of(before, b'status: "ready"'),
            old_status,
            old_status.replace(b"ready", b"completed"),
        ),
        (
            flow_task,
            before.splitlines(keepends=True)[flow_task - 1],
            before.splitlines(keepends=True)[flow_task - 1].replace(
                b"status: pending", b"status: in_progress"
            ),
        ),
    ]


def test_mark_through_a_symlinked_backlog_updates_the_target_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    """A repository may keep BACKLOG.yaml as a symlink (e.g. into a shared plans directory):
    the status change belongs in the real file, and the link must stay a link."""
    project = tmp_path / "project"
    (project / "plans").mkdir(parents=True)
    shutil.copyfile(GOOD / "BACKLOG.yaml", project / "plans" / "todo.yaml")
    (project / "BACKLOG.yaml").symlink_to(Path("plans") / "todo.yaml")

    run = macoder("mark", "T001", "in_progress", cwd=project)

    assert run.code == 0
    assert (project / "BACKLOG.yaml").is_symlink()
    assert b"status: in_progress" in (project / "plans" / "todo.yaml").read_bytes()


def test_mark_to_the_same_status_writes_nothing(project: Path) -> None:
    before = (project / "BACKLOG.yaml").stat()

    run = macoder("mark", "T001", "pending", cwd=project)

    assert run.code == 0
    assert run.stdout == "T001: already pending\n"
    assert (project / "BACKLOG.yaml").stat().st_mtime_ns == before.st_mtime_ns


def test_mark_refuses_a_change_that_would_make_the_backlog_invalid(project: Path) -> None:
    """T003 waits on T001 and T002, which are pending: it cannot be completed yet."""
    before = (project / "BACKLOG.yaml").read_bytes()

    run = macoder("mark", "T003", "completed", cwd=project)

    assert run.code == 1
    # Each problem on its own line, each once; then one line saying nothing was written.
    *problems, last = run.stderr.splitlines()
    assert len(problems) == 2
    assert all(line.endswith("[completed-before-dependency]") for line in problems)
    assert {"depends_on[0]" in problems[0], "depends_on[0]" in problems[1]} == {True, False}
    assert last == (
        "macoder: error: BACKLOG.yaml: not written: setting T003 to completed would make the"
        " backlog invalid (2 problems above)"
    )
    assert (project / "BACKLOG.yaml").read_bytes() == before
    assert sorted(p.name for p in project.iterdir()) == ["BACKLOG.yaml"], "no temp file left"


def test_mark_of_a_task_the_backlog_does_not_have_is_a_usage_error(project: Path) -> None:
    before = (project / "BACKLOG.yaml").read_bytes()

    run = macoder("mark", "T999", "completed", cwd=project)

    assert run.code == 2
    assert "no task with id 'T999'" in run.stderr
    assert (project / "BACKLOG.yaml").read_bytes() == before


def test_mark_on_an_invalid_backlog_fails_and_writes_nothing(tmp_path: Path) -> None:
    project = project_with(tmp_path, BAD / "duplicate-id.yaml")
    before = (project / "BACKLOG.yaml").read_bytes()

    run = macoder("mark", "T001", "in_progress", cwd=project)

    assert run.code == 1
    assert "[duplicate-id]" in run.stderr
    assert (project / "BACKLOG.yaml").read_bytes() == before


def test_mark_with_an_unknown_status_is_a_usage_error(project: Path) -> None:
    before = (project / "BACKLOG.yaml").read_bytes()

    run = macoder("mark", "T001", "done", cwd=project)

    assert run.code == 2
    assert "invalid choice" in run.stderr
    assert (project / "BACKLOG.yaml").read_bytes() == before


# --- hostile task ids ----------------------------------------------------------------------

HOSTILE_IDS = ["../x", "T1;ls", "$(touch pwned)", "T 001", "T001\n", "T٠٠١", "-T001", ""]


@pytest.mark.parametrize("command", ["context", "mark"])
@pytest.mark.parametrize("task_id", HOSTILE_IDS, ids=ascii)
def test_a_hostile_task_id_is_refused_before_it_touches_anything(
    command: str, task_id: str, tmp_path: Path, project: Path
) -> None:
    before = (project / "BACKLOG.yaml").read_bytes()
    typed = ["--", task_id] if task_id.startswith("-") else [task_id]  # else it is an option
    args = [command, *typed, "completed"] if command == "mark" else [command, *typed]

    run = macoder(*args, cwd=project)

    assert run.code == 2, run.output
    assert "invalid task id" in run.stderr
    assert (project / "BACKLOG.yaml").read_bytes() == before
    created = {p.name for p in tmp_path.rglob("*")} - {"project", "BACKLOG.yaml"}
    assert not created, f"files appeared: {created}"


# --- missing backlog -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["ready", "--backlog-only"],
        ["stats"],
        ["context", "T001"],
        ["mark", "T001", "completed"],
        ["ready", "--backlog-only", "--backlog", "plans/nope.yaml"],
    ],
    ids=" ".join,
)
def test_a_missing_backlog_is_a_usage_error_naming_the_path(
    args: list[str], tmp_path: Path
) -> None:
    run = macoder(*args, cwd=tmp_path)

    assert run.code == 2
    expected = "plans/nope.yaml" if "--backlog" in args else "BACKLOG.yaml"
    assert expected in run.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [["ready"], ["status"], ["run", "--dry-run"], ["merge", "T001"]],
    ids=" ".join,
)
def test_every_command_that_reads_the_default_branch_s_backlog_takes_backlog(
    args: list[str], tmp_path: Path
) -> None:
    """`--backlog` names the file in the repository (as the default branch has it)."""
    root = make_repo(tmp_path / "repo", {"plans/tasks.yaml": backlog_yaml(task_dict("T001"))})
    run = macoder(*args, "--backlog", "plans/nope.yaml", cwd=root)
    assert run.code == 2, run.output
    assert "plans/nope.yaml" in run.stderr
    found = macoder(*args, "--backlog", "plans/tasks.yaml", cwd=root)
    assert "plans/nope.yaml" not in found.output
    assert "T001" in found.output  # read from that file: the task is there


# --- schema, help, version -----------------------------------------------------------------


def test_schema_is_json_schema_that_accepts_the_good_examples(tmp_path: Path) -> None:
    run = macoder("schema", cwd=tmp_path)

    assert run.code == 0
    schema = json.loads(run.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for example in sorted(GOOD.glob("*.yaml")):
        data, _ = parse_with_positions(decode(example.read_bytes()))
        assert not list(validator.iter_errors(data)), example.name


@pytest.mark.parametrize(
    "name",
    [
        "status-typo.yaml",
        "tasks-missing.yaml",
        "unknown-key-no-close-match.yaml",
        "id-lowercase.yaml",
        "estimated-hours-zero.yaml",
        "version-unquoted-number.yaml",
        "acceptance-empty.yaml",
    ],
)
def test_schema_rejects_what_check_rejects_as_a_schema_error(name: str, tmp_path: Path) -> None:
    schema = json.loads(macoder("schema", cwd=tmp_path).stdout)
    data, _ = parse_with_positions(decode((BAD / name).read_bytes()))

    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data))


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=" ".join)
def test_help_works_for_every_command(command: list[str], tmp_path: Path) -> None:
    run = macoder(*command, "--help", cwd=tmp_path)

    assert run.code == 0
    assert run.stdout.startswith("usage: macoder")


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    run = macoder("--version", cwd=tmp_path)

    assert run.code == 0
    assert run.stdout == f"macoder {__version__}\n"


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    run = macoder(cwd=tmp_path)

    assert run.code == 2
    assert "usage: macoder" in run.stderr


def test_macoder_script_and_python_m_are_the_same_program(project: Path) -> None:
    script = Path(sys.executable).with_name("macoder")
    if not script.exists():
        pytest.skip("the console script is not installed next to this interpreter")
    done = as_process("ready", "--backlog-only", "--json", cwd=project, program=[str(script)])

    assert done.code == 0
    assert done.stdout == macoder("ready", "--backlog-only", "--json", cwd=project).stdout


# --- ready (the repository's view: what `macoder run` would start) -------------------------


def committed(project: Path) -> Path:
    """`project` as a git repository whose main branch holds its files."""
    from tests.integration.gitrepos import git

    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "x")
    return project


def test_ready_shows_what_run_would_start_leases_and_prs_included(project: Path) -> None:
    """The default view is the run's own: a task leased by a live run, or in review, is not
    listed though the backlog file alone would list it."""
    from multi_agent_coder.forge.local import LocalForge
    from multi_agent_coder.git.ledger import Ledger
    from multi_agent_coder.git.repo import Repo

    repo = Repo.open(committed(project))
    assert macoder("ready", cwd=project).stdout.startswith("T001\t")
    Ledger(repo).acquire("T001", "run-elsewhere", "ci:1", 600)

    run = macoder("ready", "--json", cwd=project)
    dry = macoder("run", "--dry-run", "--json", cwd=project)
    alone = macoder("ready", "--backlog-only", "--json", cwd=project)

    assert [t["id"] for t in json.loads(run.stdout)] == ["T002"]
    assert json.loads(dry.stdout)["ready"] == ["T002"]
    assert [t["id"] for t in json.loads(alone.stdout)] == ["T001", "T002"]
    LocalForge(repo).create_or_update_pr(
        WantedPr(
            task_id="T002",
            branch="macoder/T002",
            base="main",
            head_sha=repo.branch_head("main") or "",
            title="T002",
            body="",
            draft=False,
            labels=(),
        )
    )
    nothing = macoder("ready", cwd=project)
    assert nothing.stdout.startswith("no task is ready: nothing is ready (0/3 completed; ")
    assert "running or in review: T001, T002" in nothing.stdout


def test_ready_reads_the_default_branch_not_the_working_copy(project: Path) -> None:
    committed(project)
    (project / "BACKLOG.yaml").write_text("not: [valid\n")  # an edit in progress

    run = macoder("ready", "--json", cwd=project)

    assert run.code == 0, run.output
    assert [t["id"] for t in json.loads(run.stdout)] == ["T001", "T002"]


def test_ready_outside_a_repository_points_at_backlog_only(project: Path) -> None:
    run = macoder("ready", cwd=project)

    assert run.code == 2
    assert "not a git repository" in run.stderr
    assert "--backlog-only" in run.stderr


def test_ready_without_a_committed_backlog_names_it(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("hi\n")
    committed(project)

    run = macoder("ready", cwd=project)

    assert run.code == 2
    assert "BACKLOG.yaml: not found in commit" in run.stderr


# --- each command as a real process --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["check"], 0, "ok: 1 file checked"),
        (["ready", "--backlog-only"], 0, "T001\t"),
        (["stats"], 0, "ready now (2): T001, T002"),
        (["context", "T001"], 0, "# Task T001"),
        (["mark", "T001", "ready"], 0, "T001: set to ready"),
        (["schema"], 0, '"$schema"'),
        (["run", "--dry-run"], 0, "dry run: nothing was started"),
        (["prs"], 0, "no open pull requests"),
        (["merge", "T001"], 2, "no open pull request"),
        (["close", "T001"], 2, "no open pull request"),
        (["status"], 0, "T003"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_every_command_runs_as_a_process(
    project: Path, args: list[str], code: int, expected: str
) -> None:
    committed(project)
    run = as_process(*args, cwd=project)
    assert run.code == code, run.output
    assert expected in run.output


@pytest.mark.parametrize("command", [["mark", "T0001", "completed"], ["context", "T01"]])
def test_an_unknown_task_id_is_named_with_the_ids_it_is_near(
    command: list[str], project: Path
) -> None:
    before = (project / "BACKLOG.yaml").read_bytes()
    run = macoder(*command, cwd=project)

    assert run.code == 2
    assert f"no task with id '{command[1]}'; did you mean T001" in run.stderr
    assert run.stderr.count("no task with id") == 1
    assert (project / "BACKLOG.yaml").read_bytes() == before


def test_a_dry_run_says_what_starts_on_which_model_and_why_the_rest_does_not(
    project: Path,
) -> None:
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "-c", "user.name=D", "-c", "user.email=d@x", "commit", "-qm", "backlog")

    run = macoder("run", "--dry-run", cwd=project)

    assert run.code == 0, run.output
    lines = run.stdout.splitlines()
    assert lines[0] == "dry run: nothing was started"
    assert lines[1].startswith("would start T001 (attempt 1, ")
    assert "-> openai/gpt-4)" in lines[1]
    assert "not starting T003: waiting on T001, T002" in lines
    assert lines[-1].startswith("checks: detected on the default branch when the run starts")


def test_status_shows_the_model_each_task_is_routed_to(project: Path) -> None:
    git(project, "init", "-q", "-b", "main")
    (project / ".macoder.yaml").write_text(
        "models: {implementation: big/coder, documentation: small/writer}\n"
    )
    git(project, "add", "-A")
    git(project, "-c", "user.name=D", "-c", "user.email=d@x", "commit", "-qm", "backlog")

    run = macoder("status", "--json", cwd=project)

    assert run.code == 0, run.output
    routed = {row["task_id"]: (row["kind"], row["model"]) for row in json.loads(run.stdout)}
    assert routed["T001"] == ("simple_change", "small/writer")
    assert all(model in ("big/coder", "small/writer") for _, model in routed.values())


def test_debris_inside_a_block_scalar_is_reported_on_the_phrase_s_own_line(
    tmp_path: Path,
) -> None:
    text = (GOOD / "BACKLOG.yaml").read_text()
    head, sep, rest = text.partition("    description:")
    assert sep, "the good example has a description"
    tail = rest.partition("\n")[2]
    block = (
        "    description: >-\n"
        "      Add the thing to the module.\n"
        "      We looked at it and On second\n"
        "      thought decided to keep it small.\n"
    )
    (tmp_path / "BACKLOG.yaml").write_text(head + block + tail)

    run = macoder("check", cwd=tmp_path)

    assert run.code == 1, run.output
    source = "      We looked at it and On second"
    line = (head + block).splitlines().index(source) + 1
    col = source.index("On second") + 1
    assert f"BACKLOG.yaml:{line}:{col}: tasks[0].description: planning debris" in run.stdout


def test_an_internal_error_keeps_its_traceback_in_a_file_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crash that happens once (a race under load) cannot be re-run with --debug: the
    traceback is kept in a file of its own in the temporary directory, never the repository."""
    import tempfile

    from multi_agent_coder.cli import ready
    from multi_agent_coder.cli.main import main

    def deep_in_the_run(args: object) -> int:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(ready, "run", deep_in_the_run)
    monkeypatch.chdir(tmp_path)  # `-C` moves this process; back afterwards
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    repo = make_repo(tmp_path / "repo", {"BACKLOG.yaml": backlog_yaml(task_dict("T001"))})

    code = main(["-C", str(repo), "ready"])

    err = capsys.readouterr().err
    assert code == 3
    assert "macoder: internal error: OSError: [Errno 22] Invalid argument" in err
    [report] = scratch.glob("macoder-crash-*.txt")
    assert f"macoder: the traceback is in {report}; please report it" in err
    text = report.read_text()
    assert "Traceback (most recent call last)" in text
    assert "in deep_in_the_run" in text
    assert "Traceback" not in err  # the terminal gets the one line, the file the rest
    assert git(repo, "status", "--porcelain") == ""
