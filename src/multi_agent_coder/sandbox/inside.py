"""The first process inside a sandbox: socket bridges, then the command. Standard library only.

A sandbox has no network namespace in common with macoder, so the two talk over Unix sockets
in a directory bound into both (DESIGN §9):

- `--serve SOCKET:PORT` — macoder connects to SOCKET (outside) and reaches a server that
  listens on 127.0.0.1:PORT inside (OpenCode's `serve`);
- `--egress PORT:SOCKET` — a program inside connects to 127.0.0.1:PORT and reaches whatever
  macoder listens on at SOCKET outside (the model gateway): the only way out.

Then it runs the command as its child and exits with its code. When it exits — the command
ended, or it was killed — the PID namespace ends and the kernel kills every process left in
it. It runs as `python -I path/to/inside.py`, so it imports nothing but the standard library:
the sandbox may not see macoder's own dependencies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def _no_delay(sock: socket.socket) -> None:
    """Small writes (a streamed answer's events, headers then body) go out at once: with
    Nagle's algorithm on, each would wait for the last one's ACK, which loopback delays by
    ~40 ms — on every request, measured."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _splice(client: socket.socket, connect: Callable[[], socket.socket]) -> None:
    try:
        upstream = connect()
    except OSError:
        client.close()
        return
    _no_delay(client)
    _no_delay(upstream)
    threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
    threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _accept_forever(listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
    while True:
        client, _ = listener.accept()
        _splice(client, connect)


def serve(path: str, port: int) -> None:
    """Unix socket `path` -> 127.0.0.1:`port` (inside)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(128)
    threading.Thread(
        target=_accept_forever,
        args=(listener, lambda: socket.create_connection(("127.0.0.1", port))),
        daemon=True,
    ).start()


def egress(port: int, path: str) -> None:
    """127.0.0.1:`port` (inside) -> Unix socket `path` (a listener outside)."""

    def connect() -> socket.socket:
        out = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        out.connect(path)
        return out

    listener = socket.create_server(("127.0.0.1", port), backlog=128)
    threading.Thread(target=_accept_forever, args=(listener, connect), daemon=True).start()


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if "--" not in args:
        print(
            "usage: inside.py [--serve SOCK:PORT] [--egress PORT:SOCK] -- command", file=sys.stderr
        )
        return 2
    split = args.index("--")
    options, command = args[:split], args[split + 1 :]
    for flag, value in zip(options[::2], options[1::2], strict=True):
        left, _, right = value.rpartition(":") if flag == "--serve" else value.partition(":")
        if flag == "--serve":
            serve(left, int(right))
        elif flag == "--egress":
            egress(int(left), right)
        else:
            print(f"inside.py: unknown option {flag}", file=sys.stderr)
            return 2
    child = subprocess.Popen(command)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
