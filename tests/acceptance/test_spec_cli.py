"""`macoder spec merge|log|show` and the spec check of `macoder check`, as a user runs them.

A project is a git repository (made with the git binary) with a track under `specs/`; the
inputs of the golden merge (tests/golden/planning) are its SPEC.md, ARCH.md and QA.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import clean_env, macoder
from tests.integration.gitrepos import commit, git, make_repo
from tests.unit.test_ids import HOSTILE_TRACKS

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "planning"
SOURCES = ("SPEC.md", "ARCH.md", "QA.md")


def add_track(root: Path, track: str = "todo-cli", specs: str = "specs") -> Path:
    directory = root / specs / track
    directory.mkdir(parents=True)
    for name in SOURCES:
        shutil.copyfile(GOLDEN / name, directory / name)
    return directory


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A repository with one committed commit and the golden track on disk (not committed)."""
    root = make_repo(tmp_path / "project")
    add_track(root)
    return root


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# --- merge -----------------------------------------------------------------------------------


def test_merge_writes_the_golden_plan_and_a_second_merge_changes_nothing(project: Path) -> None:
    plan = project / "specs" / "todo-cli" / "PLAN.md"

    first = macoder("spec", "merge", "todo-cli", cwd=project)
    written = plan.read_bytes()
    before = plan.stat().st_mtime_ns
    second = macoder("spec", "merge", "todo-cli", cwd=project)

    assert (first.code, first.stdout) == (0, "specs/todo-cli/PLAN.md: written\n")
    assert written == (GOLDEN / "PLAN.md").read_bytes()
    assert second.code == 0
    assert second.stdout == "specs/todo-cli/PLAN.md: unchanged (the merge gives the same bytes)\n"
    assert plan.stat().st_mtime_ns == before
    assert files_in(plan.parent) == ["ARCH.md", "PLAN.md", "QA.md", "SPEC.md"]


def test_merge_after_a_person_edits_the_spec_rewrites_the_plan(project: Path) -> None:
    macoder("spec", "merge", "todo-cli", cwd=project)
    spec = project / "specs" / "todo-cli" / "SPEC.md"
    spec.write_text(spec.read_text().replace("per item", "per item, oldest first"))

    run = macoder("spec", "merge", "todo-cli", cwd=project)

    assert run.stdout == "specs/todo-cli/PLAN.md: written\n"
    assert (
        "2. `todo list` prints one line per item, oldest first."
        in (project / "specs" / "todo-cli" / "PLAN.md").read_text()
    )


def test_a_missing_heading_fails_naming_file_and_heading_and_leaves_the_plan_alone(
    project: Path,
) -> None:
    directory = project / "specs" / "todo-cli"
    (directory / "PLAN.md").write_bytes(b"the plan a person reviewed\n")
    spec = directory / "SPEC.md"
    spec.write_text(spec.read_text().replace("## Requirements", "## Goals"))
    (directory / "QA.md").write_text("## Test Plan\n\n- unit\n\n## Risks\n\n")

    run = macoder("spec", "merge", "todo-cli", cwd=project)

    assert run.code == 1
    assert run.stderr == (
        'macoder: error: specs/todo-cli/SPEC.md: missing heading "## Requirements"\n'
        'specs/todo-cli/QA.md:5: empty section "## Risks"\n'
    )
    assert (directory / "PLAN.md").read_bytes() == b"the plan a person reviewed\n"
    assert files_in(directory) == ["ARCH.md", "PLAN.md", "QA.md", "SPEC.md"]


def test_a_missing_source_file_is_named(project: Path) -> None:
    (project / "specs" / "todo-cli" / "QA.md").unlink()

    run = macoder("spec", "merge", "todo-cli", cwd=project)

    assert run.code == 2
    assert "specs/todo-cli/QA.md: " in run.stderr
    assert not (project / "specs" / "todo-cli" / "PLAN.md").exists()


def test_a_source_that_is_not_utf8_is_named(project: Path) -> None:
    (project / "specs" / "todo-cli" / "ARCH.md").write_bytes(b"## Design\n\n\xff\n")

    run = macoder("spec", "merge", "todo-cli", cwd=project)

    assert run.code == 1
    assert "specs/todo-cli/ARCH.md: not valid UTF-8 (byte 12 of the file)" in run.stderr


