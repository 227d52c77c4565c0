"""One commit handed from a job without a write token to the publish job that holds one.

A feature's plan (`run/feature.py`) and a task's rewrite (`run/rebase_handoff.py`) leave the
same two files in their hand-off folder: a small JSON result naming the commit, and a git
bundle carrying it on one ref. The job that wrote them ran agents, so the publish job reads
them as a person's files would be read — bounded, no link, no FIFO, strictly typed (the
result by `forge/handoff.read_result`, the reader of a task's hand-off too) — and lets git see
the bundle only after its header holds (`run/feature_rules.py`). This module is the rest of
that reading and writing, shared so both hand-offs are held to it the same way; what each
commit may change is each publish job's own rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from multi_agent_coder.errors import MacoderError, UnreadableFileError
from multi_agent_coder.git import bundle
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.run.feature_rules import OneCommit, bundle_problems, commit_problems
from multi_agent_coder.userfiles import resolve_user_file


class Refused(Exception):
    """A hand-off the publish job will not push: each problem a sentence."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def name_problems(file: str, named: Iterable[tuple[str, str, str]]) -> list[str]:
    """Each `(what, as named, as planned)` the result `file` names otherwise than the
    workflow run planned, as a sentence (every publish job's result file names its run)."""
    return [
        f"{file} names {what} {got!r}, expected {want!r}"
        for what, got, want in named
        if got != want
    ]


def require_base_on_default(repo: Repo, base_sha: str) -> None:
    """`Refused` unless `base_sha` is a commit of the default branch (as fetched)."""
    default = repo.branch_head(repo.default_branch())
    try:
        on_default = default is not None and repo.descends_from(default, base_sha)
    except MacoderError:  # the base is no commit of this repository
        on_default = False
    if not on_default:
        raise Refused([f"the planned base {base_sha[:10]} is no commit of the default branch"])


def fetch_one_commit(
    repo: Repo, path: Path, expected: OneCommit, head: str, *, max_bytes: int
) -> None:
    """The bundle at `path` checked (a regular file of at most `max_bytes`, carrying exactly
    `expected.ref` at `head` on the planned base), then verified and fetched by git, then its
    commit checked (one, macoder's, on the base alone); `Refused` naming what does not hold."""
    problems = bundle_problems(read_bundle_header(path, max_bytes=max_bytes), expected, head)
    if problems:
        raise Refused(problems)
    fetch_bundle(repo, path, expected.ref)
    problems = commit_problems(repo.lineage(expected.base_sha, head), expected)
    if problems:
        raise Refused(problems)


def read_bundle_header(path: Path, *, max_bytes: int) -> bundle.BundleHeader:
    """The header of the bundle at `path`, read without git (git sees a bundle only after its
    header holds): a regular file in its hand-off folder of at most `max_bytes`; `Refused`
    naming what does not hold. Every publish job reads its bundle so (a task's in
    `run/publish.py` too); an `OSError` reading it is left to the caller, which says it in
    its own words."""
    shown = path.name
    try:  # a regular file in the hand-off folder, never a FIFO that would block the open
        resolve_user_file(path, shown=shown, root=path.parent)
        size = path.stat().st_size
        with path.open("rb") as stream:
            start = stream.read(bundle.MAX_HEADER_BYTES + 2)
    except UnreadableFileError as exc:
        raise Refused([str(exc)]) from None
    if size > max_bytes:
        raise Refused([f"{shown} is {size} bytes; the limit is {max_bytes}"])
    try:
        return bundle.read_header(start)
    except bundle.BundleError as exc:
        raise Refused([f"{shown}: {exc}"]) from None


def fetch_bundle(repo: Repo, path: Path, ref: str) -> None:
    """`ref` of the bundle at `path` (its header checked) verified and fetched by git;
    `Refused` when git will not."""
    try:
        bundle.verify_and_fetch(repo.root, path, ref)
    except MacoderError as exc:
        raise Refused([f"{path.name}: {exc}"]) from None
