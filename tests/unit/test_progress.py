"""What `macoder run` shows while it works and after: one line per phase, then a table."""

from __future__ import annotations

import io
import threading

from multi_agent_coder.cli.progress import Progress, outcome_table
from multi_agent_coder.forge.base import PrResult
from multi_agent_coder.run.task import Phase, TaskOutcome


def test_off_a_terminal_each_phase_is_one_plain_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream, live=False)
    with progress.showing():
        progress.on_phase("T001", Phase.LEASE)
        progress.on_phase("T001", Phase.AGENT)
        progress.on_phase("*", Phase.CLEANUP)
    first, second, last = stream.getvalue().splitlines()
    assert first.startswith("[")
    assert first.endswith("s] T001: lease")
    assert second.endswith("s] T001: agent")
    assert last == "interrupted: aborting sessions, removing worktrees, releasing leases"


def test_on_a_terminal_the_table_follows_every_task_from_any_thread() -> None:
    stream = io.StringIO()
    progress = Progress(stream, live=True)
    with progress.showing():
        workers = [
            threading.Thread(target=progress.on_phase, args=(f"T00{i}", Phase.VERIFY))
            for i in range(1, 4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        progress.on_phase("T002", Phase.DONE)
    shown = stream.getvalue()
    assert "T001" in shown
    assert "T003" in shown
    assert "done" in shown


def test_the_final_table_has_a_row_per_task_with_its_pr() -> None:
    stream = io.StringIO()
    outcomes = [
        TaskOutcome(
            "T001",
            "succeeded",
            "PR #1 created",
            Phase.DONE,
            12.5,
            10.0,
            812,
            "m/x",
            PrResult(1, "local:x#pr-1", "created", "a" * 40),
        ),
        TaskOutcome("T002", "failed", "the agent made no changes", Phase.VERIFY, 3.0),
    ]
    outcome_table(outcomes, stream)
    text = stream.getvalue()
    assert "#1 (created)" in text
    assert "812 B" in text
    assert "the agent made no changes" in text


def test_a_second_ctrl_c_in_the_middle_of_a_progress_line_does_not_hang() -> None:
    # Ctrl-C's handler calls on_phase("*") in the main thread; a second Ctrl-C runs the handler
    # again inside the first one's print, on the same thread, while it holds the lock.
    class InterruptedStream(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.again = True

        def write(self, text: str) -> int:
            if self.again:
                self.again = False
                progress.on_phase("*", Phase.CLEANUP)
            return super().write(text)

    stream = InterruptedStream()
    progress = Progress(stream, live=False)
    progress.on_phase("*", Phase.CLEANUP)
    assert stream.getvalue().count("interrupted: aborting sessions") == 2
