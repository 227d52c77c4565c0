"""A failing task's entry rewritten: who qualifies, the prompt, the answer read back and checked.

The seed's rebase engine rewrote a task "proactively" and trusted the model. Here a task
qualifies when its attempts since it was last asked again (a reset, a merged rewrite) failed
`after_failures` times, or its last attempt was refused for context drift or hygiene; the rebase
model is given the entry as the backlog has it and the reasons of its last attempts; its answer
is only a proposal: a YAML mapping of the fields it may rewrite (description, acceptance,
context), spliced into the backlog's text in place of the old entry (`backlog/write.py`), with
the status back to pending and the attempt count to zero, and checked with exactly what
`macoder check` runs. A rewrite must also fit the agent's prompt uncut (the 3 KB limit is the
point of it), and must change something. Problems go back to the model for a bounded number of
repair rounds, as in `macoder generate`.

Pure: no I/O, no clock, no agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from multi_agent_coder.backlog.load import load_bytes
from multi_agent_coder.backlog.model import Task
from multi_agent_coder.backlog.write import AppendError, with_task_replaced
from multi_agent_coder.context.build import ContextSettings, truncate
from multi_agent_coder.git.ledger import Attempt, Record, Reset, Rewrite
from multi_agent_coder.planning.generate import (
    ANSWER,
    Base,
    fence,
    header,
    problems_block,
    read_answer,
    rules_section,
)
from multi_agent_coder.problems import Problem, errors_in
from multi_agent_coder.visible import one_line
from multi_agent_coder.yamlread import decode, parse_fast

#: The fields a rewrite may change. The id, the title, the dependencies and the scope are the
#: task's identity and place in the plan: a person changes those, not the rebase model.
REWRITABLE: Final = ("description", "acceptance", "context")
#: The attempts whose reasons the prompt lists (the newest), and each reason's bytes.
MAX_LISTED_ATTEMPTS: Final = 5
REASON_BUDGET: Final = 400
#: The outcome `run/task.py` records for an attempt that failed (the task's own failure).
FAILURE: Final = "failure"
#: How a refused context starts its reason (`run/task.py`), and drift its flag.
CONTEXT_REFUSED: Final = "context refused"


def _short(text: str, budget: int) -> str:
    """`text` on one line, at most `budget` bytes."""
    return truncate(one_line(text), budget)


# --- who qualifies ----------------------------------------------------------------------------


def attempts_since_reset(records: Sequence[Record], task_id: str) -> list[Attempt]:
    """`task_id`'s attempts since it was last asked again (settled records, ledger order)."""
    out: list[Attempt] = []
    for record in records:
        if record.task != task_id:
            continue
        if isinstance(record, Reset):
            out.clear()
        elif isinstance(record, Attempt):
            out.append(record)
    return out


def why_rewrite(attempts: Sequence[Attempt], after_failures: int) -> str | None:
    """Why these attempts call for a rewrite of the task's entry, or None when they do not."""
    if not attempts:
        return None
    last = attempts[-1]
    if last.drift:
        return f"its last attempt was refused for context drift ({_short(last.reason, 200)})"
    if last.reason.startswith(CONTEXT_REFUSED):
        return f"its last attempt's context was refused ({_short(last.reason, 200)})"
    failed = sum(1 for a in attempts if a.outcome == FAILURE)
    if failed >= after_failures:
        return f"it failed {failed} time{'s' if failed != 1 else ''}"
    return None


def tried_for(records: Sequence[Record], task_id: str, entry: str) -> Rewrite | None:
    """The last rewrite tried for this very entry of the task (None: none was)."""
    found = None
    for record in records:
        if isinstance(record, Rewrite) and record.task == task_id and record.entry == entry:
            found = record
    return found


# --- the prompt ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RebaseInput:
    """What every prompt of one rebase repeats: the task, where it is, why it is rewritten."""

    task: Task
    #: The task's position in the backlog's `tasks` list.
    index: int
    base: Base
    attempts: tuple[Attempt, ...]
    why: str
    settings: ContextSettings

    @cached_property
    def entry(self) -> Any:
        """The task's entry as plain data, as the file writes it: read once (every round's
        prompt shows it and every answer is judged against it)."""
        data = parse_fast(decode(self.base.raw))
        return data["tasks"][self.index] if isinstance(data, dict) else None


def _entry_yaml(source: RebaseInput) -> str:
    import yaml

    return yaml.safe_dump([source.entry], sort_keys=False, allow_unicode=True, width=96)


def _attempts_section(source: RebaseInput) -> str:
    listed = source.attempts[-MAX_LISTED_ATTEMPTS:]
    first = len(source.attempts) - len(listed) + 1
    lines = [
        f"- attempt {first + i}: {a.outcome}: {_short(a.reason, REASON_BUDGET) or '(no reason)'}"
        for i, a in enumerate(listed)
    ]
    return "## Its last attempts (oldest first)\n" + "\n".join(lines)


