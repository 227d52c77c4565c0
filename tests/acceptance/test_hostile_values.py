"""Hostile values through every command that reads a backlog, and hostile text through every
place macoder writes to: refused with a position, never a traceback, never a changed file —
and never a raw control character on a terminal, in an annotation, a summary or a PR.

The second half bypasses the rules on purpose (`unchecked`): an old ledger, a forge's stored
pull request or a backlog that was never checked can hold what the rules refuse today, and
output must be safe on its own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from multi_agent_coder.backlog.load import LoadResult
from multi_agent_coder.backlog.model import Backlog, Task, TaskContext, TaskScope, TaskStatus
from multi_agent_coder.forge.base import WantedPr
from multi_agent_coder.forge.local import LocalForge
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.problems import Problem
from multi_agent_coder.report import FileReport, render_github, render_markdown, render_text
from multi_agent_coder.visible import first_unsafe
from tests.cli import Run, macoder
from tests.hostile import CONTROL_TITLES, HOSTILE, Case
from tests.integration.gitrepos import commit, git, make_repo
from tests.support import backlog_yaml, task_dict

#: `path:line:col: [field: ]message [code]`
PROBLEM = re.compile(r"^BACKLOG\.yaml:(\d+):(\d+): (?:(\S+): )?.* \[([a-z-]+)\]$", re.M)

#: Every hostile title at once, in one string (what each output test feeds through).
EVERYTHING = "[bold]T[/] " + " ".join(CONTROL_TITLES.values())


def assert_inert(output: str) -> None:
    """No character a terminal or a log would act on (tab and line feed are layout)."""
    at = first_unsafe(output, lines=True)
    assert at is None, f"raw {output[at]!r} at {at}: {output[max(0, at - 40) : at + 40]!r}"


def project_with_text(tmp_path: Path, text: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "BACKLOG.yaml").write_text(text, encoding="utf-8")
    return project


# --- refused by every command ----------------------------------------------------------------

COMMANDS = {
    "check": ("check",),
    "ready": ("ready", "--backlog-only"),
    "mark": ("mark", "T001", "completed"),
    "context": ("context", "T001"),
    "stats": ("stats",),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_a_hostile_value_is_refused_with_its_position_and_the_file_is_unchanged(
    case: Case, command: str, tmp_path: Path
) -> None:
    project = project_with_text(tmp_path, case.text)
    before = (project / "BACKLOG.yaml").read_bytes()

    run = macoder(*COMMANDS[command], cwd=project)  # fails the test on a traceback or exit 3

    assert run.code == 1, run.output
    shown = run.stdout if command == "check" else run.stderr
    found = [(m[3], m[4]) for m in PROBLEM.finditer(shown)]
    assert found == [(case.field or None, case.code)], shown
    assert_inert(run.output)
    assert (project / "BACKLOG.yaml").read_bytes() == before
    assert sorted(p.name for p in project.iterdir()) == ["BACKLOG.yaml"]


def test_mark_refuses_a_change_that_would_make_two_ids_confusable(tmp_path: Path) -> None:
    """`mark` validates the result too: here the file is already refused as it is."""
    project = project_with_text(tmp_path, backlog_yaml(task_dict("T001"), task_dict("T0001")))
    before = (project / "BACKLOG.yaml").read_bytes()

    run = macoder("mark", "T0001", "completed", cwd=project)

    assert run.code == 1
    assert "[confusable-id]" in run.stderr
    assert (project / "BACKLOG.yaml").read_bytes() == before


def test_a_title_with_line_breaks_is_accepted_and_shown_on_one_line(tmp_path: Path) -> None:
    text = backlog_yaml(task_dict("T001", title="Add the\n\tlogin page\n"))

    run = macoder("ready", "--backlog-only", cwd=project_with_text(tmp_path, text))

    assert run.code == 0, run.output
    assert run.stdout == "T001\tAdd the login page\n"


# --- escaped on output, whatever the rules say -------------------------------------------------


def unchecked(text: str) -> Backlog:
    """The backlog in `text` as the model holds it, built without validation."""
    data: dict[str, Any] = yaml.safe_load(text)
    tasks = []
    for raw in data.pop("tasks"):
        raw["status"] = TaskStatus(raw["status"])
        raw["scope"] = TaskScope.model_construct(**raw["scope"])
        if raw.get("context") is not None:
            raw["context"] = TaskContext.model_construct(**raw["context"])
        tasks.append(Task.model_construct(**raw))
    return Backlog.model_construct(**data, tasks=tasks)


@pytest.fixture
def rules_bypassed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command loads backlogs without the rules (as if from before they existed)."""
    import multi_agent_coder.backlog.load as load_module
    import multi_agent_coder.run.session as session_module

    def load_file(path: Path, display: str | None = None, checks: Any = (), **_: Any) -> LoadResult:
        text = path.read_text(encoding="utf-8")
        return LoadResult(display or str(path), unchecked(text), [], text)

    def load_bytes(raw: bytes, display: str, checks: Any = ()) -> LoadResult:
        text = raw.decode("utf-8")
        return LoadResult(display, unchecked(text), [], text)

    monkeypatch.setattr(load_module, "load_file", load_file)
    monkeypatch.setattr(session_module, "load_bytes", load_bytes)


