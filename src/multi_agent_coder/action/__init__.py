"""The GitHub Action's entry (`action.yml` at the repository root runs `python -m
multi_agent_coder.action`).

Split the way create-pull-request splits it: `inputs.py` turns the environment the composite
action passes into one typed, validated `ActionInputs` (and the runner's own variables into a
`RunnerContext`); `main.py` calls the same core the CLI calls (the backlog checks, the ready
set, the orchestrator); `outputs.py` writes what GitHub reads back (step outputs, the job
summary). Nothing here decides anything about tasks that the CLI does not decide the same way.
"""
