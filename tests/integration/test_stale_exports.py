"""The checks' exports (`macoder-verify-<pid>-…` under the temp directory) of a run that was
killed before it could remove them are removed by the next run — and no one else's are."""

from __future__ import annotations

import os
from pathlib import Path

from multi_agent_coder.git.repo import Repo
from multi_agent_coder.run.verify import EXPORT_PREFIX, exported, sweep_stale_exports
from tests.integration.gitrepos import make_repo
from tests.pids import unused_pid


def test_an_export_is_named_after_the_process_that_made_it(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    with exported(Repo.open(root), "HEAD") as tree:
        assert tree.parent.name.startswith(f"{EXPORT_PREFIX}{os.getpid()}-")
        assert (tree / "a.txt").read_text() == "a\n"
        assert sweep_stale_exports(tree.parent.parent) == []  # ours, while we run: kept
    assert not tree.parent.exists()


def test_only_the_exports_of_gone_processes_are_swept(tmp_path: Path) -> None:
    gone = tmp_path / f"{EXPORT_PREFIX}{unused_pid()}-abc"
    mine = tmp_path / f"{EXPORT_PREFIX}{os.getpid()}-def"
    alive = tmp_path / f"{EXPORT_PREFIX}{os.getppid()}-ghi"
    other = tmp_path / "macoder-verify-notapid"
    for directory in (gone, mine, alive, other):
        (directory / "tree").mkdir(parents=True)
        (directory / "tree" / "file").write_text("x")

    assert sweep_stale_exports(tmp_path) == [gone]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (mine, alive, other)
    )
