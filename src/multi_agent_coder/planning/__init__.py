"""Planning: a feature's context to its track's specs (the planning agents' prompts, the
structured merge into PLAN.md, a track's files and history) and a plan to backlog tasks
(generation's prompts, parsing and merging)."""
