"""Agent runtimes behind one protocol (`base.Agent`); OpenCode lives in `agents.opencode`."""

from multi_agent_coder.agents.base import Agent, AgentOutcome, AgentResult

__all__ = ["Agent", "AgentOutcome", "AgentResult"]
