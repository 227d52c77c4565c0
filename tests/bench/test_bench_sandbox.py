"""What the sandbox costs: start and teardown of the agent's server in bubblewrap, against the
same server unconfined, as a share of one scripted task run — all in the same run.

A round starts and stops `opencode serve` twice, once plain and once in the sandbox (with its
socket bridges and the run's gateway), in alternating order; separately, a scripted task run is
a plain server started, one three-step session (write a file, run bash, answer) run to idle,
and the server stopped. The ratio is (sandboxed start+stop - plain start+stop) / task run, by
medians. Target: at most 5 %.

Run with `scripts/bench.sh` (or `pytest tests/bench/test_bench_sandbox.py --benchmark-only`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testing import scripted_model as sm
from tests.bench.conftest import Timing

ROUNDS = 6
TASK_RUNS = 4
TARGET_SANDBOX_SHARE = 0.05

SCENARIO = sm.Scenario(
    [
        sm.write("{worktree}/hello.txt", "hello\n"),
        sm.bash("cat hello.txt > copy.txt", "Copy it"),
        sm.text("Done."),
    ]
)


def _timing(samples: list[float]) -> Timing:
    return Timing(min(samples), statistics.median(samples), len(samples))


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(
            ["git", "-c", "user.name=b", "-c", "user.email=b@x", *args],
            cwd=path,
            env=env,
            check=True,
        )
    return path


def test_sandbox_start_and_teardown_share_of_a_task_run(
    benchmark: Any, results: Any, binary: Path, model: sm.ScriptedModel, tmp_path: Path
) -> None:
    from multi_agent_coder.agents.opencode.agent import OpenCodeAgent
    from multi_agent_coder.agents.opencode.server import (
        Confinement,
        OpenCodeServer,
        random_password,
    )
    from multi_agent_coder.gateway.routes import routes_for, through_gateway
    from multi_agent_coder.gateway.server import Gateway
    from multi_agent_coder.sandbox import jail_for, socket_directory

    benchmark.group = "sandbox"
    model.set_scenario("T001", SCENARIO)
    repo = _repo(tmp_path / "repo")
    worktree = repo
    jail = jail_for(enabled=True, extra_read=(), repo_root=repo, git_dir=repo / ".git")

    def plain() -> float:
        server = OpenCodeServer(
            provider=model.provider_config(), binary=binary, password=random_password()
        )
        started = time.perf_counter()
        server.start()
        server.stop()
        return time.perf_counter() - started

    def boxed() -> float:
        started = time.perf_counter()
        with socket_directory() as sockets:
            routes = routes_for(model.provider_config(), [sm.PROVIDER_ID])
            with Gateway(routes, sockets / "gateway.sock") as gateway:
                provider = through_gateway(model.provider_config(), routes, "http://127.0.0.1:4097")
                confinement = Confinement(
                    jail,
                    sockets,
                    writable=(worktree,),
                    readable=(binary.parents[1],),
                    egress=((4097, gateway.socket_path),),
                    environ=dict(os.environ),
                )
                server = OpenCodeServer(
                    provider=provider,
                    binary=binary,
                    password=random_password(),
                    confinement=confinement,
                )
                server.start()
                server.stop()
        return time.perf_counter() - started

    def task_run() -> float:
        started = time.perf_counter()
        server = OpenCodeServer(
            provider=model.provider_config(), binary=binary, password=random_password()
        )
        with server, server.client() as client:
            result = OpenCodeAgent(server, client).run(
                prompt="# Task T001: copy hello", worktree=worktree, model=sm.MODEL_REF,
                timeout_s=120, title="T001",
            )  # fmt: skip
            assert result.ok, result.reason
        return time.perf_counter() - started

    times: dict[str, list[float]] = {"plain": [], "boxed": []}
    sides: dict[str, Callable[[], float]] = {"plain": plain, "boxed": boxed}
    turn = [0]

    def one_round() -> None:
        order = ["plain", "boxed"] if turn[0] % 2 else ["boxed", "plain"]
        turn[0] += 1
        for name in order:
            times[name].append(sides[name]())

    one_round()  # warm-up: page cache, the plugin seed, the first sandbox
    times = {"plain": [], "boxed": []}
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    runs = [task_run() for _ in range(TASK_RUNS)]
    plain_t, boxed_t, run_t = _timing(times["plain"]), _timing(times["boxed"]), _timing(runs)
    results.timings["opencode serve start+stop: plain"] = plain_t
    results.timings["opencode serve start+stop: sandboxed (bwrap, bridges, gateway)"] = boxed_t
    results.timings["scripted task run (server start, 3-step session, stop)"] = run_t
    verdict = results.ratio(
        benchmark,
        "sandbox start+teardown / task run (medians)",
        max(0.0, boxed_t.median - plain_t.median) / run_t.median,
        TARGET_SANDBOX_SHARE,
    )
    assert verdict.ok, (
        f"the sandbox adds {boxed_t.median - plain_t.median:.2f} s to a "
        f"{run_t.median:.2f} s task run ({verdict.value:.1%}; target {verdict.target})"
    )
