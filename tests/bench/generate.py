"""A deterministic generator of large, valid, seed-format backlogs for the benchmarks.

Same `(count, seed)` -> byte-identical YAML, on every machine and Python version (only
`random.Random` with an explicit seed, no hash ordering, no clock). The output looks like
`examples/backlogs/good/BACKLOG.yaml` scaled up: block style, flow lists for `depends_on` and
`files_hint`, folded descriptions, quoted context patterns. Every task passes every check
`macoder check` runs (schema, graph rules, context hygiene) with zero problems, warnings
included:

- ids `T00001`, `T00002`, ... in file order; each task depends on about five earlier tasks
  (3-7, some close by, some far back), so the graph is a DAG with ~5 edges per task;
- the first ~22 % of tasks are `completed` and everything after them is not, so a completed
  task's dependencies are always completed; the rest are mostly `pending`, with a few `ready`,
  `in_progress`, `review` and `failed`;
- free text is plausible prose that never looks like a task id (no `ABC-123` words), holds no
  planning-debris phrase, and stays inside every budget of the context compressor.

Run it by hand: `python tests/bench/generate.py 10000 /tmp/BACKLOG.yaml`.
"""

from __future__ import annotations

import json
import random
import re
import sys
import textwrap
from pathlib import Path
from typing import Final

#: Sizes the benchmarks use.
SIZES: Final = (1_000, 10_000)
SEED: Final = 20261125


def size_id(size: int) -> str:
    """`1k`, `10k`, ... for test ids and report rows."""
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


_COMPONENTS: Final = (
    "storage layer", "billing service", "search index", "session cache", "audit log",
    "import pipeline", "export job", "notification queue", "user profile module",
    "report builder", "rate limiter", "config loader", "plugin registry", "task scheduler",
    "webhook dispatcher", "metrics collector", "permission checker", "file uploader",
    "invoice renderer", "inventory tracker", "address validator", "currency converter",
    "feature flag store", "health endpoint", "migration runner", "retry helper",
)  # fmt: skip
_MODULES: Final = (
    "storage", "billing", "search", "sessions", "audit", "importer", "exporter", "notify",
    "profiles", "reports", "ratelimit", "config", "plugins", "scheduler", "webhooks",
    "metrics", "permissions", "uploads", "invoices", "inventory", "addresses", "currency",
    "flags", "health", "migrations", "retry",
)  # fmt: skip
_PACKAGES: Final = ("app", "core", "api", "worker", "shared")
_VERBS: Final = (
    "Add", "Support", "Handle", "Cache", "Validate", "Stream", "Paginate", "Log", "Retry",
    "Batch", "Expose", "Document", "Harden", "Simplify", "Measure",
)  # fmt: skip
_OBJECTS: Final = (
    "empty input", "large payloads", "concurrent writes", "expired tokens", "partial failures",
    "unicode names", "slow upstream calls", "duplicate requests", "missing fields",
    "timezone offsets", "deleted records", "oversized files", "stale entries", "retries",
    "cancelled jobs", "malformed headers", "negative amounts", "long lists",
)  # fmt: skip
_SENTENCES: Final = (
    "The {component} must handle {obj} without losing data or blocking other callers.",
    "Today a request with {obj} fails with an unhelpful message; it should return a clear "
    "error that names the offending field.",
    "Keep the public interface of the {component} unchanged so existing callers keep working.",
    "Write the new code path next to the existing one and switch over once the tests pass.",
    "Reuse the helpers in the shared package instead of adding another copy of the logic.",
    "Behaviour for {obj} is currently undefined and differs between the two code paths.",
    "The change should be small enough to review in one sitting and must not need a "
    "database migration.",
    "Log one structured line per rejected item with its position, so operators can find it.",
    "When {obj} show up, the {component} should degrade gracefully rather than crash.",
    "Measure the time spent in the {component} before and after, and keep it within budget.",
    "Users reported that {obj} make the {component} slow; profile it and fix the hot spot.",
    "Follow the naming used elsewhere in the module and keep functions short and pure.",
)
_ACCEPTANCE: Final = (
    "a unit test covers {obj}",
    "the {component} returns a clear error for {obj}",
    "existing tests still pass without changes",
    "the new behaviour is described in the module docstring",
    "no new runtime dependency is added",
    "a regression test reproduces the reported bug and now passes",
    "the happy path takes no longer than before",
    "errors name the field and the value that caused them",
)
_CONSTRAINTS: Final = (
    "Standard library only",
    "Keep the public function signatures unchanged",
    "No network access in tests",
    "Do not change the on-disk format",
    "Keep memory use flat for long inputs",
    "Use the existing logger, not print",
)
_WHY: Final = (
    "how errors are reported",
    "the retry loop to copy",
    "how inputs are validated",
    "the test fixture layout",
    "where settings are read",
    "the pagination helper",
)
_GOTCHAS: Final = (
    "Timestamps are stored in UTC; convert only at the edges",
    "The cache is shared between workers, so keys must be namespaced",
    "Some callers pass bytes instead of text",
    "The legacy endpoint still relies on the old field order",
    "Empty lists and missing lists mean different things here",
)

_PLAIN: Final = re.compile(r"[A-Za-z][A-Za-z0-9 ,.()/_'-]*[A-Za-z0-9.)]")
_RESERVED: Final = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n"})


