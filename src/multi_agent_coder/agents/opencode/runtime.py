"""The agent runtime of one `macoder run`: one `opencode serve`, one agent, stopped after.

One server per run (DESIGN §6: a long-lived server grows and stops answering); every task of
the run opens its own session on it, in its own worktree. Providers come from the user's
opencode.json (setting `opencode_config`) exactly as written there, so anything OpenCode can
talk to works: OpenAI, Anthropic, Google, or any OpenAI-compatible endpoint such as Ollama,
vLLM or our scripted test model. Secrets stay in the environment: the config refers to them as
`{env:NAME}`, and only the variables the providers need are passed to the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from multi_agent_coder.agents.opencode.agent import OpenCodeAgent
from multi_agent_coder.agents.opencode.server import (
    Confinement,
    OpenCodeServer,
    find_binary,
    random_password,
)
from multi_agent_coder.atomicfile import write_atomically
from multi_agent_coder.config import Settings, unpriced_models
from multi_agent_coder.errors import ConfigError, ProviderCheckError, UnreadableFileError
from multi_agent_coder.gateway.routes import BUILTIN_PROVIDER_KEYS, routes_for, through_gateway
from multi_agent_coder.gateway.sansio import Caps, Price
from multi_agent_coder.gateway.server import Gateway
from multi_agent_coder.git.repo import Repo
from multi_agent_coder.limits import MAX_FILE_BYTES
from multi_agent_coder.processes import command_line, kill_tree, pid_alive
from multi_agent_coder.sandbox import SOCKET_DIR_PREFIX, jail_for, socket_directory
from multi_agent_coder.userfiles import read_user_file


def read_provider_config(
    path: Path, *, max_bytes: int = MAX_FILE_BYTES, root: Path | None = None
) -> dict[str, Any]:
    """The `provider` block of an opencode.json, or a `ConfigError` naming the file. Read
    as any user file (`userfiles`): a regular file, bounded, a symlink only inside `root`."""
    try:
        raw = read_user_file(path, max_bytes=max_bytes, root=root)
        data = json.loads(raw.decode("utf-8"))
    except UnreadableFileError as exc:
        raise ConfigError(f"opencode_config: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"opencode_config: {path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}:{exc.lineno}:{exc.colno}: opencode_config: not valid JSON: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: opencode_config: the top level must be a JSON object")
    provider = data.get("provider", {})
    if not isinstance(provider, dict):
        raise ConfigError(f"{path}: opencode_config: 'provider' must be a JSON object")
    return provider


def provider_key_names(settings: Settings) -> set[str]:
    """Key variables of the built-in providers that the configured models use."""
    names: set[str] = set()
    for provider_id in used_providers(settings):
        names.update(BUILTIN_PROVIDER_KEYS.get(provider_id, ()))
    return names


#: The port inside the sandbox where the agent's model requests go (bridged to the gateway).
EGRESS_PORT: Final = 4097


@contextmanager
def opencode_agent(
    settings: Settings, repo: Repo, cancel: threading.Event
) -> Iterator[OpenCodeAgent]:
    """Start the run's OpenCode server, yield an agent on it, stop the server on every exit
    path (its whole process tree, including commands the agent left running).

    With the sandbox on (the default), the server runs in it: it writes only the run's task
    worktrees and its own home, sees nothing of the user's home or the main checkout, and
    reaches its model only through the run's gateway, which forwards to the configured
    providers and to nothing else.
    """
    provider = provider_block(settings, repo)
    jail = jail_for(
        enabled=settings.sandbox,
        extra_read=settings.sandbox_read,
        repo_root=repo.root,
        git_dir=repo.git_dir,
    )
    reap_orphans(repo.git_dir)
    with contextlib.ExitStack() as stack:
        confinement: Confinement | None = None
        gateway: Gateway | None = None
        key_names = sorted(provider_key_names(settings))
        binary = find_binary(settings.opencode_bin, project_root=repo.root)
        if jail.enabled:
            sockets = stack.enter_context(socket_directory())
            routes = routes_for(provider, used_providers(settings), os.environ)
            gateway = stack.enter_context(
                Gateway(
                    routes,
                    sockets / "gateway.sock",
                    caps=caps_of(settings),
                    prices=prices_of(settings),
                    retry=settings.retry,
                )
            )
            provider = through_gateway(provider, routes, f"http://127.0.0.1:{EGRESS_PORT}")
            key_names = []  # the keys stay with the gateway, outside the sandbox
            worktrees = repo.root / settings.worktree_dir
            worktrees.mkdir(parents=True, exist_ok=True)
            confinement = Confinement(
                jail,
                sockets,
                writable=(worktrees,),
                readable=(binary.parents[1],),  # the platform package holding the binary
                egress=((EGRESS_PORT, gateway.socket_path),),
                environ=dict(os.environ),
            )
        server = OpenCodeServer(
            provider=provider,
            binary=binary,
            project_root=repo.root,
            extra_env_names=key_names,
            # The server answers only macoder: anyone else on this machine who reaches it
            # would otherwise be able to run shell commands as the user through it.
            password=random_password(),
            confinement=confinement,
            profile=settings.agent_profile,
        )
        with server:
            record = _record_server(repo.git_dir, server)
            try:
                # A stuck session marks the agent `needs_kill`; the server is shared by every
                # task of the run, so it is killed when the run ends (stop() escalates to
                # SIGKILL), not mid-run.
                yield OpenCodeAgent(
                    server, server.client(), cancel=cancel, meter=gateway, agent=server.agent
                )
            finally:
                record.unlink(missing_ok=True)


def provider_block(settings: Settings, repo: Repo) -> dict[str, Any]:
    """The `provider` block of the configured opencode.json (empty: OpenCode's built-ins)."""
    if settings.opencode_config is None:
        return {}
    config_path = Path(settings.opencode_config)
    if not config_path.is_absolute():
        config_path = repo.root / config_path
    # One in the repository may lead by symlink only into it (a clone is anyone's); one the
    # user keeps outside it (a dotfile, often a symlink itself) leads where the user made it.
    inside = Path(os.path.abspath(config_path)).is_relative_to(repo.root)
    return read_provider_config(
        config_path,
        max_bytes=settings.max_file_bytes,
        root=repo.root if inside else Path(config_path.anchor),
    )


def preflight(settings: Settings, repo: Repo, models: Collection[str]) -> None:
    """Every model in `models` (`provider/model`) answers one minimal request through the
    upstream and credentials the gateway will use; `ProviderCheckError` naming each that
    does not (provider, URL, model, the provider's words) — before anything is leased."""
    from multi_agent_coder.gateway.probe import probe

    if not models:
        return
    provider = provider_block(settings, repo)
    routes = routes_for(provider, {ref.split("/", 1)[0] for ref in models}, os.environ)
    problems = probe(routes, models)
    if problems:
        raise ProviderCheckError(
            "the model provider check failed; nothing was started or counted:\n  "
            + "\n  ".join(problems)
            + "\nfix the provider in opencode_config (or its key variable), or the model "
            "in `models`, and run again"
        )


def caps_of(settings: Settings) -> Caps:
    """The run's caps; a cost cap needs a price for every model the run may use."""
    unpriced = unpriced_models(settings)  # load_settings refuses it; settings changed since
    if unpriced:
        raise ConfigError(f"max_cost_per_task / max_cost_per_run: {unpriced}")
    return Caps(
        tokens_per_task=settings.max_tokens_per_task,
        tokens_per_run=settings.max_tokens_per_run,
        cost_per_task=settings.max_cost_per_task,
        cost_per_run=settings.max_cost_per_run,
    )


def prices_of(settings: Settings) -> dict[str, Price]:
    return {
        ref: Price(p.input, p.output, p.input if p.cached is None else p.cached)
        for ref, p in settings.prices.items()
    }


def used_providers(settings: Settings) -> set[str]:
    """The provider ids of the configured models (the gateway routes these and no others)."""
    return {ref.split("/", 1)[0] for ref in settings.models.refs()}


# --- servers of runs that died ---------------------------------------------------------------

SERVERS_DIR = Path("macoder") / "servers"


def _record_server(git_dir: Path, server: OpenCodeServer) -> Path:
    """Note which server this process started, so a later run can stop it if we are killed
    (kill -9 skips every cleanup, and the server runs in its own session: nothing else would)."""
    folder = git_dir / SERVERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / f"{os.getpid()}.json"
    # Whole or not at all: another run reaping orphans at this moment would take a half-written
    # record for a damaged one and delete it.
    sockets = server.confinement.socket_dir if server.confinement is not None else None
    facts = {
        "macoder_pid": os.getpid(),
        "server_pid": server.pid,
        "home": str(server.home),
        "sockets": str(sockets) if sockets is not None else None,
    }
    write_atomically(record, json.dumps(facts))
    return record


def reap_orphans(git_dir: Path) -> list[int]:
    """Stop the OpenCode servers (and their commands) of macoder runs that no longer exist.

    Returns the pids killed. A record whose macoder process is alive is left alone; a server
    pid that no longer runs OpenCode (reused by the system) is never signalled.
    """
    killed: list[int] = []
    folder = git_dir / SERVERS_DIR
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(record.read_text())
            owner, server_pid = int(data["macoder_pid"]), int(data["server_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            record.unlink(missing_ok=True)
            continue
        if pid_alive(owner):
            continue
        if pid_alive(server_pid) and b"opencode" in command_line(server_pid):
            killed += kill_tree(server_pid)
        # Its home and its socket directory (a killed run removed neither), each only by the
        # name macoder gives it: a record is a file anyone with the repository can write.
        for key, prefix in (("home", "macoder-opencode-"), ("sockets", SOCKET_DIR_PREFIX)):
            left = data.get(key)
            if isinstance(left, str) and Path(left).name.startswith(prefix):
                shutil.rmtree(left, ignore_errors=True)
        record.unlink(missing_ok=True)
    return killed
