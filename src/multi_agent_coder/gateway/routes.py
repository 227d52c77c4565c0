"""Where the sandboxed agent's model requests go, and with which credential. Pure.

Inside the sandbox there is no network; OpenCode reaches its model through the run's gateway
(the only way out), at `http://127.0.0.1:<port>/<provider id>/...`. Out of the user's provider
block (opencode.json, used as written otherwise) and macoder's own environment this computes:

- the routes: provider id -> the upstream base URL it stands for (the provider's own
  `options.baseURL`, or the known endpoint of a built-in provider), the API family it speaks,
  and the headers the gateway adds — the real key (from `options.apiKey`, `{env:NAME}`
  resolved here, or the built-in provider's key variable) and `options.headers`;
- the provider block OpenCode gets: each routed provider's `baseURL` at the gateway, its key a
  placeholder, its headers gone. No key and no `{env:...}` of a routed provider is left in it,
  so no secret has to reach the sandbox's environment at all.

The gateway forwards to these upstreams and to nothing else.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from multi_agent_coder.errors import ConfigError
from multi_agent_coder.gateway.sansio import (
    PLACEHOLDER_KEY,
    Family,
    credential_headers,
    family_of,
)

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

#: API-key variables of OpenCode's built-in providers, by provider id.
BUILTIN_PROVIDER_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google": ("GOOGLE_GENERATIVE_AI_API_KEY", "GEMINI_API_KEY"),
    "openrouter": ("OPENROUTER_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "xai": ("XAI_API_KEY",),
}

_ENV_REF: Final = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Route:
    """One provider behind the gateway."""

    upstream: str
    family: Family = "openai"
    #: Headers the gateway adds (the real credential among them); never seen by the sandbox.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The variables the provider's key or headers name (`{env:NAME}`, or the provider's
    #: usual key variables when the config names none) that are not set: the first thing
    #: a person checks when the provider refuses.
    unset: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Routes:
    """Provider id -> its route."""

    routes: Mapping[str, Route]

    @property
    def upstreams(self) -> dict[str, str]:
        return {name: route.upstream for name, route in self.routes.items()}

    def match(self, path: str) -> tuple[str, Route, str] | None:
        """(provider id, route, upstream URL) for a request path `/<provider>/<rest>?query`,
        or None when the path names no route (the gateway then refuses it)."""
        name, _, rest = path.lstrip("/").partition("/")
        route = self.routes.get(name)
        if route is None:
            return None
        return name, route, f"{route.upstream}/{rest}" if rest else route.upstream

    def target(self, path: str) -> str | None:
        found = self.match(path)
        return found[2] if found is not None else None


def _resolve(value: Any, environ: Mapping[str, str]) -> str | None:
    """A config string with every `{env:NAME}` replaced from `environ` (None: not a string)."""
    if not isinstance(value, str):
        return None
    return _ENV_REF.sub(lambda m: environ.get(m.group(1), ""), value)


def _unset(
    options: Mapping[str, Any], builtin: Iterable[str], env: Mapping[str, str]
) -> tuple[str, ...]:
    """The key variables the provider's options name but `env` lacks (see `Route.unset`)."""
    values = [options.get("apiKey"), *(options.get("headers") or {}).values()]
    named = [m.group(1) for v in values if isinstance(v, str) for m in _ENV_REF.finditer(v)]
    if options.get("apiKey") is None:
        builtin = tuple(builtin)
        if builtin and not any(env.get(name) for name in builtin):
            named += builtin
    return tuple(dict.fromkeys(name for name in named if not env.get(name)))


def routes_for(
    provider: Mapping[str, Any], used: Iterable[str], environ: Mapping[str, str] | None = None
) -> Routes:
    """The routes for the providers the run's models use (`used`: provider ids)."""
    env = environ or {}
    routes: dict[str, Route] = {}
    for provider_id in sorted(set(used)):
        entry = provider.get(provider_id)
        options = entry.get("options") if isinstance(entry, Mapping) else None
        options = options if isinstance(options, Mapping) else {}
        base = _resolve(options.get("baseURL"), env) or KNOWN_UPSTREAMS.get(provider_id)
        if not isinstance(base, str) or urlsplit(base).scheme not in ("http", "https"):
            raise ConfigError(
                f"opencode_config: provider {provider_id!r} has no usable options.baseURL and is "
                "not a provider macoder knows the endpoint of; set options.baseURL (http or https)"
            )
        family = family_of(provider_id, entry if isinstance(entry, Mapping) else None)
        key = _resolve(options.get("apiKey"), env)
        if key is None:
            names = BUILTIN_PROVIDER_KEYS.get(provider_id, ())
            key = next((env[name] for name in names if env.get(name)), None)
        headers = {
            str(name): resolved
            for name, value in (options.get("headers") or {}).items()
            if (resolved := _resolve(value, env)) is not None
        }
        headers.update(credential_headers(family, key))
        unset = _unset(options, BUILTIN_PROVIDER_KEYS.get(provider_id, ()), env)
        routes[provider_id] = Route(base.rstrip("/"), family, headers, unset)
    return Routes(routes)


def through_gateway(provider: Mapping[str, Any], routes: Routes, gateway: str) -> dict[str, Any]:
    """The provider block the sandboxed OpenCode gets: every routed provider's `baseURL` at
    `gateway/<provider id>`, its key a placeholder, its extra headers removed."""
    rewritten: dict[str, Any] = copy.deepcopy(dict(provider))
    for provider_id in routes.routes:
        entry = rewritten.setdefault(provider_id, {})
        if not isinstance(entry, dict):
            raise ConfigError(f"opencode_config: provider {provider_id!r} must be a JSON object")
        options = entry.setdefault("options", {})
        if not isinstance(options, dict):
            raise ConfigError(
                f"opencode_config: provider {provider_id!r}: options must be a JSON object"
            )
        options["baseURL"] = f"{gateway.rstrip('/')}/{provider_id}"
        options["apiKey"] = PLACEHOLDER_KEY
        options.pop("headers", None)
        entry.pop("env", None)  # the variables it names are the gateway's to read
    return rewritten
