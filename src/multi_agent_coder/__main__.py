"""`python -m multi_agent_coder` is the same program as `macoder`."""

from multi_agent_coder.cli.main import entry

entry()
