"""The agent runtime of one `macoder run`: one `opencode serve`, one agent, stopped after.

One server per run (DESIGN §6: a long-lived server grows and stops answering); every task of
the run opens its own session on it, in its own worktree. Providers come from the user's
opencode.json (setting `opencode_config`) exactly as written there, so anything OpenCode can
talk to works: OpenAI, Anthropic, Google, or any OpenAI-compatible endpoint such as Ollama,
vLLM or our scripted test model. Secrets stay in the environment: the config refers to them as
`{env:NAME}`, and only the variables the providers need are passed to the server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from multi_agent_coder.agents.opencode.agent import OpenCodeAgent
from multi_agent_coder.agents.opencode.server import OpenCodeServer
from multi_agent_coder.config import Settings
from multi_agent_coder.errors import ConfigError
from multi_agent_coder.git.repo import Repo

#: API-key variables of OpenCode's built-in providers, by provider id: passed to the server
#: only for the providers the configured models name (a custom provider declares its own).
BUILTIN_PROVIDER_KEYS: Mapping[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google": ("GOOGLE_GENERATIVE_AI_API_KEY", "GEMINI_API_KEY"),
    "openrouter": ("OPENROUTER_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "xai": ("XAI_API_KEY",),
}


def read_provider_config(path: Path) -> dict[str, Any]:
    """The `provider` block of an opencode.json, or a `ConfigError` naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"opencode_config: {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
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
    for ref in settings.models.model_dump().values():
        names.update(BUILTIN_PROVIDER_KEYS.get(str(ref).split("/", 1)[0], ()))
    return names


@contextmanager
def opencode_agent(
    settings: Settings, repo: Repo, cancel: threading.Event
) -> Iterator[OpenCodeAgent]:
    """Start the run's OpenCode server, yield an agent on it, stop the server on every exit
    path (its whole process tree, including commands the agent left running)."""
    provider: dict[str, Any] = {}
    if settings.opencode_config is not None:
        config_path = Path(settings.opencode_config)
        if not config_path.is_absolute():
            config_path = repo.root / config_path
        provider = read_provider_config(config_path)
    server = OpenCodeServer(
        provider=provider,
        binary=settings.opencode_bin,
        project_root=Path(__file__).resolve().parents[4],
        extra_env_names=sorted(provider_key_names(settings)),
    )
    with server:
        # A stuck session marks the agent `needs_kill`; the server is shared by every task of
        # the run, so it is killed when the run ends (stop() escalates to SIGKILL), not mid-run.
        yield OpenCodeAgent(server, server.client(), cancel=cancel)
