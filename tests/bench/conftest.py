"""Fixtures of the benchmarks: generated backlogs (once per session), the JSON Schema file, and
a results store whose ratios are printed at the end of the run (past pytest's output capture).

Every test here uses the `benchmark` fixture, so the default run (`--benchmark-skip` in the
project's pytest options) skips them all before any fixture runs; `--benchmark-only` runs them.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.bench import generate

SIZES: tuple[int, ...] = generate.SIZES
size_id: Callable[[int], str] = generate.size_id


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MACODER_")}


@pytest.fixture(scope="session")
def clean_env() -> dict[str, str]:
    """The environment minus `MACODER_*`, so a developer's overrides do not skew a run."""
    return _clean_env()


# --- results and ratios -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    min: float
    median: float
    rounds: int


@dataclass(frozen=True, slots=True)
class Ratio:
    name: str
    value: float
    target: str
    ok: bool


@dataclass(slots=True)
class Results:
    timings: dict[str, Timing] = field(default_factory=dict)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def record(self, key: str, benchmark: Any) -> Timing | None:
        """Keep what `benchmark` just measured under `key` (None when benchmarks are disabled)."""
        stats = getattr(getattr(benchmark, "stats", None), "stats", None)
        if stats is None:
            return None
        timing = Timing(stats.min, stats.median, stats.rounds)
        self.timings[key] = timing
        benchmark.extra_info["min_ms"] = round(timing.min * 1000, 2)
        return timing

    def ratio(
        self,
        benchmark: Any,
        name: str,
        value: float,
        limit: float | None = None,
        *,
        below: bool = False,
    ) -> Ratio:
        """Record `value` against `limit` (<=, or < with `below`; None: reported only) and put
        it in the benchmark's JSON `extra_info`."""
        if limit is None:
            ratio = Ratio(name, value, "(info)", ok=True)
        else:
            ok = value < limit if below else value <= limit
            ratio = Ratio(name, value, f"{'<' if below else '<='} {limit:g}", ok)
        self.ratios.append(ratio)
        benchmark.extra_info[name] = round(value, 4)
        return ratio


_RESULTS = pytest.StashKey[Results]()


@pytest.fixture(scope="session")
def results(pytestconfig: pytest.Config) -> Results:
    return pytestconfig.stash.setdefault(_RESULTS, Results())


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    del exitstatus
    res = config.stash.get(_RESULTS, None)
    if res is None or not (res.timings or res.ratios):
        return
    tr = terminalreporter
    tr.section("macoder benchmark summary (min of N rounds, same run, same machine)")
    tr.write_line(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
        f"{platform.machine()} {os.cpu_count()} CPUs; {platform.platform(terse=True)}"
    )
    tr.write_line(f"{'measurement':<56} {'min ms':>10} {'median ms':>10} {'rounds':>7}")
    for key, t in res.timings.items():
        tr.write_line(f"{key:<56} {_ms(t.min):>10} {_ms(t.median):>10} {t.rounds:>7}")
    if res.ratios:
        tr.write_line("")
        for r in res.ratios:
            verdict = "" if r.target == "(info)" else "ok" if r.ok else "MISSED"
            tr.write_line(f"{r.name:<56} {r.value:>10.3f}   target {r.target:<8} {verdict}")
    for note in res.notes:
        tr.write_line(note)


# --- inputs -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def backlogs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """`{size: path}` of the generated backlogs, each in its own directory (no config files
    around it, so settings are the defaults), written once per session and checked clean."""
    from multi_agent_coder.backlog.load import load_file

    paths: dict[int, Path] = {}
    for size in SIZES:
        directory = tmp_path_factory.mktemp(f"backlog-{size_id(size)}")
        path = generate.write(directory / "BACKLOG.yaml", size)
        result = load_file(path, path.name, _checks_for(path))
        rendered = [p.render() for p in result.problems[:5]]
        assert result.problems == [], f"generated {size}-task backlog is not clean: {rendered}"
        assert result.backlog is not None
        assert len(result.backlog.tasks) == size
        paths[size] = path
    return paths


def _checks_for(path: Path) -> Any:
    """Every check `macoder -C <dir> check <path>` runs (rules + hygiene, settings of <dir>)."""
    from multi_agent_coder.cli.common import all_checks
    from multi_agent_coder.cli.main import build_parser

    return all_checks(build_parser().parse_args(["-C", str(path.parent), "check", str(path)]))


@pytest.fixture(scope="session")
def checks_for() -> Callable[[Path], Any]:
    return _checks_for


@pytest.fixture(scope="session")
def schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output of `macoder schema`, as the committed schema file would hold it."""
    out = subprocess.run(
        [sys.executable, "-m", "multi_agent_coder", "schema"],
        capture_output=True,
        text=True,
        check=True,
        env=_clean_env(),
    ).stdout
    path = tmp_path_factory.mktemp("schema") / "backlog.schema.json"
    path.write_text(out, encoding="utf-8")
    return path