def _body(source: RebaseInput) -> list[str]:
    task = source.task
    return [
        f"A coding agent was given the task {task.id} below and did not finish it: {source.why}."
        " Rewrite the task's entry so that the next agent, which sees this entry and nothing"
        " else, finishes it in one session.\n\n"
        "Your working directory is a copy of the repository's default branch: read the code"
        " to find the files, functions and line ranges the task needs. Nothing you write there"
        " is kept.",
        f"## The task as {source.base.display} has it\n" + fence(_entry_yaml(source), "yaml"),
        _attempts_section(source),
        "## What to rewrite\n"
        "- Keep the goal: the same change, no new scope, nothing of another task.\n"
        "- description: what to build or fix and where (files, functions), and what the"
        " attempts got wrong.\n"
        "- acceptance: criteria a test can check.\n"
        "- context (optional; left out, the task has none): constraints, patterns of real"
        " lines ('path:first-last - description') and gotchas, the attempts' mistake among"
        " them.\n"
        "- id, title, depends_on and scope stay as they are: macoder keeps them, and sets the"
        " status to pending and the attempts to zero.",
        rules_section(source.settings),
    ]


def _answer_section() -> str:
    return (
        "## Your answer\n"
        "Answer with one YAML mapping with the keys description, acceptance and, if useful,"
        " context — no other key, no other text — in one ```yaml fence or bare."
    )


def rebase_prompt(source: RebaseInput) -> str:
    """The first round's prompt: the header line, the task, why it is rewritten, the
    attempts' reasons, what may change, the rules with the configured limits, the answer."""
    sections = [header(source.task.id, kind="Rebase"), *_body(source), _answer_section()]
    return "\n\n".join(sections) + "\n"


# --- judging one answer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What one answer came to: the backlog with the rewritten entry (`raw`) when it passed
    every check, else the problems (`answer:LINE:COL` for one that did not read as a mapping,
    backlog lines for what the checks found in the rewritten file)."""

    answer: str
    problems: list[Problem]
    raw: bytes | None = None
    entry: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.raw is not None and not self.problems


def _answer_problem(message: str, line: int = 1, code: str = "invalid-value") -> Problem:
    return Problem(ANSWER, line, 1, code, message)


def _read_mapping(answer: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    data, offset, problems = read_answer(answer)
    if problems:
        return None, problems
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]  # the entry's own shape (`- description: ...`), which a model may copy
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        message = (
            f"the answer must be one YAML mapping (description, acceptance, context), not {kind}"
        )
        return None, [_answer_problem(message, 1 + offset, "wrong-type")]
    extra = [str(key) for key in data if key not in REWRITABLE]
    missing = [key for key in ("description", "acceptance") if key not in data]
    problems = []
    if extra:
        problems.append(
            _answer_problem(
                f"only {', '.join(REWRITABLE)} may be rewritten, not {', '.join(extra)}"
                " (macoder keeps the id, title, status, depends_on, attempts and scope)",
                1 + offset,
                "unknown-field",
            )
        )
    if missing:
        problems.append(
            _answer_problem(f"the rewrite needs {' and '.join(missing)}", 1 + offset, "missing")
        )
    return (None, problems) if problems else (data, [])


def rewritten_entry(entry: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The old entry with the rewritten fields, the status pending and the attempts zero:
    keys in the entry's own order, a `context` the answer leaves out removed."""
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "context" and "context" not in answer:
            continue
        if key in REWRITABLE:
            out[key] = answer[key]
        elif key == "status":
            out[key] = "pending"
        elif key == "attempts":
            out[key] = 0
        else:
            out[key] = value
    for key in REWRITABLE:
        if key in answer and key not in out:
            out[key] = answer[key]
    return out


def judge(answer: str, source: RebaseInput) -> Verdict:
    """Read `answer`, splice the rewritten entry into the backlog and check the result as
    `macoder check` would; the task must also fit the agent's prompt uncut (no truncation
    warning for it) and differ from what it was."""
    data, problems = _read_mapping(answer)
    if data is None:
        return Verdict(answer, problems)
    old = source.entry
    if not isinstance(old, dict):  # pragma: no cover - the base backlog validated
        return Verdict(answer, [_answer_problem("the task's entry is not a mapping")])
    entry = rewritten_entry(old, data)
    if all(entry.get(key) == old.get(key) for key in REWRITABLE):
        message = "the rewrite changes nothing; say what the next agent needs differently"
        return Verdict(answer, [_answer_problem(message)], entry=entry)
    try:
        raw = with_task_replaced(source.base.raw, source.index, entry)
    except AppendError as exc:
        return Verdict(answer, [_answer_problem(f"cannot be written into the backlog: {exc}")])
    result = load_bytes(raw, source.base.display, source.base.checks)
    prefix = f"tasks[{source.index}]"
    found = errors_in(result.problems) + [
        p
        for p in result.problems
        if p.severity == "warning" and (p.field == prefix or p.field.startswith(prefix + "."))
    ]
    return Verdict(answer, sorted(found, key=Problem.sort_key), None if found else raw, entry)


def repair_prompt(source: RebaseInput, verdict: Verdict, repair: int, repairs: int) -> str:
    """A repair round's prompt: the first one again, then the last answer's problems and the
    answer itself, before what to answer."""
    shown = truncate(verdict.answer, 16 * 1024)
    sections = [
        header(source.task.id, repair, repairs, kind="Rebase"),
        *_body(source),
        "## Problems in your previous answer\n"
        "Your previous answer could not be used. These are the problems, one per line as"
        f" `path:line:col: field: message [code]`: `{ANSWER}:` lines are lines of your answer,"
        f" `{source.base.display}:` lines are lines of the backlog with your rewrite in place"
        " (warnings count: the rewritten task must fit the agent's prompt uncut).\n"
        + problems_block(verdict.problems),
        "## Your previous answer\n" + fence(shown),
        _answer_section(),
    ]
    return "\n\n".join(sections) + "\n"
