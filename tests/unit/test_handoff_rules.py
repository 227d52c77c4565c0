"""What the publish job accepts from a task job: the bundle's header, read without git, and
the rules on its commits and its change (pure; the integration tests run them on real git)."""

from __future__ import annotations

import pytest

from multi_agent_coder.forge.base import LABEL_FAILED, LABEL_NEEDS_REVIEW
from multi_agent_coder.git.bundle import BundleError, BundleHeader, read_header
from multi_agent_coder.git.repo import Change, CommitFacts
from multi_agent_coder.limits import PROTECTED_PATHS
from multi_agent_coder.run.handoff_rules import (
    MAX_COMMITS,
    Expected,
    change_problems,
    header_problems,
    is_review_draft,
    lineage_problems,
    merge_problems,
)

BASE = "b" * 40
HEAD = "c" * 40
MACODER = "macoder@localhost"
EXPECTED = Expected(
    task_id="T001",
    run_id="gha-1",
    base_sha=BASE,
    ref="refs/macoder/handoff/T001",
    emails=(MACODER,),
    protected=tuple(PROTECTED_PATHS),
    backlog_path="BACKLOG.yaml",
)


# --------------------------------------------------------------------------- the header


def test_a_v2_header_gives_its_prerequisites_and_refs() -> None:
    data = (
        f"# v2 git bundle\n-{BASE} T001: base\n{HEAD} refs/macoder/handoff/T001\n\nPACK..."
    ).encode()
    assert read_header(data) == BundleHeader((BASE,), ((HEAD, "refs/macoder/handoff/T001"),))


def test_a_v3_header_skips_its_capabilities() -> None:
    data = f"# v3 git bundle\n@object-format=sha1\n{HEAD} refs/x\n\n".encode()
    assert read_header(data) == BundleHeader((), ((HEAD, "refs/x"),))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"#!/bin/sh\nrm -rf /\n", "not a git bundle"),
        (b"# v2 git bundle\n" + b"x" * 70_000, "does not end"),
        (b"# v2 git bundle\n-nothex comment\n\n", "bad prerequisite"),
        (b"# v2 git bundle\n" + HEAD.encode() + b"\n\n", "bad reference"),
        (b"# v2 git bundle\nzz refs/x\n\n", "bad reference"),
    ],
)
def test_what_is_not_a_bundle_header_is_refused_by_name(data: bytes, words: str) -> None:
    with pytest.raises(BundleError, match=words):
        read_header(data)


def test_the_header_must_carry_exactly_the_task_ref_on_exactly_the_base() -> None:
    good = BundleHeader((BASE,), ((HEAD, EXPECTED.ref),))
    assert header_problems(good, EXPECTED, HEAD) == []
    whole = BundleHeader((), ((HEAD, EXPECTED.ref),))
    assert header_problems(whole, EXPECTED, HEAD) == [
        f"the bundle is based on none (a whole history), not on the planned base {BASE[:10]}"
    ]
    other_base = BundleHeader(("a" * 40,), ((HEAD, EXPECTED.ref),))
    assert "not on the planned base" in header_problems(other_base, EXPECTED, HEAD)[0]
    two_refs = BundleHeader((BASE,), ((HEAD, EXPECTED.ref), (HEAD, "refs/heads/main")))
    assert "refs/heads/main" in header_problems(two_refs, EXPECTED, HEAD)[0]
    other_head = BundleHeader((BASE,), (("d" * 40, EXPECTED.ref),))
    assert header_problems(other_head, EXPECTED, HEAD) != []


def test_an_updates_bundle_builds_on_the_prs_head_and_the_planned_base_it_merged() -> None:
    onto = BASE
    merged = "a" * 40
    both = BundleHeader((merged, onto), ((HEAD, EXPECTED.ref),))
    assert header_problems(both, EXPECTED, HEAD, merged) == []
    only_onto = BundleHeader((onto,), ((HEAD, EXPECTED.ref),))
    assert header_problems(only_onto, EXPECTED, HEAD, merged) == [
        f"the bundle is based on {onto[:10]}, not on the planned base {merged[:10]} and {onto[:10]}"
    ]
    assert header_problems(both, EXPECTED, HEAD) != []  # two bases for a first run: refused


