"""Harness of the run benchmarks: a fresh target repository, a scripted "model" with a known
delay per turn, and `Orchestrator.run()` instrumented from the outside (no change to `src/`).

What the instrumentation sees, all with `time.monotonic()`:

- the orchestrator's health check (`Orchestrator._health`, wrapped on the instance);
- the agent runtime (`opencode_agent`, wrapped): `opencode serve` start until healthy, the task
  phase (server ready until the last task has returned) and the server's stop;
- each task as a whole (`run_task`, wrapped where the orchestrator calls it: from the worker
  thread picking it up to the return, so `for_this_thread`, the ledger's attempt record and the
  lease release after `TaskOutcome.duration_s` stops are included), its phases (`on_phase`), and
  its verification's test run (`run_checks`, wrapped where `run/task.py` calls it);
- the CPU time of this process (the orchestrator, its threads and the scripted model's threads)
  and of its reaped children (`opencode serve` with the commands it ran, git, the tests), and the
  machine-wide busy fraction from /proc/stat.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testing import scripted_model as sm

ROOT = Path(__file__).resolve().parents[2]

#: The target's test suite: tiny on purpose (its time is reported, not counted as overhead).
TEST_FILE = """import unittest

import calc


class TestCalc(unittest.TestCase):
    def test_the_package_imports(self) -> None:
        self.assertTrue(calc.__doc__)