def test_an_unknown_track_names_the_tracks_there_are(project: Path) -> None:
    run = macoder("spec", "merge", "todo", cwd=project)

    assert run.code == 2
    assert run.stderr == (
        "macoder: error: specs/todo: no such track (tracks in specs/: todo-cli; "
        "setting specs_dir)\n"
    )


@pytest.mark.timeout(20)
def test_a_fifo_named_spec_md_is_refused_without_blocking(project: Path) -> None:
    spec = project / "specs" / "todo-cli" / "SPEC.md"
    spec.unlink()
    os.mkfifo(spec)

    run = macoder("spec", "merge", "todo-cli", cwd=project)

    assert run.code == 2
    assert "specs/todo-cli/SPEC.md: " in run.stderr
    assert "named pipe" in run.stderr


def test_a_source_linked_out_of_the_repository_is_refused(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_bytes((GOLDEN / "SPEC.md").read_bytes())
    spec = project / "specs" / "todo-cli" / "SPEC.md"
    spec.unlink()
    spec.symlink_to(outside)

    run = macoder("spec", "merge", "todo-cli", cwd=project)

    assert run.code == 2
    assert "specs/todo-cli/SPEC.md" in run.stderr
    assert not (project / "specs" / "todo-cli" / "PLAN.md").exists()


def test_a_plan_that_is_a_symlink_is_not_written_through(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.md"
    target.write_bytes(b"not macoder's\n")
    (project / "specs" / "todo-cli" / "PLAN.md").symlink_to(target)

    run = macoder("spec", "merge", "todo-cli", cwd=project)

    assert run.code == 2
    assert "specs/todo-cli/PLAN.md: not written: it is a symbolic link" in run.stderr
    assert target.read_bytes() == b"not macoder's\n"


def test_a_track_directory_linked_out_of_the_project_is_refused(
    project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-track"
    add_track(tmp_path, "outside-track", specs=".")
    (project / "specs" / "linked").symlink_to(outside)

    run = macoder("spec", "merge", "linked", cwd=project)

    assert run.code == 2
    assert "specs/linked: leads outside the project" in run.stderr
    assert not (outside / "PLAN.md").exists()


def test_a_read_only_plan_is_not_replaced(project: Path) -> None:
    plan = project / "specs" / "todo-cli" / "PLAN.md"
    plan.write_bytes(b"frozen\n")
    plan.chmod(0o444)

    run = macoder("spec", "merge", "todo-cli", cwd=project)

    assert run.code == 2
    assert "specs/todo-cli/PLAN.md: not written: the file is read-only" in run.stderr
    assert "make it writable to merge the plan into it" in run.stderr
    assert plan.read_bytes() == b"frozen\n"


def test_the_specs_dir_setting_moves_the_tracks(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "project")
    (root / ".macoder.yaml").write_text("specs_dir: design\n")
    add_track(root, specs="design")

    merged = macoder("spec", "merge", "todo-cli", cwd=root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Plan the todo list")
    logged = macoder("spec", "log", "todo-cli", cwd=root)
    (root / ".macoder.yaml").write_text("specs_dir: plans\n")
    elsewhere = macoder("spec", "merge", "todo-cli", cwd=root)

    assert merged.stdout == "design/todo-cli/PLAN.md: written\n"
    assert (root / "design" / "todo-cli" / "PLAN.md").read_bytes() == (
        GOLDEN / "PLAN.md"
    ).read_bytes()
    assert logged.stdout.endswith("  Repo Owner  Plan the todo list\n")
    assert elsewhere.code == 2
    assert "plans/todo-cli: no such track (no tracks yet; setting specs_dir)" in elsewhere.stderr


# --- log and show ------------------------------------------------------------------------------


@pytest.fixture
def history(project: Path) -> list[str]:
    """Three commits on the track (merge, an edit, another track's), one elsewhere; returns
    the track's commits, newest first."""
    macoder("spec", "merge", "todo-cli", cwd=project)
    first = commit(project, {}, "Plan the todo list")
    commit(project, {"README.md": "unrelated\n"}, "Readme")
    add_track(project, "other")
    commit(project, {}, "Plan another track")
    qa = project / "specs" / "todo-cli" / "QA.md"
    second = commit(project, {"specs/todo-cli/QA.md": qa.read_text() + "- one more risk\n"}, "QA")
    return [second, first]


def test_log_lists_the_commits_that_changed_the_track_newest_first(
    project: Path, history: list[str]
) -> None:
    run = macoder("spec", "log", "todo-cli", cwd=project)

    lines = run.stdout.splitlines()
    assert run.code == 0
    assert [line.split("  ")[0] for line in lines] == [sha[:10] for sha in history]
    day = git(project, "log", "-1", "--format=%ad", "--date=short", history[0])
    assert lines[0] == f"{history[0][:10]}  {day}  Repo Owner  QA"
    assert lines[1].endswith("  Repo Owner  Plan the todo list")


def test_log_as_json_gives_full_shas_dates_and_authors(project: Path, history: list[str]) -> None:
    run = macoder("spec", "log", "todo-cli", "--json", cwd=project)

    entries = json.loads(run.stdout)
    assert [entry["sha"] for entry in entries] == history
    assert entries[0]["subject"] == "QA"
    assert entries[0]["author"] == "Repo Owner"
    assert entries[0]["email"] == "owner@example.com"
    assert entries[0]["date"] == git(project, "log", "-1", "--format=%aI", history[0])


def test_log_of_a_track_no_commit_touched_says_so(project: Path) -> None:
    run = macoder("spec", "log", "todo-cli", cwd=project)
    as_json = macoder("spec", "log", "todo-cli", "--json", cwd=project)

    assert (run.code, run.stdout) == (0, "no commit on this branch changes specs/todo-cli/\n")
    assert json.loads(as_json.stdout) == []


def test_log_outside_a_git_repository_is_a_usage_error(tmp_path: Path) -> None:
    add_track(tmp_path)

    run = macoder("spec", "log", "todo-cli", cwd=tmp_path)

    assert run.code == 2
    assert "not a git repository" in run.stderr


def test_show_prints_the_plan_at_head_by_default(project: Path, history: list[str]) -> None:
    del history
    run = macoder("spec", "show", "todo-cli", cwd=project)

    assert run.code == 0
    assert run.stdout == (GOLDEN / "PLAN.md").read_text()


def test_show_at_an_older_commit_gives_the_file_as_it_was(
    project: Path, history: list[str]
) -> None:
    now = macoder("spec", "show", "todo-cli", "QA.md", cwd=project)
    before = macoder("spec", "show", "todo-cli", "QA.md", "--at", history[1][:12], cwd=project)
    relative = macoder("spec", "show", "todo-cli", "QA.md", "--at", "HEAD~1", cwd=project)

    assert now.stdout.endswith("- one more risk\n")
    assert before.stdout == (GOLDEN / "QA.md").read_text()
    assert relative.stdout == before.stdout


def test_show_of_a_file_the_commit_lacks_names_the_files_it_has(
    project: Path, history: list[str]
) -> None:
    run = macoder("spec", "show", "todo-cli", "NOTES.md", "--at", history[1], cwd=project)

    assert run.code == 2
    assert run.stderr == (
        f"macoder: error: specs/todo-cli/NOTES.md: not in commit {history[1][:10]} "
        "(it has ARCH.md, PLAN.md, QA.md, SPEC.md)\n"
    )


def test_show_of_a_track_the_commit_lacks_says_so(project: Path, history: list[str]) -> None:
    run = macoder("spec", "show", "other", "--at", history[1], cwd=project)

    assert run.code == 2
    assert f"specs/other/: not in commit {history[1][:10]}" in run.stderr


def test_show_at_something_that_is_no_commit_fails_naming_it(
    project: Path, history: list[str]
) -> None:
    del history
    run = macoder("spec", "show", "todo-cli", "--at", "no-such-branch", cwd=project)

    assert run.code == 1
    assert "'no-such-branch' does not name a commit" in run.stderr


def test_show_makes_control_characters_visible_and_raw_keeps_every_byte(project: Path) -> None:
    data = b"## Title\r\n\x1b]0;pwned\x07 text\r\n"
    (project / "specs" / "todo-cli" / "NOTES.md").write_bytes(data)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "notes")

    shown = macoder("spec", "show", "todo-cli", "NOTES.md", cwd=project)
    raw = subprocess.run(
        [
            sys.executable,
            "-m",
            "multi_agent_coder",
            "spec",
            "show",
            "todo-cli",
            "NOTES.md",
            "--raw",
        ],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert shown.stdout == "## Title\\x0d\n\\x1b]0;pwned\\x07 text\\x0d\n"
    assert (raw.returncode, raw.stdout) == (0, data)


# --- hostile names ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One repository for the tests that must leave it as it was (they check that)."""
    root = make_repo(tmp_path_factory.mktemp("shared") / "project")
    add_track(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Plan the todo list")
    return root


@pytest.mark.parametrize("subcommand", [["log"], ["show"], ["merge"], ["log", "--json"]])
@pytest.mark.parametrize("name", [n for n in HOSTILE_TRACKS if "\x00" not in n], ids=repr)
def test_a_hostile_track_name_is_a_usage_error_before_any_path_or_git(
    shared_project: Path, subcommand: list[str], name: str
) -> None:
    project = shared_project
    before = sorted(str(p.relative_to(project)) for p in project.rglob("*"))

    run = macoder("spec", subcommand[0], *subcommand[1:], "--", name, cwd=project)

    assert run.code == 2, run.output
    assert "invalid track name" in run.stderr
    assert run.stdout == ""
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == before


@pytest.mark.parametrize(
    "file_name", ["../SPEC.md", "../../etc/passwd", "sub/PLAN.md", ".git", "..", "", "a\nb"]
)
def test_a_hostile_file_name_for_show_is_a_usage_error(project: Path, file_name: str) -> None:
    run = macoder("spec", "show", "todo-cli", "--", file_name, cwd=project)

    assert run.code == 2
    assert "invalid file name" in run.stderr


def test_spec_without_a_subcommand_is_a_usage_error(project: Path) -> None:
    run = macoder("spec", cwd=project)

    assert run.code == 2
    assert "usage: macoder spec" in run.stderr


# --- the hygiene check of spec files ---------------------------------------------------------


def test_check_reports_planning_debris_in_a_spec_at_its_line(project: Path) -> None:
    shutil.copyfile(
        Path(__file__).resolve().parents[2] / "examples" / "backlogs" / "good" / "BACKLOG.yaml",
        project / "BACKLOG.yaml",
    )
    spec = project / "specs" / "todo-cli" / "SPEC.md"
    spec.write_text(spec.read_text().replace("Standard library only.", "We explored\nit."))

    run = macoder("check", "specs/todo-cli/SPEC.md", "specs/todo-cli/QA.md", cwd=project)
    schema_only = macoder("check", "--only", "schema", "specs/todo-cli/SPEC.md", cwd=project)

    line = spec.read_text().splitlines().index("- We explored") + 1
    assert run.code == 1
    assert run.stdout == (
        f'specs/todo-cli/SPEC.md:{line}:3: planning debris "we explored": give the agent the '
        "decision, not how it was reached [planning-debris]\n"
        "1 error(s), 0 warning(s) in 3 files\n"
    )
    assert schema_only.code == 0


def test_check_reads_only_markdown_under_the_specs_directory(project: Path) -> None:
    (project / "docs").mkdir()
    (project / "docs" / "notes.md").write_text("Let me think about it.\n")
    (project / "specs" / "todo-cli" / "scratch.txt").write_text("Let me think about it.\n")

    run = macoder("check", "docs/notes.md", "specs/todo-cli/scratch.txt", cwd=project)

    assert run.code == 0, run.output
    assert "no backlog at BACKLOG.yaml; nothing to check" in run.stderr


def test_check_follows_the_specs_dir_setting(project: Path) -> None:
    (project / ".macoder.yaml").write_text("specs_dir: design\n")
    (project / "design").mkdir()
    (project / "design" / "x.md").write_text("On second thought, no.\n")

    run = macoder("check", "design/x.md", "specs/todo-cli/SPEC.md", cwd=project)

    assert run.code == 1
    assert run.stdout.startswith('design/x.md:1:1: planning debris "on second thought": ')
    assert "specs/todo-cli" not in run.stdout
