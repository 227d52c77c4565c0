"""What the model gateway adds to one model request on loopback: the same streamed chat answer
fetched straight from the upstream and through the sandbox's egress bridge and the gateway,
alternating, in the same process.

The path measured is the agent's own: a TCP connection to the egress port (what OpenCode
inside the sandbox opens), the bridge's splice onto the gateway's Unix socket, the gateway
(route, attribution, caps, key headers, usage counted chunk by chunk) and its keep-alive
connection to the upstream. Overhead = p50(through the gateway) - p50(direct). Target: at
most 5 ms.

Run with `scripts/bench.sh` (or `pytest tests/bench/test_bench_gateway.py --benchmark-only`).
"""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.bench.conftest import Timing

REQUESTS_PER_ROUND = 50
ROUNDS = 8
TARGET_P50_OVERHEAD_S = 0.005
SYSTEM = "You are opencode.\n<env>\n  Working directory: /repo/.macoder/worktrees/T001\n</env>"
BODY = json.dumps(
    {
        "model": "coder",
        "stream": True,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "x" * 8000},
        ],
    }
).encode()


def _events() -> bytes:
    """A short streamed answer as OpenAI-compatible servers send it, usage last."""
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": word}}]} for word in ("Done", ".", " ")
    ]
    chunks.append({"choices": [], "usage": {"prompt_tokens": 2000, "completion_tokens": 3}})
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + (
        b"data: [DONE]\n\n"
    )


EVENTS = _events()


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # As a provider's server does: no Nagle delay between the headers and the body (it
        # would put ~40 ms into every request on both sides and hide what is measured).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(EVENTS)))
        self.end_headers()
        self.wfile.write(EVENTS)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _p50(client: httpx.Client, url: str, samples: list[float]) -> None:
    for _ in range(REQUESTS_PER_ROUND):
        started = time.perf_counter()
        with client.stream("POST", url, content=BODY) as response:
            assert response.status_code == 200
            for _chunk in response.iter_raw():
                pass
        samples.append(time.perf_counter() - started)


def test_gateway_overhead_per_request(benchmark: Any, results: Any, tmp_path: Path) -> None:
    from multi_agent_coder.gateway.routes import Route, Routes
    from multi_agent_coder.gateway.server import Gateway
    from multi_agent_coder.sandbox import inside

    benchmark.group = "gateway"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream = f"http://127.0.0.1:{server.server_address[1]}/v1"
    routes = Routes({"local": Route(upstream, "openai", {"Authorization": "Bearer sk-bench"})})
    egress_port = _free_port()
    samples: dict[str, list[float]] = {"direct": [], "gateway": []}
    with Gateway(routes, tmp_path / "gw.sock") as gateway:
        inside.egress(egress_port, str(gateway.socket_path))
        with httpx.Client() as client:
            urls = {
                "direct": f"{upstream}/chat/completions",
                "gateway": f"http://127.0.0.1:{egress_port}/local/chat/completions",
            }
            turn = [0]

            def one_round() -> None:
                order = ["direct", "gateway"] if turn[0] % 2 else ["gateway", "direct"]
                turn[0] += 1
                for name in order:
                    _p50(client, urls[name], samples[name])

            one_round()  # warm-up: connections, the gateway's pool, imports
            samples = {"direct": [], "gateway": []}
            benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=0)
        counted = gateway.tally("/repo/.macoder/worktrees/T001").usage
    server.shutdown()
    server.server_close()

    assert counted.input == 2000 * (ROUNDS + 1) * REQUESTS_PER_ROUND  # every request counted
    direct = Timing(min(samples["direct"]), statistics.median(samples["direct"]), ROUNDS)
    through = Timing(min(samples["gateway"]), statistics.median(samples["gateway"]), ROUNDS)
    results.timings["model request, direct to the upstream (p50)"] = direct
    results.timings["model request, egress bridge + gateway (p50)"] = through
    overhead = through.median - direct.median
    verdict = results.ratio(
        benchmark, "gateway overhead per request, p50 (s)", overhead, TARGET_P50_OVERHEAD_S
    )
    assert verdict.ok, f"the gateway adds {overhead * 1000:.2f} ms per request (p50)"
