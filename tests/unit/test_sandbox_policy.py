"""What a sandbox may see, write and reach, as the bubblewrap command line it becomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from multi_agent_coder.sandbox import Jail
from multi_agent_coder.sandbox.policy import Policy, bwrap_argv, exposed_again


def mounts(argv: list[str]) -> list[tuple[str, str]]:
    """(flag, target) of every mount, in order."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        flag = argv[i]
        if flag in ("--ro-bind", "--bind"):
            out.append((flag, argv[i + 2]))
            i += 3
        elif flag in ("--tmpfs", "--dev", "--proc"):
            out.append((flag, argv[i + 1]))
            i += 2
        else:
            i += 1
    return out


def test_hidden_then_readable_then_writable_shallow_first() -> None:
    policy = Policy(
        writable=(Path("/repo/.macoder/worktrees"), Path("/run-home")),
        readable=(Path("/repo/.git"), Path("/home/me/.pyenv")),
        hidden=(Path("/home/me"), Path("/repo")),
    )
    argv = bwrap_argv("bwrap", policy, ["opencode", "serve"], as_root=False)
    order = mounts(argv)
    assert order[:5] == [
        ("--ro-bind", "/"),
        ("--dev", "/dev"),
        ("--proc", "/proc"),
        ("--tmpfs", "/tmp"),
        ("--tmpfs", "/repo"),
    ]
    assert order.index(("--tmpfs", "/home/me")) < order.index(("--ro-bind", "/home/me/.pyenv"))
    assert order.index(("--tmpfs", "/repo")) < order.index(("--ro-bind", "/repo/.git"))
    assert order.index(("--ro-bind", "/repo/.git")) < order.index(
        ("--bind", "/repo/.macoder/worktrees")
    )
    assert argv[-3:] == ["--", "opencode", "serve"]


def test_no_network_no_shared_namespaces_and_it_dies_with_macoder() -> None:
    argv = bwrap_argv("bwrap", Policy(), ["true"], as_root=False)
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent"):
        assert flag in argv
    assert "--new-session" in argv
    assert "--cap-drop" not in argv  # unprivileged: bwrap holds none to drop
    assert "--unshare-net" not in bwrap_argv("bwrap", Policy(network=True), ["true"], as_root=False)


def test_as_root_every_capability_is_dropped() -> None:
    argv = bwrap_argv("bwrap", Policy(), ["true"], as_root=True)
    assert argv[argv.index("--cap-drop") + 1] == "ALL"


def test_the_environment_never_travels_in_the_command_line() -> None:
    """`ps` shows every user a command line; the environment goes to bwrap's own env."""
    policy = Policy(env={"OPENCODE_SERVER_PASSWORD": "s3cret", "PATH": "/usr/bin"})
    argv = bwrap_argv("bwrap", policy, ["true"], as_root=False)
    assert "s3cret" not in " ".join(argv)
    assert "--setenv" not in argv


def test_masked_files_are_shown_empty() -> None:
    argv = bwrap_argv("bwrap", Policy(masked=(Path("/etc/shadow"),)), ["true"], as_root=True)
    at = argv.index("/etc/shadow")
    assert argv[at - 2 : at + 1] == ["--ro-bind", "/dev/null", "/etc/shadow"]


def test_a_sandbox_needs_a_command() -> None:
    with pytest.raises(ValueError, match="needs a command"):
        bwrap_argv("bwrap", Policy(), [], as_root=False)


def test_paths_under_a_hidden_one_are_found_to_be_bound_back() -> None:
    found = exposed_again([Path("/home/me")], [Path("/home/me/.pyenv/bin"), Path("/usr/bin")])
    assert found == [Path("/home/me/.pyenv/bin")]


def test_the_jail_hides_home_checkout_and_runner_files(tmp_path: Path) -> None:
    home, repo, runner = tmp_path / "home", tmp_path / "repo", tmp_path / "runner-temp"
    for path in (home, repo, runner):
        path.mkdir()
    jail = Jail(bwrap=Path("/usr/bin/bwrap"), repo_root=repo, git_dir=repo / ".git", home=home)
    hidden = jail.hidden({"RUNNER_TEMP": str(runner), "GITHUB_WORKSPACE": str(tmp_path / "x")})
    assert {home, repo, runner} <= set(hidden)
    assert tmp_path / "x" not in hidden  # only what exists
    checks = jail.checks_policy(copy=tmp_path / "copy", scratch=tmp_path / "s", env={}, environ={})
    assert repo / ".git" in checks.hidden  # the checks see no history at all
    assert checks.writable == (tmp_path / "copy", tmp_path / "s")
    assert checks.network is False


def test_an_open_jail_leaves_the_command_alone(tmp_path: Path) -> None:
    jail = Jail(bwrap=None, repo_root=tmp_path, git_dir=tmp_path / ".git", home=tmp_path)
    assert not jail.enabled
    assert jail.wrap(Policy(), ["pytest"]) == ["pytest"]
