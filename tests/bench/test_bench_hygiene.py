"""Context hygiene takes time linear in a field's size, hostile text included.

For each kind of text, the check of one task whose description is that text is timed at
64 KB and at 1 MB (16 times more). Ratio = time per byte at 1 MB / time per byte at 64 KB:
linear work gives ~1, quadratic work 16. Both sizes are measured in this process, one after
the other, so the machine's load falls on both sides. (That the check finishes at all on a
megabyte of each text is a test: `tests/unit/test_linear_time.py`.)
"""

from __future__ import annotations

from typing import Any

import pytest

from multi_agent_coder.context.hygiene import check_task
from tests.support import task

SMALL = 64 << 10
BIG = 1 << 20
#: Per-byte time at BIG over per-byte time at SMALL; quadratic would be BIG / SMALL = 16.
#: Linear work measures 1-2.2 here: 64 KB of text stays in the CPU's L2 cache, 1 MB does not.
TARGET_LINEAR = 4.0

#: One unit of each text, repeated to the size measured.
TEXTS = {
    "prose": "Add the 'add' command: it appends one item and saves the list. ",
    "capitals": "A",
    "capitals and digits": "A1",
    "ids of other tasks": "see T002 and AUTH-012 ",
    "lines of spaces": "        \n",
    "file markers": "# file: x.py\n",
}


def _task(kind: str, size: int) -> Any:
    unit = TEXTS[kind]
    return task("T001", description="x" + unit * (size // len(unit)) + "x")


@pytest.mark.parametrize("size", [SMALL, BIG], ids=["64KB", "1MB"])
@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_hygiene_time_is_linear_in_field_size(
    benchmark: Any, results: Any, kind: str, size: int
) -> None:
    """Runs at 64 KB first (the baseline), then at 1 MB, which asserts the ratio."""
    ids = frozenset({"T001", "T002", "AUTH-012"})
    subject = _task(kind, size)
    assert check_task(subject, ("tasks", 0), ids)  # a megabyte always has a size finding
    benchmark.group = f"hygiene, one description: {kind}"
    benchmark.pedantic(check_task, args=(subject, ("tasks", 0), ids), rounds=5, iterations=1)
    timing = results.record(f"hygiene {kind}, {size >> 10} KB", benchmark)
    if size == SMALL or timing is None:
        return
    baseline = results.timings[f"hygiene {kind}, {SMALL >> 10} KB"]
    per_byte = (timing.min / BIG) / (baseline.min / SMALL)
    name = f"hygiene {kind}: time per byte, 1 MB / 64 KB"
    ratio = results.ratio(benchmark, name, per_byte, TARGET_LINEAR)
    assert ratio.ok, f"{kind}: {per_byte:.2f}x the time per byte at 1 MB: not linear"
