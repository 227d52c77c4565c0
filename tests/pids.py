"""Pids for tests about processes that are gone."""

from __future__ import annotations

from pathlib import Path


def unused_pid() -> int:
    """A pid no process can hold: one above the kernel's pid_max.

    The pid of a process that has just exited is no safe stand-in for "gone": on a busy
    machine with a small pid space (32768 here) the kernel may hand it out again at once.
    """
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
