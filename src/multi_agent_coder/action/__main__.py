"""`python -m multi_agent_coder.action [run | install-opencode]`: what `action.yml` runs."""

from multi_agent_coder.action.main import entry

entry()
