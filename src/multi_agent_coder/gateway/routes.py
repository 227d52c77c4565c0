"""Where the sandboxed agent's model requests go: one route per provider. Pure.

Inside the sandbox there is no network; OpenCode reaches its model through the run's gateway
(the only way out), at `http://127.0.0.1:<port>/<provider id>/...`. Out of the user's provider
block (opencode.json, used as written otherwise) this computes:

- the routes: provider id -> the upstream base URL it stands for (the provider's own
  `options.baseURL`, or the known endpoint of a built-in provider);
- the provider block OpenCode gets, each used provider's `baseURL` pointing at the gateway.

The gateway forwards to these upstreams and to nothing else.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from multi_agent_coder.errors import ConfigError

#: The endpoints of OpenCode's built-in providers (their SDKs' defaults), by provider id.
KNOWN_UPSTREAMS: Final[Mapping[str, str]] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "google": "https://generativelanguage.googleapis.com/v1beta",
    "openrouter": "https://openrouter.ai/api/v1",
    "groq": "https://api.groq.com/openai/v1",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "xai": "https://api.x.ai/v1",
}


@dataclass(frozen=True, slots=True)
class Routes:
    """Provider id -> upstream base URL (no trailing slash)."""

    upstreams: Mapping[str, str]

    def target(self, path: str) -> str | None:
        """The upstream URL for a request path `/<provider>/<rest>?query`, or None when the
        path names no route (the gateway then refuses it)."""
        route, _, rest = path.lstrip("/").partition("/")
        base = self.upstreams.get(route)
        if base is None:
            return None
        return f"{base}/{rest}" if rest else base


def routes_for(provider: Mapping[str, Any], used: Iterable[str]) -> Routes:
    """The routes for the providers the run's models use (`used`: provider ids)."""
    upstreams: dict[str, str] = {}
    for provider_id in sorted(set(used)):
        entry = provider.get(provider_id)
        options = entry.get("options") if isinstance(entry, Mapping) else None
        base = options.get("baseURL") if isinstance(options, Mapping) else None
        if base is None:
            base = KNOWN_UPSTREAMS.get(provider_id)
        if not isinstance(base, str) or urlsplit(base).scheme not in ("http", "https"):
            raise ConfigError(
                f"opencode_config: provider {provider_id!r} has no usable options.baseURL and is "
                "not a provider macoder knows the endpoint of; set options.baseURL (http or https)"
            )
        upstreams[provider_id] = base.rstrip("/")
    return Routes(upstreams)


def through_gateway(provider: Mapping[str, Any], routes: Routes, gateway: str) -> dict[str, Any]:
    """The provider block with every routed provider's `baseURL` at `gateway/<provider id>`."""
    rewritten: dict[str, Any] = copy.deepcopy(dict(provider))
    for provider_id in routes.upstreams:
        entry = rewritten.setdefault(provider_id, {})
        if not isinstance(entry, dict):
            raise ConfigError(f"opencode_config: provider {provider_id!r} must be a JSON object")
        options = entry.setdefault("options", {})
        if not isinstance(options, dict):
            raise ConfigError(
                f"opencode_config: provider {provider_id!r}: options must be a JSON object"
            )
        options["baseURL"] = f"{gateway.rstrip('/')}/{provider_id}"
    return rewritten
