"""The GitHub workflow `macoder init --github` writes: this repository's own, made a user's.

`.github/workflows/macoder.yml` is the workflow the action's tests run (under act, against the
fake GitHub) and zizmor audits; the package carries a copy of it (`templates/`, kept identical
by a test), so what a user gets is exactly what was tested. Making it theirs changes three
things and nothing else: every `uses: ./` becomes the action pinned to a full commit SHA (a
tag can be moved; a SHA cannot), the push trigger names their default branch, and the paths
that trigger it name their backlog. Each change finds its anchor or fails loudly, so an edit
of the workflow that a rendering would silently miss breaks the tests instead.

Pure: the template's text in, the user's text out.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Final

from multi_agent_coder.errors import UsageError
from multi_agent_coder.ids import GITHUB_SLUG_PATTERN

#: Where the workflow goes in a repository.
WORKFLOW_FILE: Final = ".github/workflows/macoder.yml"

#: `owner/repo` or `owner/repo/path`, at a full commit SHA (40 or 64 hex digits).
ACTION_REF: Final = re.compile(
    GITHUB_SLUG_PATTERN + r"(?:/[A-Za-z0-9._-]+)*@(?:[0-9a-f]{40}|[0-9a-f]{64})",
    re.ASCII,
)

#: The comment that explains `uses: ./` in this repository's copy; a user's copy has no `./`.
_SELF_NOTE: Final = (
    "        # `./` runs the action of the checked-out default branch (push, schedule, "
    "dispatch:\n        # never a fork's code); `$/` is not understood by act, which runs "
    "this file in tests.\n"
)
_SELF_USES: Final = re.compile(r"uses: \./ # zizmor: ignore\[self-repository\][^\n]*")
_HEADER: Final = re.compile(r"# To use it in your repository:.*?\n#\n", re.S)
_BRANCHES: Final = "    branches: [main]\n"
_BACKLOG_PATH: Final = "      - BACKLOG.yaml\n"


def template() -> str:
    """The workflow as this repository runs it (`uses: ./`)."""
    return (
        resources.files("multi_agent_coder.templates")
        .joinpath("macoder-workflow.yml")
        .read_text(encoding="utf-8")
    )


def check_action_ref(action: str) -> str:
    """`action` if it is `owner/repo@<full commit sha>`, else a usage error saying why."""
    if ACTION_REF.fullmatch(action) is None:
        raise UsageError(
            f"--action {action!r}: give the action as OWNER/REPO@<full commit sha> (40 hex"
            " digits, e.g. from `git ls-remote https://github.com/OWNER/REPO main`): a tag or"
            " branch can be moved to other code, a commit cannot"
        )
    return action


def render(action: str, branch: str, backlog: str, text: str | None = None) -> str:
    """The workflow for a repository whose default branch is `branch` and whose backlog is
    `backlog`, running the action `action` (checked by `check_action_ref`)."""
    source = template() if text is None else text
    out = _replace_once(source, _HEADER, _header(action), "the header's how-to-use paragraph")
    out = _replace_exact(out, _SELF_NOTE, "", "the note on `uses: ./`")
    out, count = _SELF_USES.subn(f"uses: {check_action_ref(action)}", out)
    if count == 0:
        raise ValueError("the workflow template has no `uses: ./` to pin")
    out = _replace_exact(out, _BRANCHES, f"    branches: [{_flow(branch)}]\n", "the push branches")
    return _replace_exact(out, _BACKLOG_PATH, f"      - {_flow(backlog)}\n", "the backlog path")


def _header(action: str) -> str:
    repository = action.split("@", 1)[0].split("/")
    return (
        "# Written by `macoder init --github`. The action is pinned to a commit of\n"
        f"# {'/'.join(repository[:2])}; to move to a newer one, put its full sha in each `uses:`\n"
        f"# line (`git ls-remote https://github.com/{'/'.join(repository[:2])} main` shows it).\n"
        "#\n"
    )


def _flow(value: str) -> str:
    """A branch name or path as a YAML scalar: plain when that is safe, else double-quoted."""
    if re.fullmatch(r"[A-Za-z0-9_./-]+", value) and not value.startswith(("-", ".", "/")):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _replace_exact(text: str, old: str, new: str, what: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"the workflow template's {what} is not where rendering expects it")
    return text.replace(old, new)


def _replace_once(text: str, pattern: re.Pattern[str], new: str, what: str) -> str:
    out, count = pattern.subn(lambda _: new, text, count=1)
    if count != 1:
        raise ValueError(f"the workflow template's {what} is not where rendering expects it")
    return out
