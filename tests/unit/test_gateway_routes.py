"""Where the sandboxed agent's model requests may go: one route per used provider. Pure."""

from __future__ import annotations

import pytest

from multi_agent_coder.errors import ConfigError
from multi_agent_coder.gateway.routes import KNOWN_UPSTREAMS, routes_for, through_gateway

CUSTOM = {
    "local": {
        "npm": "@ai-sdk/openai-compatible",
        "options": {"baseURL": "http://127.0.0.1:8080/v1/"},
    }
}


def test_a_custom_provider_routes_to_its_base_url_and_a_builtin_to_its_endpoint() -> None:
    routes = routes_for(CUSTOM, ["local", "anthropic"])
    assert routes.upstreams == {
        "anthropic": KNOWN_UPSTREAMS["anthropic"],
        "local": "http://127.0.0.1:8080/v1",
    }
    assert (
        routes.target("/local/chat/completions?x=1")
        == "http://127.0.0.1:8080/v1/chat/completions?x=1"
    )
    assert routes.target("/anthropic/messages") == "https://api.anthropic.com/v1/messages"


def test_anything_else_has_no_route() -> None:
    routes = routes_for(CUSTOM, ["local"])
    assert routes.target("/openai/chat/completions") is None
    assert routes.target("/") is None
    assert routes.target("http://evil.example/x") is None


def test_only_the_providers_in_use_are_routed() -> None:
    assert set(
        routes_for({**CUSTOM, "other": {"options": {"baseURL": "http://x"}}}, ["local"]).upstreams
    ) == {"local"}


@pytest.mark.parametrize(
    "provider",
    [{"mine": {}}, {"mine": {"options": {"baseURL": "file:///etc/passwd"}}}, {"mine": "x"}],
)
def test_a_provider_without_a_usable_endpoint_is_a_config_error(
    provider: dict[str, object],
) -> None:
    with pytest.raises(ConfigError, match=r"provider 'mine' has no usable options\.baseURL"):
        routes_for(provider, ["mine"])


def test_the_agents_config_points_every_route_at_the_gateway_and_keeps_the_rest() -> None:
    routes = routes_for(CUSTOM, ["local", "openai"])
    rewritten = through_gateway(CUSTOM, routes, "http://127.0.0.1:4097/")
    assert rewritten["local"]["options"]["baseURL"] == "http://127.0.0.1:4097/local"
    assert rewritten["local"]["npm"] == "@ai-sdk/openai-compatible"
    assert rewritten["openai"] == {"options": {"baseURL": "http://127.0.0.1:4097/openai"}}
    assert CUSTOM["local"]["options"]["baseURL"] == "http://127.0.0.1:8080/v1/"  # not mutated
