"""Writing a small file whole or not at all.

One helper for every file another process may read while we write it (a hand-off's result,
a run's server record): a reader sees the old file or the new one, never half of either —
a half would be taken for a damaged file, and a job cancelled mid-write would leave one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """`text` into `path` (UTF-8) through a temporary file beside it and a rename."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
