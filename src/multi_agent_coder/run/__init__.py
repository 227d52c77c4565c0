"""Running tasks: health of the target repository, drift checks, and (later) the orchestrator."""
