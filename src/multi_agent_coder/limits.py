"""The seed plan's limits and budgets, defined once.

`config.py` uses these as defaults (some are overridable); the context builder and hygiene
checks read them from the settings they are given, never from here directly, so a test or a
user can change one in one place.
"""

from __future__ import annotations

from typing import Final

#: npm's time to install the pinned OpenCode, and the `--version` check after it, in seconds.
OPENCODE_INSTALL_TIMEOUT_S: Final = 900.0
OPENCODE_VERSION_CHECK_S: Final = 60.0

#: Hard limit on the prompt sent to an agent for one task, in UTF-8 bytes.
MAX_CONTEXT_BYTES: Final = 3000

#: Per-section budgets of the context compressor, in UTF-8 bytes.
TITLE_BUDGET: Final = 100
SPEC_BUDGET: Final = 600
ACCEPTANCE_BUDGET: Final = 400  # shared across all acceptance items
MAX_FILES: Final = 10
MAX_CONSTRAINTS: Final = 5
CONSTRAINT_BUDGET: Final = 100
MAX_PATTERNS: Final = 5
PATTERN_BUDGET: Final = 120
MAX_GOTCHAS: Final = 3
GOTCHA_BUDGET: Final = 100

#: The "## Review" section of a task re-run after a review (`macoder revise`, a review asking
#: for changes): its own budget inside `MAX_CONTEXT_BYTES`, shrunk further when the task's own
#: prompt leaves less room. One line comment gets at most `REVIEW_COMMENT_BUDGET` of it, so one
#: long comment cannot push out the others.
REVIEW_BUDGET: Final = 1000
REVIEW_COMMENT_BUDGET: Final = 300
#: The "## Update" section of a task whose PR is brought up to date with its base: the files
#: left with conflict markers, as many as fit (the rest counted).
UPDATE_BUDGET: Final = 600
#: The line comments of one review read for its feedback: one page of GitHub's API (the
#: Review section's budget keeps only the newest that fit anyway).
MAX_REVIEW_COMMENTS: Final = 100

#: The largest feedback file `macoder revise --feedback-file` reads. Far more than the review
#: section can show: the file is read whole and cut to the budget like any review.
MAX_FEEDBACK_BYTES: Final = 256 * 1024

#: `macoder generate`: the plan it reads (a PLAN.md is a few pages; far more than that would
#: not fit a model's context beside the rules), the model's answer it parses, and the repair
#: rounds after the first answer (each a new agent session given the problems `macoder check`
#: found), after which nothing is written.
MAX_PLAN_BYTES: Final = 256 * 1024
#: The largest feature context `macoder plan` (and the Action's `plan-feature`) reads: far
#: more than a person writes for one feature, small enough that three copies of it fit every
#: planning model's context.
MAX_FEATURE_CONTEXT_BYTES: Final = 64 * 1024
MAX_ANSWER_BYTES: Final = 256 * 1024
MAX_REPAIR_ROUNDS: Final = 2

#: More lines than this under one file marker or in one fenced block is a pasted whole file.
MAX_PASTED_LINES: Final = 50

#: Context growth above this fraction of its baseline is drift (seed: 50 %).
MAX_DRIFT_GROWTH: Final = 0.5

#: A task whose attempts reached this is no longer scheduled (seed: maxRetries).
MAX_ATTEMPTS: Final = 3

#: The largest file macoder reads for the user (backlog, settings, opencode.json), in bytes.
#: 16 MiB: above the benchmarks' 10,000-task backlog (9.2 MB, far more than any real plan),
#: while checking a file that size peaks near 270 MB of memory (about 16x the file) — a CI
#: runner survives it; an unbounded read of a symlink to /dev/zero would not. Configurable
#: (`max_file_bytes`); the settings files themselves are read with this default.
MAX_FILE_BYTES: Final = 16 * 1024 * 1024

#: Alias expansion budget of the YAML loaders (nodes produced by replaying aliases).
MAX_ALIAS_EXPANSION: Final = 100_000
#: Nesting a backlog never needs (it uses 5 levels); past it the file is refused before
#: Python's recursion limit is (a flow list nested 900 deep parses, then overflowed the stack).
MAX_NESTING: Final = 64

#: The largest `estimated_hours` a task may have. The model router calls more than 4 hours a
#: complex change and a task is one agent session and one pull request; 1000 hours (half a
#: working year) is far past any real estimate, so a value above it is a slip (minutes typed
#: as hours, a stray digit, `1e400`) that would skew routing and statistics, not a plan.
MAX_ESTIMATED_HOURS: Final = 1000

#: The largest `attempts` count a task may have: far above any `max_attempts`, and a plain
#: 64-bit integer for every other tool that reads the file.
MAX_ATTEMPTS_COUNT: Final = 10_000

#: The most digits an integer literal in a YAML file may have. Python refuses to convert more
#: than 4,300 (`sys.int_info.str_digits_check_threshold`) and raises ValueError; a backlog
#: needs at most a handful, so the YAML reader stops long before with a clear message.
MAX_INTEGER_DIGITS: Final = 100

#: Paths an agent may not change in a verified result (a change makes the PR a draft that a
#: person reviews): CI, macoder's own settings and backlog, ownership, hooks and the test
#: runner's configuration. Patterns as in `globs.py`.
PROTECTED_PATHS: Final[tuple[str, ...]] = (
    ".github/**",
    ".macoder.yaml",
    ".macoder.yml",
    "BACKLOG.yaml",
    "CODEOWNERS",
    ".pre-commit-config.yaml",
    "**/conftest.py",
    "pytest.ini",
    "tox.ini",
    "setup.cfg",
)

#: Test files (Python, JavaScript/TypeScript, Go, Rust, Ruby): one the agent changed or deleted
#: must still pass, restored to its base version, against the agent's code.
TEST_GLOBS: Final[tuple[str, ...]] = (
    "test_*.py",
    "*_test.py",
    "tests/**",
    "test/**",
    "*.test.*",
    "*.spec.*",
    "__tests__/**",
    "*_test.go",
    "spec/**",
)

#: The seed's planning-debris phrases; matched case-insensitively. Configurable.
PLANNING_DEBRIS_PHRASES: Final[tuple[str, ...]] = (
    "we explored",
    "alternative approach",
    "after much discussion",
    "three options",
    "let me think",
    "first attempt",
    "trying different",
    "on second thought",
    "let's reconsider",
    "another possibility",
)
