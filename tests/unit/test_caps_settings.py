"""The caps and prices a user sets become the gateway's caps and prices."""

from __future__ import annotations

from pathlib import Path

import pytest

from multi_agent_coder.agents.opencode.runtime import caps_of, prices_of, used_providers
from multi_agent_coder.config import Settings, load_settings
from multi_agent_coder.errors import ConfigError
from multi_agent_coder.gateway.sansio import Caps, Price

MODELS = {"implementation": "anthropic/claude-sonnet-4-5", "documentation": "local/qwen"}


def test_token_caps_pass_through_and_no_cap_means_none() -> None:
    settings = Settings(models=MODELS, max_tokens_per_task=1000, max_tokens_per_run=5000)
    assert caps_of(settings) == Caps(tokens_per_task=1000, tokens_per_run=5000)
    assert caps_of(Settings(models=MODELS)) == Caps()


def test_a_cost_cap_needs_a_price_for_every_model() -> None:
    with pytest.raises(
        ConfigError, match="needs a price for every model: set prices for local/qwen"
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


def test_a_cost_cap_without_prices_is_refused_when_the_settings_are_read(tmp_path: Path) -> None:
    # `macoder doctor` and `run --dry-run` read the settings too: they see it, not only `run`.
    (tmp_path / ".macoder.yaml").write_text(
        "models:\n  implementation: anthropic/claude-sonnet-4-5\n"
        "  documentation: local/qwen\nmax_cost_per_task: 1.0\n",
        encoding="utf-8",
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.macoder.prices."anthropic/claude-sonnet-4-5"]\ninput = 3\noutput = 15\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(tmp_path, env={})
    assert str(raised.value) == (
        ".macoder.yaml:4:1: max_cost_per_task: a cost cap needs a price for every model: set"
        " prices for local/qwen (per million tokens: input, output), or cap tokens instead"
        " (max_tokens_per_task)"
    )


def test_a_cost_cap_with_its_prices_in_another_file_is_fine(tmp_path: Path) -> None:
    (tmp_path / ".macoder.yaml").write_text(
        "models:\n  implementation: anthropic/claude-sonnet-4-5\nmax_cost_per_run: 5\n",
        encoding="utf-8",
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.macoder.prices."anthropic/claude-sonnet-4-5"]\ninput = 3\noutput = 15\n',
        encoding="utf-8",
    )
    settings = load_settings(tmp_path, env={})
    assert caps_of(settings).cost_per_run == 5.0