def hostile_backlog() -> str:
    return backlog_yaml(
        task_dict("T001", title=EVERYTHING, description=EVERYTHING),
        task_dict("T002", depends_on=["T001"]),
        track_id="track \x1b]8;;https://evil.example\x07link",
    )


def assert_shown_escaped(run: Run) -> None:
    assert_inert(run.output)
    assert "\\x1b[31mred" in run.output
    assert "\\u202e" in run.output


@pytest.mark.usefixtures("rules_bypassed")
@pytest.mark.parametrize(
    "args", [("ready", "--backlog-only"), ("context", "T001"), ("stats",), ("check",)]
)
def test_commands_show_control_characters_as_escapes(args: tuple[str, ...], tmp_path: Path) -> None:
    run = macoder(*args, cwd=project_with_text(tmp_path, hostile_backlog()))

    assert_inert(run.output)
    if args[0] in ("ready", "context"):
        assert_shown_escaped(run)
    if args[0] == "stats":
        assert "track" in run.stdout
        assert "\\x1b]8;;https://evil.ex" in run.stdout  # rich wraps the title's rest


@pytest.mark.usefixtures("rules_bypassed")
def test_status_shows_escapes_and_rich_markup_as_written(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "repo", {"BACKLOG.yaml": hostile_backlog()})

    run = macoder("status", cwd=project)

    assert run.code == 0, run.output
    assert_inert(run.output)
    assert "[bold]T[/]" in run.stdout
    assert "\\x1b[31mred" in run.stdout.replace("\n", "")


def test_a_file_name_with_an_escape_is_escaped_in_every_check_format(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    name = "evil\x1b[2J.yaml"
    (project / name).write_text("tasks: 1\n")
    for fmt in ("text", "github", "markdown", "json"):
        run = macoder("check", "--format", fmt, name, cwd=project)

        assert run.code == 1
        assert_inert(run.output)
        assert "evil\\x1b[2J.yaml" in run.stdout or "evil\\u001b[2J.yaml" in run.stdout


@pytest.mark.parametrize("render", [render_text, render_github, render_markdown])
def test_every_problem_renderer_escapes_the_message_field_and_path(render: Any) -> None:
    problem = Problem(f"B{EVERYTHING}.yaml", 3, 4, "invalid-value", EVERYTHING, EVERYTHING)

    out = render([FileReport(problem.path, [problem])])

    assert_inert(out)
    assert out.count("\\u202e") == 3


def test_annotations_and_summaries_of_the_action_escape_a_hostile_title() -> None:
    from multi_agent_coder.action.outputs import render_plan_summary
    from multi_agent_coder.report import workflow_command

    task = unchecked(hostile_backlog()).tasks[0]

    for out in (
        workflow_command("error", EVERYTHING, title=EVERYTHING, file=EVERYTHING),
        render_plan_summary([task], note=EVERYTHING),
    ):
        assert_inert(out.replace("\n", " "))
        assert "\\x1b[31mred" in out
    assert "\r" not in workflow_command("error", "a\r\nb")


def test_the_local_forge_stores_and_lists_pull_requests_with_escapes(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"BACKLOG.yaml": backlog_yaml(task_dict("T001"))})
    git(root, "checkout", "-q", "-b", "macoder/T001")
    commit(root, {"feature.py": "x = 1\n"}, "T001: work")
    git(root, "checkout", "-q", "main")
    repo = Repo.open(root)
    forge = LocalForge(repo)

    forge.create_or_update_pr(
        WantedPr(
            task_id="T001",
            branch="macoder/T001",
            base="main",
            head_sha=repo.branch_head("macoder/T001"),
            title=f"T001: {EVERYTHING}",
            body=f"report\n{EVERYTHING}\n",
            draft=False,
            labels=("macoder",),
        )
    )
    [pr] = forge.list_prs()
    assert_inert(pr.title)
    assert_inert(pr.body)
    assert pr.title.startswith("T001: [bold]T[/] \\x1b[31mred")

    # A store written before the escaping existed: `macoder prs` still shows it inert.
    stored = json.loads(forge.store.read_text())
    stored["pulls"][0]["title"] = EVERYTHING
    forge.store.write_text(json.dumps(stored))
    run = macoder("prs", cwd=root)

    assert run.code == 0, run.output
    assert_shown_escaped(run)
