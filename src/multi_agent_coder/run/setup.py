"""What a run needs on the machine before it starts: the agent runtime's binary.

The Action's first step calls this (`install-opencode`): a configured binary is used as it
is (`opencode_bin`, e.g. `MACODER_OPENCODE_BIN` on an offline runner); otherwise the pinned
OpenCode is installed from npm under `home`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from multi_agent_coder.config import Settings


def ensure_opencode(settings: Settings, home: Path, out: TextIO) -> Path:
    """The OpenCode binary a run will use: the configured one, or a fresh pinned install."""
    from multi_agent_coder.agents.opencode.install import install_opencode
    from multi_agent_coder.agents.opencode.server import find_binary

    if settings.opencode_bin is not None:
        binary = find_binary(settings.opencode_bin)
        print(f"using the configured OpenCode binary {binary}", file=out)
        return binary
    return install_opencode(home, settings.opencode_version, out)
