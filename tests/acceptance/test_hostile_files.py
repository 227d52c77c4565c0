"""A backlog that is no ordinary file gets a clear refusal from every command, never a hang.

Each case below once hung a command (a FIFO, a symlink to /dev/zero that grew to 6 GB), ended
in "internal error" (a symlink loop, a read-only directory), or did the wrong thing quietly
(a read-only backlog replaced, a double BOM accepted by `check` and refused by `mark`). Every
command that reads the backlog must now say which file and why, with exit 1 (a problem in the
backlog's content) or 2 (the file cannot be used as one), no traceback, and leave every file
as it was. Each test has a timeout, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli import macoder
from tests.integration.gitrepos import git

GOOD = Path(__file__).resolve().parents[2] / "examples" / "backlogs" / "good" / "BACKLOG.yaml"

#: Every command that reads the backlog file on disk.
DISK_COMMANDS = (
    ("check",),
    ("ready", "--backlog-only"),
    ("context", "T001"),
    ("mark", "T001", "completed"),
    ("stats",),
)
#: Every command that reads the backlog as the default branch has it.
COMMIT_COMMANDS = (("status",), ("ready",), ("run", "--dry-run"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository whose main branch holds the three-task example backlog."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copyfile(GOOD, project / "BACKLOG.yaml")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "x")
    return project


def snapshot(top: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every path under `top` (outside .git): its mode and, for a regular file, its bytes;
    for a symlink, its target. FIFOs and devices are never opened."""
    seen: dict[str, tuple[int, bytes | str | None]] = {}
    for current, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in [*dirs, *names]:
            path = Path(current, name)
            mode = path.lstat().st_mode
            content: bytes | str | None = None
            if stat.S_ISREG(mode):
                content = path.read_bytes()
            elif stat.S_ISLNK(mode):
                content = os.readlink(path)
            seen[str(path.relative_to(top))] = (mode, content)
    return seen


# --- what the backlog path can be -----------------------------------------------------------


def _fifo(backlog: Path) -> None:
    os.mkfifo(backlog)


def _fifo_through_a_symlink(backlog: Path) -> None:
    os.mkfifo(backlog.parent / "plan.fifo")
    backlog.symlink_to("plan.fifo")


def _symlink_to(target: str) -> Callable[[Path], None]:
    def make(backlog: Path) -> None:
        backlog.symlink_to(target)

    return make


def _symlink_out_of_the_repository(backlog: Path) -> None:
    outside = backlog.parent.parent / "elsewhere"
    outside.mkdir()
    shutil.copyfile(GOOD, outside / "BACKLOG.yaml")  # a valid backlog: refused for where it is
    backlog.symlink_to(outside / "BACKLOG.yaml")


def _symlink_loop(backlog: Path) -> None:
    (backlog.parent / "other.yaml").symlink_to("BACKLOG.yaml")
    backlog.symlink_to("other.yaml")


def _directory(backlog: Path) -> None:
    backlog.mkdir()


def _over_the_limit(backlog: Path) -> None:
    shutil.copyfile(GOOD, backlog)
    (backlog.parent / ".macoder.yaml").write_text("max_file_bytes: 100\n")


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (_fifo, "is a named pipe (FIFO), not a regular file"),
    "fifo-via-symlink": (_fifo_through_a_symlink, "which is a named pipe (FIFO)"),
    "dev-zero-via-symlink": (_symlink_to("/dev/zero"), "/dev/zero, which is a character device"),
    "dev-urandom-via-symlink": (
        _symlink_to("/dev/urandom"),
        "/dev/urandom, which is a character device",
    ),
    "symlink-out-of-the-repository": (
        _symlink_out_of_the_repository,
        "elsewhere/BACKLOG.yaml, outside the repository at ",
    ),
    "symlink-loop": (_symlink_loop, "is a symlink loop"),
    "dangling-symlink": (_symlink_to("gone.yaml"), "is a symlink to gone.yaml, which does not"),
    "directory": (_directory, "is a directory, not a regular file"),
    "over-the-limit": (_over_the_limit, "over the limit of 100 bytes (setting max_file_bytes)"),
}


@pytest.fixture(params=sorted(HOSTILE))
def hostile(request: pytest.FixtureRequest, project: Path) -> tuple[Path, str]:
    """The project with its working copy's BACKLOG.yaml replaced by one hostile kind."""
    make, reason = HOSTILE[request.param]
    (project / "BACKLOG.yaml").unlink()
    make(project / "BACKLOG.yaml")
    return project, reason


@pytest.mark.timeout(20)
@pytest.mark.parametrize("command", DISK_COMMANDS, ids=" ".join)
def test_a_backlog_that_is_no_regular_file_is_refused_naming_it_and_why(
    hostile: tuple[Path, str], command: tuple[str, ...]
) -> None:
    project, reason = hostile
    before = snapshot(project.parent)

    run = macoder(*command, cwd=project)

    assert run.code == 2, run.output
    assert run.stderr.startswith("macoder: error: BACKLOG.yaml: "), run.output
    assert reason in run.stderr, run.output
    assert snapshot(project.parent) == before


