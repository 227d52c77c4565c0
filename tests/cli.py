"""Running `macoder` the way the tests do: in-process through `main(argv)`, or as a process.

In-process is the default (check-jsonschema's way): the same parser, commands and exit codes
as the console script, without a Python start-up per case. A handful of tests run the real
entry points as processes (`as_process`), to prove that what is installed is the same program.
Either way the command sees no `MACODER_*` variable of the developer running the tests, runs
in `cwd`, and a traceback or an internal error (exit 3) fails the test at once.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from multi_agent_coder.cli.main import main


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MACODER_")}


@contextlib.contextmanager
def _inside(cwd: Path) -> Iterator[None]:
    """Run in `cwd` with no MACODER_* variables; both restored afterwards (`-C` moves the
    process, so the directory is restored whatever the command did)."""
    before = os.getcwd()
    saved = {k: v for k, v in os.environ.items() if k.startswith("MACODER_")}
    for name in saved:
        del os.environ[name]
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(before)
        os.environ.update(saved)


def macoder(*args: str, cwd: Path) -> Run:
    """`macoder *args` in `cwd`, in this process."""
    out, err = io.StringIO(), io.StringIO()
    with _inside(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    run = Run(code, out.getvalue(), err.getvalue())
    assert "Traceback" not in run.output, run.output
    assert run.code != 3, f"internal error: {run.output}"
    return run


def as_process(*args: str, cwd: Path, program: list[str] | None = None) -> Run:
    """`macoder *args` as its own process (`python -m multi_agent_coder` unless `program`)."""
    done = subprocess.run(
        [*(program or [sys.executable, "-m", "multi_agent_coder"]), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    run = Run(done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in run.output, run.output
    assert run.code != 3, f"internal error: {run.output}"
    return run
