"""Running the `git` binary without inheriting someone else's repository.

When macoder runs inside a git hook (pre-commit) or from a script started by git, the
environment carries `GIT_DIR`, `GIT_INDEX_FILE`, `GIT_WORK_TREE` and friends that point at
*that* repository and index. Passed on, they make our `git worktree add` or `git update-ref`
act on the wrong repository or corrupt the user's index (pre-commit learned this the hard
way). So every git subprocess gets an environment with no `GIT_*` variable at all; a caller
that needs one (say, `GIT_SSH_COMMAND` for a push) passes it explicitly.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from multi_agent_coder.errors import GitError

GIT = "git"

#: Every git command macoder runs ignores hooks and fsmonitor: macoder runs git in trees an
#: agent wrote to and in the user's checkout, and neither may make it run a program. (Filter
#: drivers are defined in the repository's config, which the sandbox keeps read-only.)
HARDENING = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


def clean_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """`base` (default: `os.environ`) without any `GIT_*` variable, plus `extra`."""
    source = os.environ if base is None else base
    env = {key: value for key, value in source.items() if not key.startswith("GIT_")}
    env.update(extra)
    return env


def run_git(
    args: Sequence[str],
    cwd: Path,
    *,
    check: bool = True,
    input: bytes | None = None,
    timeout: float = 120,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git *args` in `cwd` with a clean environment; raise `GitError` when it fails.

    Arguments go to git as a list (never through a shell), so a path or ref with spaces or
    metacharacters stays one argument; hooks and fsmonitor never run (`HARDENING`). With
    `check=False` a non-zero exit is returned, not raised; a missing git binary or a timeout
    is raised either way. `extra_env` adds variables
    on top of the clean environment (e.g. `LC_ALL=C` where git's words are matched).
    """
    command = [GIT, *args]  # as the user would type it: what error messages quote
    try:
        result = subprocess.run(
            [GIT, *HARDENING, *args],
            cwd=cwd,
            env={**clean_env(), **(extra_env or {})},
            input=input,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError(f"cannot run git in {cwd}: {exc.strerror}", command=command) from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git did not finish within {timeout:g} s", command=command) from exc
    if check and result.returncode != 0:
        raise GitError(
            f"git exited with status {result.returncode}",
            command=command,
            stderr=result.stderr.decode("utf-8", "replace"),
            returncode=result.returncode,
        )
    return result