"""


def scenario(delay_s: float) -> sm.Scenario:
    """Three model turns, each answered after `delay_s`: write a file, run bash, answer.
    The tools are real (OpenCode writes and runs them in the task's worktree) and cheap."""
    return sm.Scenario(
        [
            sm.write("{worktree}/done.txt", "done\n", delay_s=delay_s),
            sm.bash("cat done.txt", "Show the file", delay_s=delay_s),
            sm.text("Wrote done.txt.", delay_s=delay_s),
        ]
    )


def _git(cwd: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def _backlog(n_tasks: int) -> str:
    lines = [
        'version: "1.0"',
        "track_id: bench-run",
        "created_at: 2026-11-25T09:00:00Z",
        "updated_at: 2026-11-25T09:00:00Z",
        "tasks:",
    ]
    for i in range(1, n_tasks + 1):
        lines += [
            f"  - id: T{i:03d}",
            f"    title: Write the marker file number {i}",
            f"    description: Create done.txt for task {i} at the repository root.",
            "    status: pending",
            "    depends_on: []",
            "    acceptance:",
            "      - done.txt exists",
            "    attempts: 0",
            "    scope:",
            "      files_hint: [done.txt]",
            "      estimated_hours: 0.5",
        ]
    return "\n".join(lines) + "\n"


def make_target(path: Path, n_tasks: int) -> Path:
    """A git repository with a tiny package, a one-test unittest suite, `n_tasks` independent
    pending tasks and a `.macoder.yaml` naming the scripted model."""
    files = {
        ".gitignore": ".macoder/\n__pycache__/\n",
        "calc/__init__.py": '"""A tiny package for the run benchmarks."""\n',
        "test_calc.py": TEST_FILE,
        "BACKLOG.yaml": _backlog(n_tasks),
        ".macoder.yaml": "\n".join(
            [
                "models:",
                *(f"  {kind}: {sm.MODEL_REF}" for kind in ("implementation", "documentation")),
                "checks:",
                f"  test: [{sys.executable}, -B, -m, unittest, discover, -q]",
                "task_timeout: 120",
                "",
            ]
        ),
    }
    path.mkdir(parents=True)
    for name, content in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(content, encoding="utf-8")
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.name", "Bench Owner")
    _git(path, "config", "user.email", "owner@example.com")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "initial")
    return path


# --- measurement --------------------------------------------------------------------------


@dataclass
class TaskMeasure:
    task_id: str
    status: str = ""
    reason: str = ""
    start: float = 0.0
    end: float = 0.0
    duration_s: float = 0.0  # TaskOutcome.duration_s
    agent_s: float = 0.0  # TaskOutcome.agent_s: session create .. delete verified
    tests_s: float = 0.0  # the verification's test run
    phases: list[tuple[str, float]] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        """The whole task as its worker thread runs it."""
        return self.end - self.start

    @property
    def overhead_s(self) -> float:
        """Everything macoder does for the task that is neither the agent nor the tests."""
        return self.wall_s - self.agent_s - self.tests_s

    @property
    def outcome_overhead_s(self) -> float:
        """The same from `TaskOutcome` alone (misses the ledger record and the release)."""
        return self.duration_s - self.agent_s - self.tests_s

    def phase_times(self) -> dict[str, float]:
        """Seconds spent in each phase, from `on_phase` (the last phase ends at `end`)."""
        out: dict[str, float] = {}
        marks = [*self.phases, ("<end>", self.end)]
        for (name, at), (_next, until) in itertools.pairwise(marks):
            out[name] = out.get(name, 0.0) + (until - at)
        return out


@dataclass
class CpuSample:
    wall: float
    self_s: float
    children_s: float
    busy: int  # /proc/stat jiffies, all CPUs
    total: int

    @classmethod
    def now(cls) -> CpuSample:
        times = os.times()
        busy = total = 0
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
            ticks = [int(x) for x in fields]
            total = sum(ticks[:8])
            busy = total - ticks[3] - ticks[4]  # minus idle and iowait
        except (OSError, ValueError, IndexError):
            pass
        return cls(
            time.monotonic(),
            times.user + times.system,
            times.children_user + times.children_system,
            busy,
            total,
        )


@dataclass(frozen=True)
class CpuUse:
    wall_s: float
    self_s: float
    children_s: float
    machine_busy: float  # fraction of all CPUs, whole machine (other work included)

    @classmethod
    def between(cls, a: CpuSample, b: CpuSample) -> CpuUse:
        total = b.total - a.total
        return cls(
            b.wall - a.wall,
            b.self_s - a.self_s,
            b.children_s - a.children_s,
            (b.busy - a.busy) / total if total else float("nan"),
        )

    @property
    def cores(self) -> float:
        """CPU seconds of this process tree per wall second."""
        return (self.self_s + self.children_s) / self.wall_s if self.wall_s else float("nan")


@dataclass
class RunMeasure:
    workers: int
    run_s: float = 0.0  # Orchestrator.run(), everything
    health_s: float = 0.0
    server_start_s: float = 0.0
    server_stop_s: float = 0.0
    task_phase_s: float = 0.0  # server ready .. last task returned
    tasks: dict[str, TaskMeasure] = field(default_factory=dict)
    cpu: CpuUse | None = None
    report: Any = None
    model_delay_s: float = 0.0  # scripted delay per agent run (turns x delay)
    opencode_cpu_s: float | None = None  # `opencode serve`'s CPU during the task phase
    plugin_packages: int | None = None  # what OpenCode installed into its fresh config dir

    @property
    def per_run_s(self) -> float:
        """What the run pays once, whatever its number of tasks."""
        return self.run_s - self.task_phase_s


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks: dict[str, TaskMeasure] = {}

    def task(self, task_id: str) -> TaskMeasure:
        with self.lock:
            return self.tasks.setdefault(task_id, TaskMeasure(task_id))

    def on_phase(self, task_id: str, phase: Any) -> None:
        at = time.monotonic()
        if task_id != "*":
            self.task(task_id).phases.append((str(phase.value), at))


@contextmanager
def _patched(
    monkeypatch: pytest.MonkeyPatch, recorder: _Recorder, measure: RunMeasure
) -> Iterator[Callable[..., Any]]:
    """Wrap `run_task` and `run_checks` where the engine calls them; yield the agent factory."""
    import multi_agent_coder.run.orchestrator as orchestrator_module
    import multi_agent_coder.run.verify as verify_module
    from multi_agent_coder.agents.opencode.runtime import opencode_agent

    real_run_task = vars(orchestrator_module)["run_task"]
    real_run_checks = vars(verify_module)["run_checks"]

    def run_task(task: Any, env: Any, **kwargs: Any) -> Any:
        mine = recorder.task(task.id)
        mine.start = time.monotonic()
        try:
            outcome = real_run_task(task, env, **kwargs)
        finally:
            mine.end = time.monotonic()
        mine.status, mine.reason = outcome.status, outcome.reason
        mine.duration_s, mine.agent_s = outcome.duration_s, outcome.agent_s
        return outcome

    def run_checks(root: Path, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return real_run_checks(root, *args, **kwargs)
        finally:
            recorder.task(Path(root).name).tests_s += time.monotonic() - started

    @contextmanager
    def agent_factory(settings: Any, repo: Any, cancel: threading.Event) -> Iterator[Any]:
        started = time.monotonic()
        ready = stopping = 0.0
        try:
            with opencode_agent(settings, repo, cancel) as agent:
                ready = time.monotonic()
                measure.server_start_s = ready - started
                # Diagnostics only, through private attributes: absent, they are just not shown.
                server = getattr(agent, "_server", None)
                pid = getattr(getattr(server, "_proc", None), "pid", None)
                cpu_at_ready = _process_cpu(pid)
                try:
                    yield agent
                finally:
                    stopping = time.monotonic()
                    measure.task_phase_s = stopping - ready
                    cpu_at_end = _process_cpu(pid)
                    if cpu_at_ready is not None and cpu_at_end is not None:
                        measure.opencode_cpu_s = cpu_at_end - cpu_at_ready
                    measure.plugin_packages = _installed_packages(getattr(server, "home", None))
        finally:
            if stopping:
                measure.server_stop_s = time.monotonic() - stopping

    with monkeypatch.context() as patch:
        patch.setattr(orchestrator_module, "run_task", run_task)
        patch.setattr(verify_module, "run_checks", run_checks)
        yield agent_factory


def _process_cpu(pid: int | None) -> float | None:
    """User + system seconds of process `pid` and of its children it has reaped."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    ticks = stat[stat.rfind(")") + 2 :].split()[11:15]  # utime stime cutime cstime
    return sum(int(t) for t in ticks) / os.sysconf("SC_CLK_TCK")


def _installed_packages(home: Path | None) -> int | None:
    """Packages OpenCode put into `<its HOME>/config/opencode/node_modules` (it installs
    `@opencode-ai/plugin` there, in the background, when that directory has none)."""
    if home is None:
        return None
    modules = Path(home) / "config" / "opencode" / "node_modules"
    if not modules.is_dir():
        return 0
    return sum(
        len(list(p.iterdir())) if p.name.startswith("@") and p.is_dir() else 1
        for p in modules.iterdir()
        if not p.name.startswith(".")
    )


def measure_run(
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    *,
    binary: Path,
    opencode_config: Path,
    workers: int,
    model_delay_s: float,
) -> RunMeasure:
    """One instrumented `Orchestrator.run()` on `root` (LocalForge, the real OpenCode)."""
    from multi_agent_coder.config import load_settings
    from multi_agent_coder.run.orchestrator import Orchestrator, RunOptions
    from multi_agent_coder.run.session import open_local

    settings = load_settings(root, env={}).model_copy(
        update={
            "workers": workers,
            "opencode_bin": str(binary),
            "opencode_config": str(opencode_config),
        }
    )
    measure = RunMeasure(workers=workers, model_delay_s=model_delay_s)
    recorder = _Recorder()
    with _patched(monkeypatch, recorder, measure) as factory:
        session = open_local(root, settings, agent_factory=factory)
        orchestrator = Orchestrator(session, on_phase=recorder.on_phase)
        real_health = orchestrator._health

        def health(sha: str) -> Any:
            started = time.monotonic()
            try:
                return real_health(sha)
            finally:
                measure.health_s = time.monotonic() - started

        orchestrator._health = health  # type: ignore[method-assign]
        before = CpuSample.now()
        report = orchestrator.run(RunOptions())
        after = CpuSample.now()
    measure.run_s = after.wall - before.wall
    measure.cpu = CpuUse.between(before, after)
    measure.tasks = recorder.tasks
    measure.report = report
    bad = [(o.task_id, o.status, o.reason) for o in report.outcomes if o.status != "succeeded"]
    assert not bad, f"every task must succeed for the timing to mean anything: {bad}"
    assert len(report.outcomes) == len(measure.tasks) > 0
    return measure