def task_id(number: int) -> str:
    return f"T{number:05d}"


def _scalar(text: str) -> str:
    """A plain scalar when unambiguous, else a JSON string (valid YAML double-quoted)."""
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)


def _flow(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def _description(rng: random.Random, component: str) -> str:
    """Two to five sentences, 200-400 characters."""
    while True:
        parts: list[str] = []
        for template in rng.sample(_SENTENCES, 5):
            parts.append(template.format(component=component, obj=rng.choice(_OBJECTS)))
            text = " ".join(parts)
            if len(text) >= 200:
                break
        if 200 <= len(text) <= 400:
            return text


def _files(rng: random.Random, module: str) -> list[str]:
    package = rng.choice(_PACKAGES)
    files = [f"src/{package}/{module}.py", f"tests/test_{module}.py"]
    others = [f"src/{package}/{rng.choice(_MODULES)}_helpers.py", f"docs/{module}.md"]
    return (files + others)[: rng.randint(1, 4)]


def _dependencies(rng: random.Random, number: int) -> list[str]:
    """About five distinct earlier tasks: some from the last fifty, some from anywhere."""
    earlier = number - 1
    if earlier == 0:
        return []
    want = min(earlier, rng.randint(3, 7))
    chosen: set[int] = set()
    while len(chosen) < want:
        if rng.random() < 0.6:
            chosen.add(rng.randint(max(1, number - 50), earlier))
        else:
            chosen.add(rng.randint(1, earlier))
    return [task_id(n) for n in sorted(chosen)]


def _status(rng: random.Random, number: int, completed_upto: int) -> tuple[str, int]:
    """(status, attempts). Tasks up to `completed_upto` are completed, no later one is."""
    if number <= completed_upto:
        return "completed", rng.choice((1, 1, 1, 2))
    roll = rng.random()
    if roll < 0.03:
        return "in_progress", 1
    if roll < 0.05:
        return "review", 1
    if roll < 0.07:
        return "failed", 3
    if roll < 0.10:
        return "ready", 0
    return "pending", rng.choice((0, 0, 0, 0, 0, 1, 2))


def _task(rng: random.Random, number: int, completed_upto: int) -> list[str]:
    index = rng.randrange(len(_COMPONENTS))
    component, module = _COMPONENTS[index], _MODULES[index]
    obj = rng.choice(_OBJECTS)
    title = f"{rng.choice(_VERBS)} {obj} in the {component}"
    status, attempts = _status(rng, number, completed_upto)
    acceptance = [
        template.format(component=component, obj=rng.choice(_OBJECTS))
        for template in rng.sample(_ACCEPTANCE, rng.randint(2, 4))
    ]
    files = _files(rng, module)
    hours = rng.choice(("0.5", "1", "1.5", "2", "3", "4", "6", "8"))
    lines = [
        f"  - id: {task_id(number)}",
        f"    title: {_scalar(title)}",
        "    description: >-",
        *("      " + line for line in textwrap.wrap(_description(rng, component), 76)),
        f"    status: {status}",
        f"    depends_on: {_flow(_dependencies(rng, number))}",
        "    acceptance:",
        *(f"      - {_scalar(item)}" for item in acceptance),
        f"    attempts: {attempts}",
        "    scope:",
        f"      files_hint: {_flow(files)}",
        f"      estimated_hours: {hours}",
    ]
    if rng.random() < 0.6:
        lines.append("    context:")
        if rng.random() < 0.7:
            lines.append("      constraints:")
            lines += (
                f"        - {_scalar(c)}" for c in rng.sample(_CONSTRAINTS, rng.randint(1, 3))
            )
        if rng.random() < 0.7:
            lines.append("      patterns:")
            for why in rng.sample(_WHY, rng.randint(1, 3)):
                start = rng.randint(1, 300)
                where = rng.choice([files[0], f"src/app/{rng.choice(_MODULES)}.py"])
                pattern = f"{where}:{start}-{start + rng.randint(5, 60)} - {why}"
                lines.append(f"        - {json.dumps(pattern)}")
        if rng.random() < 0.4 or lines[-1] == "    context:":
            lines.append("      gotchas:")
            lines += (f"        - {_scalar(g)}" for g in rng.sample(_GOTCHAS, rng.randint(1, 2)))
    return lines


def generate(count: int, seed: int = SEED) -> str:
    """The YAML text of a valid backlog with `count` tasks."""
    if not 1 <= count <= 99_999:
        raise ValueError("count must be between 1 and 99,999 (ids are T00001..T99999)")
    rng = random.Random(seed * 100_003 + count)
    completed_upto = count * 22 // 100
    out = [
        f"# Generated by tests/bench/generate.py: {count} tasks, seed {seed}. Do not edit.",
        'version: "1.0"',
        f"track_id: bench-{count}",
        "created_at: 2026-01-05T09:00:00Z",
        "updated_at: 2026-11-20T17:30:00Z",
        "",
        "tasks:",
    ]
    for number in range(1, count + 1):
        out += _task(rng, number, completed_upto)
        out.append("")
    return "\n".join(out)


def write(path: Path, count: int, seed: int = SEED) -> Path:
    path.write_text(generate(count, seed), encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: generate.py COUNT OUT.yaml", file=sys.stderr)
        return 2
    write(Path(argv[1]), int(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
