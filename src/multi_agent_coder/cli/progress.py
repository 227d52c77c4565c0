"""Live progress: one line per task (phase, elapsed) on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.table import Table

from multi_agent_coder.cli.common import cell
from multi_agent_coder.run.task import Phase, TaskOutcome
from multi_agent_coder.visible import visible


class Progress:
    """Receives `on_phase(task_id, phase)` from worker threads; safe to call concurrently."""

    def __init__(self, stream: TextIO = sys.stderr, *, live: bool | None = None) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        # Re-entrant: Ctrl-C's handler calls `on_phase` in the main thread, and a second
        # Ctrl-C can interrupt that very call while it holds the lock.
        self._lock = threading.RLock()
        self._phase: dict[str, Phase] = {}
        self._started: dict[str, float] = {}
        self._live_display: object | None = None
        self._t0 = time.monotonic()

    def on_phase(self, task_id: str, phase: Phase) -> None:
        with self._lock:
            if task_id == "*":
                self._print("interrupted: aborting sessions, removing worktrees, releasing leases")
                return
            self._started.setdefault(task_id, time.monotonic())
            self._phase[task_id] = phase
            if not self.live:
                elapsed = time.monotonic() - self._t0
                self._print(visible(f"[{elapsed:6.1f}s] {task_id}: {phase.value}"))
            self._refresh()

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _table(self) -> Table:
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("task")
        table.add_column("phase")
        table.add_column("elapsed", justify="right")
        now = time.monotonic()
        for task_id, phase in self._phase.items():
            table.add_row(cell(task_id), phase.value, f"{now - self._started[task_id]:.1f}s")
        return table

    def _refresh(self) -> None:
        live = self._live_display
        if live is not None:
            live.update(self._table())  # type: ignore[attr-defined]

    @contextmanager
    def showing(self) -> Iterator[None]:
        if not self.live:
            yield
            return
        from rich.console import Console
        from rich.live import Live

        with Live(self._table(), console=Console(file=self.stream), refresh_per_second=4) as live:
            self._live_display = live
            try:
                yield
            finally:
                self._live_display = None


def outcome_table(outcomes: Sequence[TaskOutcome], stream: TextIO = sys.stdout) -> None:
    """The final table: one row per task."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="macoder run", title_justify="left")
    for column in ("task", "result", "PR", "time", "context", "model", "reason"):
        table.add_column(column, justify="right" if column in ("time", "context") else "left")
    for o in outcomes:
        pr = f"#{o.pr.number} ({o.pr.operation})" if o.pr else "-"
        table.add_row(  # the reason quotes agent and test output
            cell(o.task_id),
            cell(o.status),
            cell(pr),
            f"{o.duration_s:.1f}s",
            f"{o.context_bytes} B",
            cell(o.model or "-"),
            cell(o.reason),
        )
    Console(file=stream, width=max(100, Console(file=stream).width)).print(table)
