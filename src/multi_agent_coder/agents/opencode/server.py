"""Start and stop one `opencode serve` per run, isolated from the user and from each other.

Why one server per run: a long-lived server grows to gigabytes and stops answering
(OpenCode #20695, #33213), and a session stuck "busy" after an abort can only be ended by
killing its server (#16721, #14769). Each server gets:

- its own process group and session (`start_new_session=True`), so `stop()` and `kill()` reach
  every process it started; bash commands the agent runs sit in process groups of their own
  (measured), so those are found through /proc (same session id) and signalled too;
- a port we chose (free on 127.0.0.1), and its own HOME / XDG dirs in a temp dir that `stop()`
  removes: no user config, auth file or session store is shared;
- an environment built from an allowlist (`sansio.server_environment`): the agent's commands see
  the server's environment, so no token that the provider config does not declare gets in.

Startup is awaited with short health probes: early connections to the port are accepted but
never answered (measured on 1.18.33), so a probe with a long timeout stalls for that long.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from multi_agent_coder.agents.opencode import sansio
from multi_agent_coder.agents.opencode.client import OpenCodeClient, OpenCodeError
from multi_agent_coder.errors import UsageError
from multi_agent_coder.processes import process_tree, terminate_tree
from multi_agent_coder.sandbox import Jail

INSTALL_HINT: Final = (
    "`macoder install-opencode` installs the pinned version there (or set opencode_bin to an "
    "OpenCode binary of the version in the setting opencode_version)"
)
#: Where scripts/opencode.sh installs, relative to the project root.
TOOLS_GLOB: Final = ".tools/opencode/node_modules/opencode-*/bin/opencode"
STOP_GRACE_S: Final = 5.0
HEALTH_PROBE_TIMEOUT_S: Final = 0.5
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class OpenCodeNotFoundError(UsageError):
    """No OpenCode binary where we looked; the message says where and how to install it."""


class OpenCodeStartError(OpenCodeError):
    """`opencode serve` exited or did not become healthy; the message ends with its log tail."""


def find_binary(explicit: str | Path | None = None, *, project_root: Path | None = None) -> Path:
    """The OpenCode binary: `explicit` (the `opencode_bin` setting), else the project's own
    `.tools/opencode` (what scripts/opencode.sh installs there), else `opencode` on PATH.

    Never a path derived from where macoder itself is installed: an installed wheel lives in
    site-packages, and the binary belongs to the project or the machine, not to the package.
    """
    if explicit is not None:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path.resolve()
        raise OpenCodeNotFoundError(f"OpenCode binary {path} is not an executable file")
    root = project_root if project_root is not None else Path.cwd()
    candidates = sorted(
        (p for p in root.glob(TOOLS_GLOB) if p.is_file() and os.access(p, os.X_OK)),
        # the plain platform build before -baseline / -musl variants
        key=lambda p: (len(p.parent.parent.name), p.parent.parent.name),
    )
    if candidates:
        return candidates[0].resolve()
    on_path = shutil.which("opencode")
    if on_path:
        return Path(on_path).resolve()
    raise OpenCodeNotFoundError(
        f"OpenCode not found: the setting opencode_bin (MACODER_OPENCODE_BIN) is not set, "
        f"there is no {root / TOOLS_GLOB} and no `opencode` on PATH; {INSTALL_HINT}"
    )


def seed_plugin(binary: Path, config_dir: Path) -> bool:
    """Give a fresh config directory the plugin SDK that scripts/opencode.sh installed.

    OpenCode installs `@opencode-ai/plugin` into every config directory that lacks it, from
    the npm registry, when the first session starts (measured: 27 packages, ~64 MB, ~10 CPU-s,
    and SIGTERM ignored meanwhile). Each run's server gets a fresh home, so without this every
    run would download it. Hard links make the copy cheap; returns whether it was seeded.
    """
    cache = binary.resolve().parents[3] / "plugin" / "node_modules"
    if not (cache / "@opencode-ai" / "plugin" / "package.json").is_file():
        return False
    target = config_dir / "node_modules"
    if target.exists():
        return True

    def link_or_copy(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:  # another file system: copy instead
            shutil.copy2(src, dst)
        return dst

    config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(cache, target, symlinks=True, copy_function=link_or_copy)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


#: The port `opencode serve` listens on inside a sandbox (its own network namespace).
SANDBOX_PORT: Final = 4096


@dataclass(frozen=True, slots=True)
class Confinement:
    """How a sandboxed server is started: the run's `Jail`, what else it may write (the task
    worktrees), what else it may read, where its sockets live (a short path: a Unix socket's
    name is at most 107 bytes), and its egress bridges (port inside -> socket outside)."""

    jail: Jail
    socket_dir: Path
    writable: tuple[Path, ...] = ()
    readable: tuple[Path, ...] = ()
    egress: tuple[tuple[int, Path], ...] = ()
    environ: Mapping[str, str] = field(default_factory=dict)

    def command(
        self, command: list[str], *, home: Path, socket: Path, env: Mapping[str, str]
    ) -> list[str]:
        policy = self.jail.agent_policy(
            env=env,
            writable=[home, self.socket_dir, *self.writable],
            readable=list(self.readable),
            environ=self.environ,
        )
        inner = self.jail.inside(command, serve=(socket, SANDBOX_PORT), egress=self.egress)
        return self.jail.wrap(policy, inner)


class OpenCodeServer:
    """One `opencode serve` process; use as a context manager or call `start()` / `stop()`."""

    def __init__(
        self,
        *,
        provider: Mapping[str, Any],
        permission: Mapping[str, Any] | None = None,
        model: str | None = None,
        binary: str | Path | None = None,
        project_root: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        extra_env_names: Iterable[str] = (),
        password: str | None = None,
        startup_timeout_s: float = 60.0,
        log_level: str = "WARN",
        keep_home: bool = False,
        confinement: Confinement | None = None,
        profile: sansio.AgentProfile = "opencode",
    ) -> None:
        """`confinement`: run the server (and so every command of its agents) in the OS
        sandbox; it is then reached over a Unix socket only (see `Confinement`). `profile`:
        which agent its sessions run (`agent`), macoder's lean one or OpenCode's `build`."""
        self.binary = find_binary(binary, project_root=project_root)
        self.provider = dict(provider)
        self.config_content = sansio.opencode_config_content(
            provider, permission, model=model, profile=profile
        )
        self.agent = sansio.agent_name(profile)
        self.host = host
        self._requested_port = port
        self._source_env = dict(os.environ if env is None else env)
        self._allowed_env = sansio.provider_env_names(provider) | frozenset(extra_env_names)
        self.password = password
        self.startup_timeout_s = startup_timeout_s
        self.log_level = log_level
        self.keep_home = keep_home
        self.port = 0
        self.home: Path | None = None
        self.confinement = confinement
        self.socket: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # lifecycle

    def start(self) -> Self:
        """Start the process and wait for `GET /global/health`; raises `OpenCodeStartError`."""
        if self._proc is not None:
            return self
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            try:
                self._wait_healthy(self._spawn())
                return self
            except OpenCodeStartError as exc:
                # A taken port shows as "ServeError" (measured), older builds say "in use".
                text = str(exc).lower()
                port_taken = any(m in text for m in ("serveerror", "in use", "eaddrinuse"))
                self.stop()
                if not port_taken or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the server and every process it started (the agent's commands too), wait
        `grace_s`, then SIGKILL what is left; remove its home."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate_tree(proc, grace_s)
        self._cleanup_home()

    def kill(self) -> None:
        """SIGKILL at once: for a session that stays busy after abort."""
        self.stop(grace_s=0.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # facts

    @property
    def base_url(self) -> str:
        if not self.port:
            raise OpenCodeError("the OpenCode server is not started")
        if self.socket is not None:
            return "http://opencode.sandbox"  # reached through `socket`; the name is a label
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        return self.home / "server.log" if self.home is not None else None

    def client(self, timeout_s: float = 30.0) -> OpenCodeClient:
        """A client for this server (the caller closes it)."""
        return OpenCodeClient(
            self.base_url, password=self.password, timeout_s=timeout_s, uds=self._uds
        )

    @property
    def _uds(self) -> str | None:
        return str(self.socket) if self.socket is not None else None

    def members(self) -> list[int]:
        """Pids of the server and every process it started (Linux /proc), agents' commands too."""
        return [i.pid for i in process_tree(self._proc.pid)] if self._proc is not None else []

    # internals

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.home = Path(tempfile.mkdtemp(prefix="macoder-opencode-"))
        seed_plugin(self.binary, self.home / "config" / "opencode")
        confined = self.confinement
        # In a sandbox the server has a network namespace of its own: any port is free there.
        self.port = SANDBOX_PORT if confined else self._requested_port or free_port(self.host)
        env = sansio.server_environment(
            self._source_env,
            home=str(self.home),
            config_content=self.config_content,
            allowed=self._allowed_env,
            password=self.password,
        )
        command = [
            str(self.binary),
            "serve",
            "--port",
            str(self.port),
            "--hostname",
            self.host,
            "--print-logs",
            "--log-level",
            self.log_level,
        ]
        if confined is not None:
            self.socket = confined.socket_dir / "opencode.sock"
            self.socket.unlink(missing_ok=True)
            command = confined.command(command, home=self.home, socket=self.socket, env=env)
        self._log_file = (self.home / "server.log").open("wb")
        self._proc = subprocess.Popen(
            command,
            cwd=self.home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self._proc

    def _wait_healthy(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        with OpenCodeClient(self.base_url, password=self.password, uds=self._uds) as client:
            while True:
                code = proc.poll()
                if code is not None:
                    raise OpenCodeStartError(
                        f"opencode serve exited with code {code} during startup{self._log_tail()}"
                    )
                with contextlib.suppress(OpenCodeError):
                    if client.health(timeout_s=HEALTH_PROBE_TIMEOUT_S).get("healthy"):
                        return
                if time.monotonic() > deadline:
                    raise OpenCodeStartError(
                        f"opencode serve on port {self.port} not healthy after "
                        f"{self.startup_timeout_s:g} s{self._log_tail()}"
                    )
                time.sleep(0.05)

    def _log_tail(self, lines: int = 20) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        text = _ANSI.sub("", path.read_text(errors="replace"))
        tail = [line for line in text.splitlines() if line.strip()][-lines:]
        return ("; its log ends with:\n" + "\n".join(tail)) if tail else ""

    def _cleanup_home(self) -> None:
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None
        if self.home is not None and not self.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None


def random_password() -> str:
    """A per-run `OPENCODE_SERVER_PASSWORD` (HTTP Basic, user `opencode`)."""
    return secrets.token_urlsafe(24)
