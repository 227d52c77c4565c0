"""How long a task waits for its OpenCode event stream to connect, derived from its time limit.

The event stream is subscribed, and confirmed by the server (`server.connected`), before the
prompt is sent (`client.py` says why). The server sets up its per-directory state on that first
request, and that competes for the CPU with everything else: on a 2-core machine at load 8,
one connect took 0.5-2 s and 8 at once up to 3.6 s, and a demo task failed under heavier load
at the old fixed 10 s. Such a timeout fails a task that never started, so the wait is
generous, and it scales with how long the person lets a task run:

    connect timeout = clamp(task_timeout / 10, 30 s, 120 s)

- at least 30 s: several times the slowest connect measured under load;
- a tenth of the task's time: the wait counts against the task's own hard timeout (the session
  deadline is set before it), so it may not eat more than a small share of it;
- at most 120 s: a server that has not answered in two minutes is stuck, not slow; the task
  fails then, still with most of its time unspent.

With the default `task_timeout` of 1800 s that is 120 s; 600 s gives 60 s; 300 s or less
gives 30 s. A timeout under 30 s (tests) still waits 30 s for the stream: the agent's own
deadline then ends the session right after it connects.

The other fixed waits in `agents/opencode/` do not fail a task that would otherwise succeed,
so they stay fixed: the server's startup (60 s) and its health probes (0.5 s each, repeated
until then) end the run before any lease or attempt; a stream read timeout (30 s of silence,
against a 10 s heartbeat) reconnects and re-reads the session's status; the abort grace (5 s)
and the delete verification (2 s) run only after a task has already ended, and at worst
report a session to kill or one not verified gone.
"""

from __future__ import annotations

from typing import Final

STREAM_CONNECT_SHARE: Final = 0.1
STREAM_CONNECT_MIN_S: Final = 30.0
STREAM_CONNECT_MAX_S: Final = 120.0


def stream_connect_timeout(task_timeout_s: float) -> float:
    """Seconds to wait for the event stream of a task that may run `task_timeout_s`."""
    share = task_timeout_s * STREAM_CONNECT_SHARE
    return min(max(share, STREAM_CONNECT_MIN_S), STREAM_CONNECT_MAX_S)