def test_an_update_is_one_macoder_merge_of_the_planned_base_into_the_prs_head() -> None:
    onto, merged = BASE, "a" * 40
    merge = CommitFacts(HEAD, (onto, merged), MACODER, MACODER)
    assert merge_problems([merge], onto, merged, EXPECTED) == []
    swapped = CommitFacts(HEAD, (merged, onto), MACODER, MACODER)
    assert "is not a merge of" in merge_problems([swapped], onto, merged, EXPECTED)[0]
    theirs = CommitFacts(HEAD, (onto, merged), MACODER, "evil@example.com")
    assert merge_problems([theirs], onto, merged, EXPECTED) == [
        f"commit {HEAD[:10]}: committer 'evil@example.com' is not macoder"
    ]
    extra = [merge, CommitFacts("d" * 40, (HEAD,), MACODER, MACODER)]
    assert merge_problems(extra, onto, merged, EXPECTED) == [
        "an update adds one merge commit, not 2 commits"
    ]


# --------------------------------------------------------------------------- the commits


def chain(*emails: str, base: str = BASE) -> list[CommitFacts]:
    commits, parent = [], base
    for i, email in enumerate(emails):
        sha = f"{i + 1:040x}"
        commits.append(CommitFacts(sha, (parent,), email, email))
        parent = sha
    return commits


def test_a_straight_line_of_macoder_commits_from_the_base_is_accepted() -> None:
    assert lineage_problems(chain(MACODER, MACODER.upper()), EXPECTED) == []


def test_no_commit_at_all_is_refused() -> None:
    assert lineage_problems([], EXPECTED) == ["the bundle adds no commit to the base"]


def test_a_commit_by_anyone_else_is_refused_naming_commit_and_role() -> None:
    commits = chain(MACODER)
    commits.append(CommitFacts("f" * 40, (commits[0].sha,), MACODER, "evil@example.com"))
    assert lineage_problems(commits, EXPECTED) == [
        f"commit {'f' * 10}: committer 'evil@example.com' is not macoder"
    ]


def test_a_merge_or_a_commit_on_another_parent_is_refused() -> None:
    merge = [CommitFacts(HEAD, (BASE, "a" * 40), MACODER, MACODER)]
    assert "one straight line" in lineage_problems(merge, EXPECTED)[0]
    elsewhere = chain(MACODER, base="a" * 40)
    assert "one straight line" in lineage_problems(elsewhere, EXPECTED)[0]


def test_too_many_commits_are_refused() -> None:
    problems = lineage_problems(chain(*[MACODER] * (MAX_COMMITS + 1)), EXPECTED)
    assert problems == [f"{MAX_COMMITS + 1} commits; a task branch has at most {MAX_COMMITS}"]


# --------------------------------------------------------------------------- the change


def changes(*paths: str) -> list[Change]:
    return [Change("added", path) for path in paths]


def test_an_ordinary_change_with_the_status_flip_is_accepted() -> None:
    found = change_problems(
        changes("src/app.py", "tests/test_app.py", "BACKLOG.yaml"),
        EXPECTED,
        review_draft=False,
        backlog_is_the_status_flip=True,
    )
    assert found == []


@pytest.mark.parametrize(
    "path", [".github/workflows/ci.yml", ".github/workflows/x/y.yaml", ".github/actions/a.yml"]
)
def test_a_workflow_or_action_is_refused_even_in_a_review_draft(path: str) -> None:
    found = change_problems(
        changes(path), EXPECTED, review_draft=True, backlog_is_the_status_flip=True
    )
    assert found == [f"changes {path}: workflows and actions are never pushed by macoder"]


def test_a_protected_path_is_accepted_only_in_a_review_draft() -> None:
    args = (changes("tests/conftest.py"), EXPECTED)
    assert change_problems(*args, review_draft=True, backlog_is_the_status_flip=True) == []
    refused = change_problems(*args, review_draft=False, backlog_is_the_status_flip=True)
    assert refused == [
        "changes protected path(s) tests/conftest.py in a result not marked for review "
        f"(a draft labelled {LABEL_NEEDS_REVIEW})"
    ]


def test_a_backlog_change_beyond_the_status_flip_is_refused() -> None:
    found = change_problems(
        changes("BACKLOG.yaml"), EXPECTED, review_draft=True, backlog_is_the_status_flip=False
    )
    assert found == ["changes BACKLOG.yaml beyond marking T001 completed"]


def test_a_review_draft_is_a_draft_with_the_review_label() -> None:
    assert is_review_draft(True, ("macoder", LABEL_NEEDS_REVIEW))
    assert not is_review_draft(False, (LABEL_NEEDS_REVIEW,))
    assert not is_review_draft(True, (LABEL_FAILED,))
