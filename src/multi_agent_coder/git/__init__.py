"""Everything macoder does to git: the repository, task worktrees and the run ledger.

pygit2 does the work in-process; the `git` binary runs only where libgit2 lacks the operation
(worktree removal and pruning, checkout updates in the user's own checkout, filter drivers,
atomic ref compare-and-swap), always through `env.run_git` with a scrubbed environment.
"""

from __future__ import annotations

from multi_agent_coder.git.env import clean_env, run_git
from multi_agent_coder.git.ledger import LEDGER_REF, Ledger
from multi_agent_coder.git.repo import CheckoutState, DiffStat, Repo
from multi_agent_coder.git.worktree import WorktreeManager

__all__ = [
    "LEDGER_REF",
    "CheckoutState",
    "DiffStat",
    "Ledger",
    "Repo",
    "WorktreeManager",
    "clean_env",
    "run_git",
]
