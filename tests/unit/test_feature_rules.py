"""What publish-feature accepts from a plan-feature job: one commit of macoder's on the planned
base, changing only the track's files and the backlog — and the backlog only by new pending
tasks appended, every existing byte and task as it was, the whole passing `macoder check`.
"""

from __future__ import annotations

from multi_agent_coder.backlog.rules import check_rules
from multi_agent_coder.backlog.write import with_tasks_appended
from multi_agent_coder.git.bundle import BundleHeader
from multi_agent_coder.git.repo import Change, CommitFacts
from multi_agent_coder.run.feature_rules import (
    FeatureExpected,
    appended_tasks,
    bundle_problems,
    commit_problems,
    path_problems,
)
from tests.support import backlog_yaml, task_dict

BASE, HEAD, OTHER = "b" * 40, "c" * 40, "d" * 40
MACODER = "macoder@localhost"
EXPECTED = FeatureExpected(
    track="sign-in",
    run_id="gha-1",
    base_sha=BASE,
    ref="refs/macoder/handoff/plan-sign-in",
    emails=(MACODER,),
    specs_dir="specs",
    backlog_path="BACKLOG.yaml",
)
PLAN_FILES = [Change("added", f"specs/sign-in/{n}") for n in ("SPEC.md", "ARCH.md", "PLAN.md")]
BEFORE = backlog_yaml(task_dict("T001"), task_dict("T002", depends_on=["T001"])).encode()
CHECKS = (check_rules,)


def appended(*ids: str, raw: bytes = BEFORE, **overrides: object) -> bytes:
    tasks = [task_dict(i, **overrides) for i in ids]
    for task in tasks:
        task.pop("attempts")
    return with_tasks_appended(raw, tasks).raw


# --------------------------------------------------------------------------- the bundle


def test_the_bundle_must_carry_the_plans_ref_on_the_planned_base() -> None:
    good = BundleHeader((BASE,), ((HEAD, EXPECTED.ref),))
    assert bundle_problems(good, EXPECTED, HEAD) == []
    whole = BundleHeader((), ((HEAD, EXPECTED.ref),))
    assert bundle_problems(whole, EXPECTED, HEAD) == [
        f"the bundle is based on none (a whole history), not on the planned base {BASE[:10]}"
    ]
    branch = BundleHeader((BASE,), ((HEAD, "refs/heads/main"),))
    assert "carries refs/heads/main" in bundle_problems(branch, EXPECTED, HEAD)[0]


# --------------------------------------------------------------------------- the commit


def test_the_plan_is_one_commit_of_macoders_on_the_base() -> None:
    ok = CommitFacts(HEAD, (BASE,), MACODER, MACODER)
    assert commit_problems([ok], EXPECTED) == []
    person = CommitFacts(HEAD, (BASE,), "dev@example.com", MACODER)
    assert commit_problems([person], EXPECTED) == [
        f"commit {HEAD[:10]}: author 'dev@example.com' is not macoder"
    ]
    elsewhere = CommitFacts(HEAD, (OTHER,), MACODER, MACODER)
    assert "is not a commit on" in commit_problems([elsewhere], EXPECTED)[0]
    two = [
        CommitFacts(OTHER, (BASE,), MACODER, MACODER),
        CommitFacts(HEAD, (OTHER,), MACODER, MACODER),
    ]
    assert commit_problems(two, EXPECTED) == ["a plan is one commit on the planned base, not 2"]


# --------------------------------------------------------------------------- the paths


def test_the_tracks_files_and_the_backlog_are_all_a_plan_changes() -> None:
    assert path_problems([*PLAN_FILES, Change("modified", "BACKLOG.yaml")], EXPECTED) == []


def test_a_file_outside_the_track_and_the_backlog_is_refused() -> None:
    changes = [
        *PLAN_FILES,
        Change("modified", "BACKLOG.yaml"),
        Change("added", ".github/workflows/steal.yml"),
        Change("modified", "src/app.py"),
        Change("added", "specs/other-track/PLAN.md"),
        Change("added", "specs/sign-in-evil/PLAN.md"),  # a prefix of the track is no track
    ]
    assert path_problems(changes, EXPECTED) == [
        f"changes {path}: a plan changes only specs/sign-in/** and BACKLOG.yaml"
        for path in (
            ".github/workflows/steal.yml",
            "src/app.py",
            "specs/other-track/PLAN.md",
            "specs/sign-in-evil/PLAN.md",
        )
    ]


def test_a_plan_deletes_nothing_and_must_write_its_plan_and_tasks() -> None:
    changes = [Change("deleted", "specs/sign-in/PLAN.md"), Change("added", "specs/sign-in/QA.md")]
    assert path_problems(changes, EXPECTED) == [
        "deletes specs/sign-in/PLAN.md: a plan adds or rewrites its track's files",
        "does not write specs/sign-in/PLAN.md",
        "adds no task to BACKLOG.yaml",
    ]


# --------------------------------------------------------------------------- the backlog


def test_new_pending_tasks_appended_are_accepted() -> None:
    after = appended("T003", "T004", depends_on=["T002"])
    added, problems = appended_tasks(BEFORE, after, "BACKLOG.yaml", CHECKS)
    assert problems == []
    assert [t.id for t in added] == ["T003", "T004"]


def test_an_existing_task_edited_is_refused() -> None:
    after = appended("T003").replace(b"status: pending", b"status: completed", 1)
    added, problems = appended_tasks(BEFORE, after, "BACKLOG.yaml", CHECKS)
    assert added == []
    assert problems == [
        "BACKLOG.yaml: changed beyond tasks appended at the end of its list (existing text is "
        "rewritten or removed)"
    ]


def test_an_insertion_into_an_existing_task_is_refused() -> None:
    """One insertion, byte for byte at the end, that also gives the last existing task T002 a
    new key before the new task starts: T002 no longer reads back as it was."""
    plain = appended("T003")
    assert plain.startswith(BEFORE)
    extra = b"  context:\n    gotchas:\n    - mind the cache\n"
    after = BEFORE + extra + plain[len(BEFORE) :]
    added, problems = appended_tasks(BEFORE, after, "BACKLOG.yaml", CHECKS)
    assert problems == ["BACKLOG.yaml: changes the existing task T002"]
    assert [t.id for t in added] == ["T003"]


def test_a_backlog_that_fails_the_checks_is_refused_with_its_problems() -> None:
    after = appended("T003", depends_on=["T999"])
    _, problems = appended_tasks(BEFORE, after, "BACKLOG.yaml", CHECKS)
    assert len(problems) == 1
    assert problems[0].startswith("BACKLOG.yaml does not pass macoder check: BACKLOG.yaml:")
    assert "T999" in problems[0]


def test_new_tasks_start_pending_and_there_is_at_least_one() -> None:
    _, problems = appended_tasks(BEFORE, appended("T003", status="completed"), "B.yaml", CHECKS)
    assert problems == ["B.yaml: the new task T003 is completed, not pending"]
    _, problems = appended_tasks(BEFORE, BEFORE, "B.yaml", CHECKS)
    assert problems == ["B.yaml: no task is added"]


def test_a_backlog_missing_on_either_side_is_refused() -> None:
    assert appended_tasks(None, BEFORE, "B.yaml", CHECKS)[1] == [
        "B.yaml: missing in the planned base"
    ]
    assert appended_tasks(BEFORE, None, "B.yaml", CHECKS)[1] == ["B.yaml: missing in the plan"]
