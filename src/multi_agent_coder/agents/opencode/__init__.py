"""OpenCode as the agent runtime: `sansio` (pure protocol), `client` (httpx), `server`
(process lifecycle) and `agent` (`OpenCodeAgent`, the `agents.base.Agent` implementation)."""

from multi_agent_coder.agents.opencode.agent import OpenCodeAgent
from multi_agent_coder.agents.opencode.client import (
    EventSubscription,
    OpenCodeClient,
    OpenCodeError,
    OpenCodeHTTPError,
    StreamGap,
)
from multi_agent_coder.agents.opencode.server import (
    OpenCodeNotFoundError,
    OpenCodeServer,
    OpenCodeStartError,
    find_binary,
)

__all__ = [
    "EventSubscription",
    "OpenCodeAgent",
    "OpenCodeClient",
    "OpenCodeError",
    "OpenCodeHTTPError",
    "OpenCodeNotFoundError",
    "OpenCodeServer",
    "OpenCodeStartError",
    "StreamGap",
    "find_binary",
]
