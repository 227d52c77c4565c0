"""What the tests of the Action's split jobs share: "GitHub" (a bare repository as the git
remote, `FakeGitHub` as the REST API), fresh jobs on it, and the hand-off one job leaves for
the next (the workflow's artifact, here a copy of its directory).

The task and publish jobs (`test_action_handoff.py`), plan-feature and publish-feature
(`test_action_plan_feature.py`), rebase and publish-rebase (`test_action_rebase.py`) all
stand on it, so they see GitHub and move a hand-off the same way; what lies on the remote
and which jobs run are each module's own.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testing.fake_github import FakeGitHub
from tests.integration.gitrepos import git
from tests.integration.test_action_entry import SLUG, TOKEN, Job


@dataclass
class World:
    """GitHub with the repository on it; `base_sha`: the planned base the jobs run on."""

    base: Path
    fake: FakeGitHub
    server: Path
    base_sha: str

    @property
    def remote(self) -> Path:
        return self.server / f"{SLUG}.git"

    def job(self, name: str) -> Job:
        """A new job: its own runner directory and a fresh clone of the remote."""
        folder = self.base / name
        while folder.exists():
            folder = folder.with_name(folder.name + "-again")
        folder.mkdir()
        checkout = folder / "checkout"
        git(folder, "clone", "-q", str(self.remote), str(checkout))
        return Job(folder, checkout, self.server, self.fake.api_url)

    def ref_sha(self, name: str) -> str:
        """Where the remote's `name` (a branch, a ref) is; "" where it has none."""
        return git(self.remote, "rev-parse", "--verify", "-q", name, check=False)


@contextlib.contextmanager
def github(tmp_path: Path, author: Path, *refs: str) -> Iterator[tuple[FakeGitHub, Path]]:
    """`author`'s `main` (and `refs`, as `src:dst`) pushed to a new bare repository under
    `tmp_path/server`, served by a `FakeGitHub`; (the fake, the server folder)."""
    server = tmp_path / "server"
    remote = server / f"{SLUG}.git"
    remote.parent.mkdir(parents=True)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(author, "push", "-q", str(remote), "main", *refs)
    with FakeGitHub(TOKEN) as fake:
        fake.add_repo(SLUG, remote)
        yield fake, server


def handoff_dir(job: Job) -> Path:
    """Where a job leaves its hand-off, and where the next job finds it."""
    return Path(job.env["RUNNER_TEMP"]) / "macoder-handoff"


def hand_over(done: Job | None, job: Job) -> None:
    """`done`'s hand-off, if it left one, downloaded into `job` as the artifact would be."""
    if done is not None and handoff_dir(done).is_dir():
        shutil.copytree(handoff_dir(done), handoff_dir(job))


def agent_factory(agent: Any) -> Any:
    """The entry's agent factory for a fake at the `Agent` protocol: `agent` every time."""

    @contextlib.contextmanager
    def build(*_: object) -> Iterator[Any]:
        yield agent

    return build
