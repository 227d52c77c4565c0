"""`userfiles`: a file read for the user is a regular file, inside the repository, bounded.

The command-level cases (every command on a FIFO, /dev/zero, a loop, ...) are in
tests/acceptance/test_hostile_files.py; these pin the reader's own rules, and that every
reader of a user's file in the package goes through it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from multi_agent_coder import userfiles
from multi_agent_coder.errors import ConfigError, MacoderError, UnreadableFileError
from multi_agent_coder.userfiles import read_user_file, resolve_user_file


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A directory that looks like a repository's root (it holds `.git`)."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    return root


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every chunk the reader got from `os.read`."""
    sizes: list[int] = []
    real_read = os.read

    def counting(fd: int, n: int) -> bytes:
        chunk = real_read(fd, n)
        sizes.append(len(chunk))
        return chunk

    monkeypatch.setattr(userfiles.os, "read", counting)
    return sizes


def refusal(path: Path, max_bytes: int = 1000, shown: str | None = None) -> UnreadableFileError:
    with pytest.raises(UnreadableFileError) as caught:
        read_user_file(path, max_bytes=max_bytes, shown=shown)
    assert caught.value.exit_code == 2
    return caught.value


def test_a_regular_file_and_a_symlink_to_one_inside_the_repository_are_read(repo: Path) -> None:
    (repo / "plans").mkdir()
    (repo / "plans" / "todo.yaml").write_bytes(b"tasks: []\n")
    (repo / "BACKLOG.yaml").symlink_to("plans/todo.yaml")

    assert read_user_file(repo / "plans" / "todo.yaml", max_bytes=10) == b"tasks: []\n"
    assert read_user_file(repo / "BACKLOG.yaml", max_bytes=10) == b"tasks: []\n"
    assert resolve_user_file(repo / "BACKLOG.yaml") == repo / "plans" / "todo.yaml"


def test_a_file_over_the_limit_is_refused_from_its_size_without_reading_it(
    repo: Path, bytes_read: list[int]
) -> None:
    (repo / "big.yaml").write_bytes(b"x" * 11)

    error = refusal(repo / "big.yaml", max_bytes=10, shown="big.yaml")

    assert str(error) == (
        "big.yaml: is 11 bytes, over the limit of 10 bytes (setting max_file_bytes); "
        "nothing was read past it"
    )
    assert bytes_read == []
    assert read_user_file(repo / "big.yaml", max_bytes=11) == b"x" * 11


def test_a_file_whose_size_lies_is_read_no_further_than_the_limit_and_one_byte(
    bytes_read: list[int],
) -> None:
    """/proc files say they are empty and are not: the read itself is bounded."""
    maps = Path(f"/proc/{os.getpid()}/maps")
    if not maps.exists():
        pytest.skip("no /proc on this system")

    error = refusal(maps, max_bytes=100)

    assert "grew past the limit of 100 bytes" in str(error)
    assert sum(bytes_read) == 101


def test_a_file_read_in_several_chunks_comes_back_whole(tmp_path: Path) -> None:
    """The reader asks for the size `fstat` gave; a file that grew since is read on."""
    maps = Path(f"/proc/{os.getpid()}/maps")
    if not maps.exists():
        pytest.skip("no /proc on this system")
    whole = read_user_file(maps, max_bytes=10_000_000)
    assert whole.endswith(b"\n")
    assert whole.count(b"\n") > 1


def test_a_socket_is_named_as_one(repo: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(repo / "BACKLOG.yaml"))
        error = refusal(repo / "BACKLOG.yaml", shown="BACKLOG.yaml")
    assert str(error) == "BACKLOG.yaml: is a socket; macoder reads only regular files"


def test_a_missing_file_is_marked_missing_and_a_dangling_symlink_is_not(repo: Path) -> None:
    (repo / "link.yaml").symlink_to("gone.yaml")

    assert refusal(repo / "absent.yaml").missing
    dangling = refusal(repo / "link.yaml", shown="link.yaml")
    assert not dangling.missing
    assert str(dangling) == "link.yaml: is a symlink to gone.yaml, which does not exist"


