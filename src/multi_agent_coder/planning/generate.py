"""PLAN.md to BACKLOG.yaml tasks: the prompt, the answer read back, renumbered and checked.

The seed's generator asked the implementation model for backlog entries and trusted them. Here
the model's answer is only a proposal: it is read as YAML (the project's strict reader, size
bounded), its tasks are given ids that continue the backlog's numbering, appended to the
backlog's text in the file's own style (`backlog/write.py`), and the result is checked with
exactly what `macoder check` runs — schema, graph rules, context hygiene. Whatever that finds
goes back to the model as `path:line:col: field: message` lines of the file as it would be
written, for a bounded number of repair rounds (`run/generate.py` drives them).

The model's ids are provisional: people number tasks, a model does not know which ids are
free, and two generations must never hand out one id twice. So a new task's `id` is macoder's,
its `depends_on` entries that name tasks of the same answer follow the renumbering, and those
that name existing tasks stay; anything else is reported. macoder also sets `status: pending`
(and `attempts: 0` where the file writes attempts): a generated task has not started.

Pure: no I/O, no clock, no agent.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from multi_agent_coder.backlog.load import Check, load_bytes
from multi_agent_coder.backlog.model import Backlog
from multi_agent_coder.backlog.write import Appended, with_tasks_appended
from multi_agent_coder.context.build import ContextSettings, truncate
from multi_agent_coder.errors import FixBacklogFirstError, UsageError
from multi_agent_coder.ids import TASK_ID_IN_TEXT, id_key, is_task_id
from multi_agent_coder.limits import MAX_ANSWER_BYTES, MAX_ESTIMATED_HOURS
from multi_agent_coder.problems import Finding, Problem, errors_in, format_loc
from multi_agent_coder.yamlread import YamlError, decode, parse_fast, parse_with_positions

#: The name problems found in the model's answer itself are reported under (`answer:3:1:`).
ANSWER: Final = "answer"

#: The existing tasks the prompt lists by id and title (the newest; the rest are counted).
MAX_LISTED_TASKS: Final = 200
#: The most problems, and the most bytes of a previous answer, a repair prompt repeats.
MAX_REPAIR_PROBLEMS: Final = 50
MAX_SHOWN_ANSWER_BYTES: Final = 64 * 1024

#: Keys in the order the schema (and the README's example) writes them.
_ORDER: Final = ("id", "title", "description", "status", "depends_on", "acceptance")
_AFTER: Final = ("attempts", "scope", "context")

_TRACK_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")
_FENCE_OPEN: Final = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*")
_TASK_INDEX: Final = re.compile(r"tasks\[(\d+)\]")


# --- the track and the prompt's first line -------------------------------------------------


def track_of(plan: str, fallback: str) -> str:
    """The plan's track: the directory it sits in (`specs/<track>/PLAN.md`), else `fallback`
    (the backlog's `track_id`). One word: it is the prompt's first line, which the scripted
    model of the tests and the demo keys its answers on."""
    parts = [p for p in re.split(r"[/\\]", plan) if p not in ("", ".")]
    name = parts[-2] if len(parts) >= 2 else fallback
    return _TRACK_UNSAFE.sub("-", name).strip("-")[:64] or "backlog"


def header(subject: str, repair: int = 0, repairs: int = 0, *, kind: str = "Generate") -> str:
    """`# Generate: <track>`, or `# Generate: <track> (repair 1 of 2)` for a repair round;
    `kind` names the other command whose prompts start the same way (`# Rebase: <id>`)."""
    suffix = f" (repair {repair} of {repairs})" if repair else ""
    return f"# {kind}: {subject}{suffix}"


# --- the backlog the tasks go into ----------------------------------------------------------


@dataclass(frozen=True)
class Base:
    """The backlog the new tasks are appended to, as read (its exact bytes) and checked."""

    raw: bytes
    display: str
    backlog: Backlog
    checks: tuple[Check, ...]
    #: Whether the file writes `attempts:` in its tasks (new tasks then do too).
    writes_attempts: bool

    @property
    def ids(self) -> list[str]:
        return [task.id for task in self.backlog.tasks]

    def new_ids(self, count: int) -> list[str]:
        return new_ids(self.ids, decode(self.raw), count)


def read_base(raw: bytes, display: str, checks: Sequence[Check]) -> Base:
    """The backlog `raw`, which must pass the checks `macoder check` runs: a problem already
    there is the person's to fix, and would be blamed on the model's tasks otherwise.
    `FixBacklogFirstError` (exit 2) carries the problems; nothing is asked of a model."""
    result = load_bytes(raw, display, checks)
    errors = errors_in(result.problems)
    if result.backlog is None or errors:
        count = len(errors or result.problems)
        raise FixBacklogFirstError(
            errors or result.problems,
            f"{display}: fix {display} first ({count} problem{'s' if count != 1 else ''} "
            "above): macoder generate adds tasks only to a backlog that passes `macoder "
            "check`; nothing was asked of a model",
        )
    data = parse_fast(decode(raw))
    tasks = data.get("tasks") if isinstance(data, dict) else None
    writes = isinstance(tasks, list) and any(isinstance(t, dict) and "attempts" in t for t in tasks)
    return Base(raw, display, result.backlog, tuple(checks), writes)


def new_ids(existing: Sequence[str], text: str, count: int) -> list[str]:
    """`count` ids after the highest existing one, in the format of the backlog's last task
    (`T007` -> `T008`; `AUTH-012` -> `AUTH-013`; an empty backlog starts at `T001`).

    Skipped: an id that reads as one already used (`T08` beside `T008`), and one the file
    already names anywhere (a comment or a text saying `T010`), which a new task with that id
    would turn into a reference to itself. `UsageError` when the numbers run out (5 digits).
    """
    last = existing[-1] if existing else "T000"
    prefix = last.rstrip("0123456789")
    width = max(len(last) - len(prefix), 2)
    numbers = [
        int(task_id[len(prefix) :])
        for task_id in existing
        if task_id.startswith(prefix) and task_id[len(prefix) :].isdigit()
    ]
    taken = {id_key(task_id) for task_id in existing}
    taken.update(id_key(match.group()) for match in TASK_ID_IN_TEXT.finditer(text))
    number = max(numbers, default=0) + 1
    found: list[str] = []
    while len(found) < count:
        digits = f"{number:0{width}d}"
        candidate = prefix + digits
        if len(digits) > 5 or not is_task_id(candidate):
            raise UsageError(
                f"no task id is left after {prefix}{number - 1}: ids have at most 5 digits; "
                "start a new prefix by hand (e.g. a task B001) and generate again"
            )
        if id_key(candidate) not in taken:
            found.append(candidate)
        number += 1
    return found


# --- the prompt ------------------------------------------------------------------------------


def fence(text: str, info: str = "") -> str:
    """`text` in a Markdown fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


def _one_line(text: str, budget: int) -> str:
    return truncate(" ".join(text.split()), budget)


def _existing(base: Base, first: str) -> str:
    tasks = base.backlog.tasks
    if not tasks:
        return (
            "## Existing tasks\n"
            f"{base.display} has no task yet: new tasks depend only on each other. Number "
            f"them from {first}."
        )
    shown = tasks[-MAX_LISTED_TASKS:]
    lines = [f"- {t.id} ({t.status.value}): {_one_line(t.title, 80)}" for t in shown]
    if len(tasks) > len(shown):
        lines.insert(0, f"- ... {len(tasks) - len(shown)} older tasks, {tasks[0].id} and on")
    return (
        "## Existing tasks\n"
        f"{base.display} already has these tasks. A new task may depend on any of them by "
        f"its id; do not repeat them. Number the new tasks from {first} on.\n" + "\n".join(lines)
    )


def _shape(first: str, example_dep: str | None) -> str:
    dependency = f"[{example_dep}]" if example_dep else "[]"
    example = (
        f"- id: {first}\n"
        "  title: One line saying what is built\n"
        "  description: >-\n"
        "    What to build and how it behaves: the decisions, with the names of functions,\n"
        "    files and errors the tests will check.\n"
        "  status: pending\n"
        f"  depends_on: {dependency}\n"
        "  acceptance:\n"
        "    - a criterion a test can check, e.g. add(2, 3) == 5\n"
        "  scope:\n"
        "    files_hint: [pkg/module.py, tests/test_module.py]\n"
        "    estimated_hours: 1.5\n"
        "  context:\n"
        "    constraints: [Standard library only]\n"
        '    patterns: ["pkg/other.py:10-42 - the structure to follow"]\n'
        "    gotchas: [What is easy to get wrong here]\n"
    )
    return (
        "## The shape of a task\n"
        + fence(example, "yaml")
        + "\n`context` and each of its three lists are optional. `depends_on` holds ids of"
        " existing tasks or of tasks earlier in your answer."
    )


def rules_section(settings: ContextSettings) -> str:
    phrases = ", ".join(f'"{phrase}"' for phrase in settings.debris_phrases)
    return "\n".join(
        [
            "## Rules (`macoder check` refuses a task that breaks one)",
            "- A task is one agent session and one pull request: small, testable, on its own."
            " The agent that does it sees that task only, as one prompt built from its fields"
            f" of at most {settings.max_bytes} bytes.",
            f"- title: one line of at most {settings.title_budget} bytes. description: at most"
            f" {settings.spec_budget} bytes. acceptance: at least one criterion, at most"
            f" {settings.acceptance_budget} bytes together. Longer text is cut off in the"
            " agent's prompt.",
            f"- scope.files_hint: at most {settings.max_files} paths relative to the"
            " repository root (no absolute path, no '..', nothing under .git).",
            f"- scope.estimated_hours: above 0 and at most {MAX_ESTIMATED_HOURS:g}; split"
            " bigger work into several tasks.",
            f"- context: at most {settings.max_constraints} constraints of"
            f" {settings.constraint_budget} bytes, {settings.max_patterns} patterns of"
            f" {settings.pattern_budget} bytes each written 'path:first-last - description'"
            " (real lines of a real file), and"
            f" {settings.max_gotchas} gotchas of {settings.gotcha_budget} bytes.",
            "- No task id in any text (title, description, acceptance, context): the agent"
            " sees only its own task, so say what it needs instead. Ids go in `id` and"
            " `depends_on` only.",
            f"- No planning chatter in any text, none of: {phrases}. Give the decision, not"
            " how it was reached.",
            f"- No pasted file: more than {settings.max_pasted_lines} lines in one code block"
            " is refused; name the path and a line range instead.",
            "- No dependency cycle. Text holds no control character (tab and line feed are fine).",
        ]
    )


def _answer_section() -> str:
    return (
        "## Your answer\n"
        "Answer with a YAML list of the new tasks only (no backlog header, no existing task,"
        " no other text), in one ```yaml fence or bare."
    )


@dataclass(frozen=True)
class PlanInput:
    """What every prompt of one generation repeats: the plan and where the tasks go."""

    track: str
    plan_display: str
    plan_text: str
    base: Base
    settings: ContextSettings
    #: The ids the new tasks will get, from the first on (the prompt names the first).
    first_id: str


def _body(source: PlanInput) -> list[str]:
    base = source.base
    last = base.backlog.tasks[-1].id if base.backlog.tasks else None
    return [
        "You turn an implementation plan into tasks for the backlog "
        f"{base.display}. Each task is done later by a coding agent, in its own session, as"
        " one pull request.\n\n"
        "Your working directory is a copy of the repository's default branch: read the code"
        " to name real files and line ranges. Nothing you write there is kept.",
        f"## The plan ({source.plan_display})\n" + source.plan_text.strip(),
        _existing(base, source.first_id),
        _shape(source.first_id, last),
        rules_section(source.settings),
    ]


def generation_prompt(source: PlanInput) -> str:
    """The first round's prompt: the header line, the plan, the existing tasks, the task's
    shape, the rules with the configured limits, and what to answer."""
    sections = [header(source.track), *_body(source), _answer_section()]
    return "\n\n".join(sections) + "\n"


# --- reading the answer ----------------------------------------------------------------------


def extract_yaml(answer: str) -> tuple[str, int]:
    """The YAML of `answer` and how many of its lines come before it: the last fenced block
    marked `yaml`, `yml` or nothing (the final answer comes last, after any text the model
    wrote while reading the code), else the whole answer. A fence is a Markdown one: at most
    3 spaces before it, so a fence inside an indented YAML text is no fence here."""
    lines = answer.split("\n")
    chosen: tuple[int, int] | None = None
    index = 0
    while index < len(lines):
        opening = _FENCE_OPEN.fullmatch(lines[index].rstrip("\r"))
        if opening is None:
            index += 1
            continue
        fence, info = opening.group(1), opening.group(2).lower()
        closing = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*")
        end = index + 1
        while end < len(lines) and closing.fullmatch(lines[end].rstrip("\r")) is None:
            end += 1
        if info in ("", "yaml", "yml"):
            chosen = (index + 1, end)
        index = end + 1
    if chosen is None:
        return answer, 0
    return "\n".join(lines[chosen[0] : chosen[1]]), chosen[0]


def read_answer(answer: str, max_bytes: int = MAX_ANSWER_BYTES) -> tuple[Any, int, list[Problem]]:
    """The YAML value of `answer` (`extract_yaml`), how many of its lines come before it, and
    the problem that kept it from being read: over `max_bytes`, or not YAML
    (`answer:LINE:COL`, lines of the answer as the model wrote it). What the value must be is
    each command's to say (a list of tasks; one entry's fields)."""
    size = len(answer.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        message = f"the answer is {size:,} bytes, over the {max_bytes:,}-byte limit"
        return None, 0, [Problem(ANSWER, 1, 1, "invalid-value", message)]
    text, offset = extract_yaml(answer)
    try:
        data, _ = parse_with_positions(text)
    except YamlError as exc:
        return None, offset, [Problem(ANSWER, exc.line + offset, exc.col, exc.code, exc.message)]
    return data, offset, []


@dataclass(frozen=True)
class ParsedAnswer:
    """The answer's tasks as plain data, or the problems that keep it from being a list."""

    items: list[Any]
    problems: list[Problem]


def parse_answer(answer: str, max_bytes: int = MAX_ANSWER_BYTES) -> ParsedAnswer:
    """The list of tasks in `answer`; problems are `answer:LINE:COL` (lines of the answer
    as the model wrote it). A mapping whose only key is `tasks` is taken for its list: the
    backlog's own shape, which a model may well copy."""
    data, offset, problems = read_answer(answer, max_bytes)
    if problems:
        return ParsedAnswer([], problems)
    if isinstance(data, dict) and list(data) == ["tasks"]:
        data = data["tasks"]
    if not isinstance(data, list):
        kind = "a mapping" if isinstance(data, dict) else f"a {type(data).__name__}"
        message = f"the answer must be a YAML list of tasks ('- id: ...'), not {kind}"
        return ParsedAnswer([], [Problem(ANSWER, 1 + offset, 1, "wrong-type", message)])
    if not data:
        message = "the answer holds no task; the plan needs at least one"
        return ParsedAnswer([], [Problem(ANSWER, 1 + offset, 1, "invalid-value", message)])
    return ParsedAnswer(data, [])


# --- renumbering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Renumbered:
    """The answer's tasks with macoder's ids. `findings` are located in the answer's list
    (`(2, "depends_on", 0)`); `renamed` maps each id the answer gave to the new one."""

    tasks: list[Any]
    ids: list[str]
    renamed: dict[str, str]
    findings: list[Finding] = field(default_factory=list)


def _given_id(item: Any) -> str | None:
    value = item.get("id") if isinstance(item, dict) else None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def renumber(
    items: Sequence[Any], ids: Sequence[str], existing: Collection[str], *, attempts: bool
) -> Renumbered:
    """Give item *k* the id `ids[k]`, rewrite `depends_on` entries naming items of the answer,
    keep those naming an existing task, and report the rest (`unknown-dependency`), and any
    entry that could mean two tasks (`duplicate-id`). Entries that are not strings, and a
    `depends_on` that is not a list, are left as written: the schema check says what is wrong
    with them, as `macoder check` would. Fields in schema order; unknown keys kept after them
    (the schema check names them)."""
    given: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        name = _given_id(item)
        if name is not None:
            given.setdefault(name, []).append(index)
    renamed = {name: ids[found[0]] for name, found in given.items() if len(found) == 1}
    findings: list[Finding] = []
    tasks: list[Any] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            tasks.append(item)
            continue
        deps = item.get("depends_on", [])
        if isinstance(deps, list):
            deps = [
                _dependency(
                    dep,
                    loc=(index, "depends_on", position),
                    given=given,
                    renamed=renamed,
                    existing=existing,
                    findings=findings,
                )
                for position, dep in enumerate(deps)
            ]
        tasks.append(_ordered(item, ids[index], deps, attempts=attempts))
    return Renumbered(tasks, list(ids), renamed, findings)


def _dependency(
    dep: Any,
    *,
    loc: tuple[str | int, ...],
    given: Mapping[str, list[int]],
    renamed: Mapping[str, str],
    existing: Collection[str],
    findings: list[Finding],
) -> Any:
    """One `depends_on` entry, rewritten when it names a task of the answer."""
    if not isinstance(dep, str):
        return dep
    if dep in given and (len(given[dep]) > 1 or dep in existing):
        which = "several tasks of the answer" if len(given[dep]) > 1 else "an existing task"
        findings.append(
            Finding(
                loc,
                "duplicate-id",
                f"depends_on {dep!r} is ambiguous: the answer gives that id to a task and it is"
                f" also {which}'s; give every new task an id of its own",
            )
        )
        return dep
    if dep in renamed:
        return renamed[dep]
    if dep in existing:
        return dep
    findings.append(
        Finding(
            loc,
            "unknown-dependency",
            f"unknown task {dep!r} in depends_on: depend only on an existing task or on a task"
            " of the answer, by its id",
        )
    )
    return dep


def _ordered(item: Mapping[Any, Any], task_id: str, deps: Any, *, attempts: bool) -> dict[Any, Any]:
    out: dict[Any, Any] = {"id": task_id}
    for key in _ORDER[1:]:
        if key == "status":
            out["status"] = "pending"
        elif key == "depends_on":
            out["depends_on"] = deps
        elif key in item:
            out[key] = item[key]
    for key in _AFTER:
        if key == "attempts":
            if attempts:
                out["attempts"] = 0
        elif key in item:
            out[key] = item[key]
    for key, value in item.items():
        if key not in out and key not in ("id", "status", "attempts"):
            out[key] = value
    return out


# --- judging one answer -------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What one answer came to. `problems` are errors (none: it is accepted); `warnings` are
    those `macoder check` gives the new tasks (a text cut in the agent's prompt)."""

    answer: str
    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)
    appended: Appended | None = None
    renamed: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.appended is not None and not self.problems


def judge(answer: str, base: Base) -> Verdict:
    """Read `answer`, renumber its tasks, append them to the base backlog and check the
    result as `macoder check` would. Every error of the result counts, wherever it is: the
    base had none, so each one comes from the new tasks (new ids are chosen so that an old
    task's text never comes to name one)."""
    parsed = parse_answer(answer)
    if parsed.problems:
        return Verdict(answer, parsed.problems)
    ids = base.new_ids(len(parsed.items))
    renumbered = renumber(parsed.items, ids, set(base.ids), attempts=base.writes_attempts)
    appended = with_tasks_appended(base.raw, renumbered.tasks)
    result = load_bytes(appended.raw, base.display, base.checks)
    offset = len(base.backlog.tasks)
    problems = errors_in(result.problems)
    if renumbered.findings:
        positions = result.positions or parse_with_positions(appended.text)[1]
        seen = {(p.line, p.col, p.code) for p in problems}
        for finding in renumbered.findings:
            loc = ("tasks", offset + int(finding.loc[0]), *finding.loc[1:])
            line, col = positions.locate(loc)
            if (line, col, finding.code) not in seen:
                problems.append(
                    Problem(base.display, line, col, finding.code, finding.message, format_loc(loc))
                )
    warnings = [p for p in result.problems if p.severity == "warning" and _task_index(p) >= offset]
    return Verdict(
        answer,
        sorted(problems, key=Problem.sort_key),
        warnings,
        appended,
        renumbered.renamed,
        ids,
    )


def _task_index(problem: Problem) -> int:
    match = _TASK_INDEX.match(problem.field)
    return int(match.group(1)) if match else -1


# --- the repair prompt -------------------------------------------------------------------------


def problems_block(problems: Sequence[Problem]) -> str:
    """The problems a repair prompt sends back, rendered one per line in a fence: at most
    `MAX_REPAIR_PROBLEMS` (a long list would crowd out the rest of the prompt), then how
    many more there are."""
    shown = problems[:MAX_REPAIR_PROBLEMS]
    lines = [p.render() for p in shown]
    if len(problems) > len(shown):
        lines.append(f"... and {len(problems) - len(shown)} more")
    return fence("\n".join(lines))


def repair_prompt(source: PlanInput, verdict: Verdict, repair: int, repairs: int) -> str:
    """A repair round's prompt: the first prompt again (the plan, the tasks, the rules), and
    before what to answer, the problems of the last answer as `macoder check` reports them
    (`answer:LINE:COL` for one that did not read as a list of tasks), the new tasks as they
    were appended to the backlog (so the line numbers can be followed) and the answer."""
    sections = [
        "## Problems in your previous answer\n"
        "Your previous answer could not be added. These are the problems, one per line as"
        " `path:line:col: field: message [code]`: "
        f"`{ANSWER}:` lines are lines of your answer, `{source.base.display}:` lines are lines"
        " of the backlog with your tasks appended.\n" + problems_block(verdict.problems)
    ]
    appended = verdict.appended
    if appended is not None:
        renames = [f"{old} is {new}" for old, new in verdict.renamed.items() if old != new]
        renumbered = f" New ids: {', '.join(renames)}." if renames else ""
        sections.append(
            f"## Your tasks as appended to {source.base.display}\n"
            f"They start at line {appended.first_line}.{renumbered}\n"
            + fence(appended.block.strip("\n"), "yaml")
        )
    shown = verdict.answer
    if len(shown.encode("utf-8", "surrogatepass")) > MAX_SHOWN_ANSWER_BYTES:
        shown = truncate(shown, MAX_SHOWN_ANSWER_BYTES)
    sections.append("## Your previous answer\n" + fence(shown))
    answer = _answer_section() + (
        " Answer with the whole corrected list: every task, not only those with problems."
    )
    parts = [header(source.track, repair, repairs), *_body(source), *sections, answer]
    return "\n\n".join(parts) + "\n"