def over_the_limit(project: Path) -> str:
    """A limit the committed backlog exceeds; the problem it is refused with."""
    (project / ".macoder.yaml").write_text("max_file_bytes: 100\n")
    size = (project / "BACKLOG.yaml").stat().st_size
    return f"is {size:,} bytes, over the limit of 100 bytes (setting max_file_bytes)"


def committed_as_a_symlink(project: Path) -> str:
    """The backlog committed as a link to another file; the problem it is refused with."""
    (project / "plans").mkdir()
    (project / "BACKLOG.yaml").rename(project / "plans" / "tasks.yaml")
    (project / "BACKLOG.yaml").symlink_to("plans/tasks.yaml")
    git(project, "add", "-A")
    git(project, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "link")
    return "is a symbolic link; commit the backlog itself, as a regular file"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("command", COMMIT_COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    "commit_it", [over_the_limit, committed_as_a_symlink], ids=lambda f: f.__name__
)
def test_a_hostile_committed_backlog_is_refused_before_it_is_read(
    project: Path, command: tuple[str, ...], commit_it: Callable[[Path], str]
) -> None:
    """Over the limit: refused before it is inflated. A symlink: refused as one, not read as
    the name of its target."""
    problem = commit_it(project)
    sha = git(project, "rev-parse", "HEAD")

    run = macoder(*command, cwd=project)

    assert run.code == 2, run.output
    assert f"macoder: error: BACKLOG.yaml in commit {sha[:10]}: {problem}" in run.stderr


@pytest.mark.timeout(20)
@pytest.mark.parametrize("command", [*DISK_COMMANDS, *COMMIT_COMMANDS], ids=" ".join)
def test_the_same_backlog_under_the_default_limit_is_read(
    project: Path, command: tuple[str, ...]
) -> None:
    """The other side of the limit tests: nothing but the setting refuses that file."""
    run = macoder(*command, cwd=project)

    assert run.code == 0, run.output


# --- writes respect the file ----------------------------------------------------------------


@pytest.fixture
def read_only(request: pytest.FixtureRequest, project: Path) -> Iterator[tuple[Path, str]]:
    """The backlog (or its directory) without any write bit; restored for the clean-up."""
    target = project / "BACKLOG.yaml" if request.param == "file" else project
    mode = target.stat().st_mode
    target.chmod(stat.S_IMODE(mode) & ~0o222)
    try:
        yield project, request.param
    finally:
        target.chmod(mode)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("read_only", ["file", "directory"], indirect=True)
def test_mark_refuses_a_read_only_backlog_or_directory_and_changes_nothing(
    read_only: tuple[Path, str],
) -> None:
    """As root too: the mode bits decide, not `os.access` (which says yes to root)."""
    project, which = read_only
    before = snapshot(project)

    run = macoder("mark", "T001", "completed", cwd=project)

    assert run.code == 2, run.output
    said = "the file is read-only" if which == "file" else f"its directory {project} is read-only"
    assert f"macoder: error: BACKLOG.yaml: not written: {said}" in run.stderr
    assert snapshot(project) == before  # byte-identical, same mode, no temp file left


@pytest.mark.timeout(20)
@pytest.mark.parametrize("read_only", ["file"], indirect=True)
def test_mark_to_the_status_a_read_only_backlog_already_has_is_fine(
    read_only: tuple[Path, str],
) -> None:
    project, _ = read_only

    run = macoder("mark", "T001", "pending", cwd=project)

    assert run.code == 0, run.output
    assert run.stdout == "T001: already pending\n"


# --- byte order marks -----------------------------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("command", [("check",), ("mark", "T001", "completed")], ids=" ".join)
def test_a_double_bom_is_refused_alike_by_check_and_by_mark(
    project: Path, command: tuple[str, ...]
) -> None:
    backlog = project / "BACKLOG.yaml"
    backlog.write_bytes(b"\xef\xbb\xbf" * 2 + GOOD.read_bytes())
    before = snapshot(project)

    run = macoder(*command, cwd=project)

    assert run.code == 1, run.output
    assert (
        "BACKLOG.yaml:1:1: the file starts with 2 byte order marks (U+FEFF); keep one at most "
        "[encoding]"
    ) in run.output
    assert snapshot(project) == before


@pytest.mark.timeout(20)
def test_mark_keeps_the_one_bom_the_backlog_has(project: Path) -> None:
    backlog = project / "BACKLOG.yaml"
    backlog.write_bytes(b"\xef\xbb\xbf" + GOOD.read_bytes())

    assert macoder("check", cwd=project).code == 0
    run = macoder("mark", "T001", "completed", cwd=project)

    assert run.code == 0, run.output
    after = backlog.read_bytes()
    assert after.startswith(b"\xef\xbb\xbf")
    assert not after.startswith(b"\xef\xbb\xbf" * 2)
    assert after[3:] == GOOD.read_bytes().replace(b"status: pending", b"status: completed", 1), (
        "one status changed, the rest as it was"
    )
