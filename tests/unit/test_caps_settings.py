"""The caps and prices a user sets become the gateway's caps and prices."""

from __future__ import annotations

import pytest

from multi_agent_coder.agents.opencode.runtime import caps_of, prices_of, used_providers
from multi_agent_coder.config import Settings
from multi_agent_coder.errors import ConfigError
from multi_agent_coder.gateway.sansio import Caps, Price

MODELS = {"implementation": "anthropic/claude-sonnet-4-5", "documentation": "local/qwen"}


def test_token_caps_pass_through_and_no_cap_means_none() -> None:
    settings = Settings(models=MODELS, max_tokens_per_task=1000, max_tokens_per_run=5000)
    assert caps_of(settings) == Caps(tokens_per_task=1000, tokens_per_run=5000)
    assert caps_of(Settings(models=MODELS)) == Caps()


def test_a_cost_cap_needs_a_price_for_every_model() -> None:
    with pytest.raises(
        ConfigError, match="need a price for every model: set prices for local/qwen"
    ):
        caps_of(
            Settings(
                models=MODELS,
                max_cost_per_run=5.0,
                prices={"anthropic/claude-sonnet-4-5": {"input": 3, "output": 15}},
            )
        )


def test_prices_default_cached_input_to_the_input_price() -> None:
    settings = Settings(
        models=MODELS,
        prices={
            "anthropic/claude-sonnet-4-5": {"input": 3, "output": 15, "cached": 0.3},
            "local/qwen": {"input": 0, "output": 0},
        },
        max_cost_per_task=1.0,
    )
    assert caps_of(settings).cost_per_task == 1.0
    assert prices_of(settings) == {
        "anthropic/claude-sonnet-4-5": Price(3.0, 15.0, 0.3),
        "local/qwen": Price(0.0, 0.0, 0.0),
    }
    assert used_providers(settings) == {"anthropic", "local"}
