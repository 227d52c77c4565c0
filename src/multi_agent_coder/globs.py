"""Path patterns for `protected_paths` and `test_globs`, matched against repository paths. Pure.

The rules are gitignore's, cut to what these settings need:

- a pattern without `/` matches a file name at any depth (`conftest.py`, `test_*.py`);
- a pattern with `/` matches the whole path from the root (`.github/**`, `src/*/tests/*.py`);
  a leading `**/` is the same as no directory part at all;
- `*` and `?` never cross a `/`; `**` is any number of directories, none included.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    anchored = "/" in pattern.removeprefix("**/")
    body = pattern.removeprefix("**/") if pattern.startswith("**/") else pattern.lstrip("/")
    out = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + "".join(out))


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether the repository path `path` (POSIX, from the root) matches any of `patterns`."""
    return any(_compile(pattern).fullmatch(path) for pattern in patterns)


def matching(paths: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The `paths` that match any of `patterns`, in the order given."""
    wanted = tuple(patterns)
    return [path for path in paths if matches(path, wanted)]
