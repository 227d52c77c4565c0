"""Where the sandboxed agent's model requests may go, and with which key. Pure."""

from __future__ import annotations

import pytest

from multi_agent_coder.errors import ConfigError
from multi_agent_coder.gateway.routes import KNOWN_UPSTREAMS, routes_for, through_gateway
from multi_agent_coder.gateway.sansio import PLACEHOLDER_KEY

CUSTOM = {
    "local": {
        "npm": "@ai-sdk/openai-compatible",
        "options": {
            "baseURL": "http://127.0.0.1:8080/v1/",
            "apiKey": "{env:LOCAL_KEY}",
            "headers": {"X-Org": "{env:ORG}-team"},
        },
        "env": ["LOCAL_KEY"],
    }
}
ENV = {"LOCAL_KEY": "sk-local", "ORG": "acme", "ANTHROPIC_API_KEY": "sk-ant"}


def test_a_custom_provider_routes_to_its_base_url_and_a_builtin_to_its_endpoint() -> None:
    routes = routes_for(CUSTOM, ["local", "anthropic"], ENV)
    assert routes.upstreams == {
        "anthropic": KNOWN_UPSTREAMS["anthropic"],
        "local": "http://127.0.0.1:8080/v1",
    }
    assert (
        routes.target("/local/chat/completions?x=1")
        == "http://127.0.0.1:8080/v1/chat/completions?x=1"
    )
    assert routes.target("/anthropic/messages") == "https://api.anthropic.com/v1/messages"


def test_the_real_keys_are_resolved_outside_in_each_familys_header() -> None:
    routes = routes_for(CUSTOM, ["local", "anthropic", "google"], {**ENV, "GEMINI_API_KEY": "g"})
    assert routes.routes["local"].headers == {
        "X-Org": "acme-team",
        "Authorization": "Bearer sk-local",
    }
    assert routes.routes["anthropic"].family == "anthropic"
    assert routes.routes["anthropic"].headers == {"x-api-key": "sk-ant"}
    assert routes.routes["google"].headers == {"x-goog-api-key": "g"}


def test_a_provider_without_a_key_gets_no_auth_header() -> None:
    routes = routes_for(
        {"ollama": {"options": {"baseURL": "http://127.0.0.1:11434/v1"}}}, ["ollama"]
    )
    assert routes.routes["ollama"].headers == {}


@pytest.mark.parametrize(
    ("env", "unset"),
    [
        (ENV, ()),
        ({"LOCAL_KEY": "sk-local"}, ("ORG",)),
        ({}, ("LOCAL_KEY", "ORG")),
        ({"LOCAL_KEY": ""}, ("LOCAL_KEY", "ORG")),  # set but empty is no key either
    ],
)
def test_a_route_names_the_key_variables_that_are_not_set(
    env: dict[str, str], unset: tuple[str, ...]
) -> None:
    assert routes_for(CUSTOM, ["local"], env).routes["local"].unset == unset


def test_a_builtin_provider_without_a_configured_key_names_its_usual_variable() -> None:
    assert routes_for({}, ["openai"], {}).routes["openai"].unset == ("OPENAI_API_KEY",)
    assert routes_for({}, ["openai"], {"OPENAI_API_KEY": "sk"}).routes["openai"].unset == ()
    # A local endpoint without any key in its config needs none: nothing to name.
    local = {"ollama": {"options": {"baseURL": "http://127.0.0.1:11434/v1"}}}
    assert routes_for(local, ["ollama"], {}).routes["ollama"].unset == ()


def test_anything_else_has_no_route() -> None:
    routes = routes_for(CUSTOM, ["local"], ENV)
    assert routes.target("/openai/chat/completions") is None
    assert routes.target("/") is None
    assert routes.target("http://evil.example/x") is None


def test_only_the_providers_in_use_are_routed() -> None:
    both = {**CUSTOM, "other": {"options": {"baseURL": "http://x"}}}
    assert set(routes_for(both, ["local"], ENV).upstreams) == {"local"}


@pytest.mark.parametrize(
    "provider",
    [{"mine": {}}, {"mine": {"options": {"baseURL": "file:///etc/passwd"}}}, {"mine": "x"}],
)
def test_a_provider_without_a_usable_endpoint_is_a_config_error(
    provider: dict[str, object],
) -> None:
    with pytest.raises(ConfigError, match=r"provider 'mine' has no usable options\.baseURL"):
        routes_for(provider, ["mine"])


def test_the_sandboxed_config_points_at_the_gateway_and_holds_no_secret() -> None:
    routes = routes_for(CUSTOM, ["local", "openai"], ENV)
    rewritten = through_gateway(CUSTOM, routes, "http://127.0.0.1:4097/")
    local = rewritten["local"]
    assert local["options"] == {"baseURL": "http://127.0.0.1:4097/local", "apiKey": PLACEHOLDER_KEY}
    assert "env" not in local  # no variable is asked for inside the sandbox
    assert local["npm"] == "@ai-sdk/openai-compatible"
    assert rewritten["openai"]["options"]["baseURL"] == "http://127.0.0.1:4097/openai"
    assert "sk-" not in str(rewritten)
    assert CUSTOM["local"]["options"]["apiKey"] == "{env:LOCAL_KEY}"  # not mutated
