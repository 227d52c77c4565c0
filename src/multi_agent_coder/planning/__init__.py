"""Planning: from a feature's plan to backlog tasks (pure prompts, parsing and merging)."""