def test_root_decides_how_far_a_symlink_may_lead(tmp_path: Path, repo: Path) -> None:
    (tmp_path / "shared.yaml").write_bytes(b"x")
    (repo / "BACKLOG.yaml").symlink_to(tmp_path / "shared.yaml")

    error = refusal(repo / "BACKLOG.yaml", shown="BACKLOG.yaml")

    assert str(error) == (
        f"BACKLOG.yaml: is a symlink to {tmp_path / 'shared.yaml'}, outside the repository at "
        f"{repo}; macoder follows a symlink only to a file inside the repository"
    )
    assert read_user_file(repo / "BACKLOG.yaml", max_bytes=1, root=tmp_path) == b"x"


def test_a_file_outside_the_repository_named_without_a_symlink_is_read(
    tmp_path: Path, repo: Path
) -> None:
    """The user typed that path: nothing led them there."""
    (tmp_path / "elsewhere.yaml").write_bytes(b"x")

    assert read_user_file(repo / ".." / "elsewhere.yaml", max_bytes=1) == b"x"


# --- every reader of a user's file goes through it ---------------------------------------


def _backlog(path: Path) -> object:
    from multi_agent_coder.backlog.load import load_file

    return load_file(path)


def _settings(path: Path) -> object:
    from multi_agent_coder.config import load_settings

    return load_settings(path.parent, env={})


def _opencode_config(path: Path) -> object:
    from multi_agent_coder.agents.opencode.runtime import read_provider_config

    return read_provider_config(path)


def _handoff(path: Path) -> object:
    from multi_agent_coder.forge.handoff import read_handoff

    return read_handoff(path.parent)


def _detected_checks(path: Path) -> object:
    from multi_agent_coder.run.checks import scan_repo

    facts = scan_repo(path.parent)
    assert facts.configs == {}  # a FIFO is not read: detection goes on without it
    return facts


READERS: dict[str, tuple[str, Callable[[Path], object], type[Exception] | None]] = {
    "backlog": ("BACKLOG.yaml", _backlog, UnreadableFileError),
    "settings": (".macoder.yaml", _settings, ConfigError),
    "pyproject": ("pyproject.toml", _settings, ConfigError),
    "opencode_config": ("opencode.json", _opencode_config, ConfigError),
    "hand-off result": ("result.json", _handoff, MacoderError),
    "detected checks": ("tox.ini", _detected_checks, None),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_of_a_users_file_refuses_a_fifo_instead_of_hanging(
    repo: Path, reader: str
) -> None:
    name, read, refused = READERS[reader]
    os.mkfifo(repo / name)

    if refused is None:
        read(repo / name)
        return
    with pytest.raises(refused, match=r"is a named pipe \(FIFO\), not a regular file"):
        read(repo / name)


def test_an_opencode_config_in_the_repository_may_not_lead_out_but_ones_own_dotfile_may(
    tmp_path: Path,
) -> None:
    """A clone's files are anyone's; a file the user keeps outside the repository (often a
    symlink into their dotfiles) leads where the user made it lead."""
    from multi_agent_coder.agents.opencode.runtime import provider_block
    from multi_agent_coder.config import Settings
    from multi_agent_coder.git.repo import Repo
    from tests.integration.gitrepos import make_repo

    repo = Repo.open(make_repo(tmp_path / "repo"))
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "opencode.json").write_text('{"provider": {"p": {}}}')
    (repo.root / "opencode.json").symlink_to(dotfiles / "opencode.json")
    (tmp_path / "home.json").symlink_to(dotfiles / "opencode.json")

    with pytest.raises(ConfigError, match="outside the repository"):
        provider_block(Settings(opencode_config="opencode.json"), repo)
    assert provider_block(Settings(opencode_config=str(tmp_path / "home.json")), repo) == {"p": {}}
