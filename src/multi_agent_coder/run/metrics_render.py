"""The metrics report (`run/metrics.py`) as text, JSON or markdown.

Pure: a `Report` in, a string out, so `macoder report` and the Action's job summary say the
same numbers in the same words. An unknown number is written `unknown` (null in JSON), never
0. Model and role names come from the ledger, which anyone who can push to its ref can write:
they go through `visible`, and markdown cells are escaped as well.

The JSON document's keys are stable (the README lists them); `version` changes when one is
renamed or removed, never when one is added.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

from multi_agent_coder.run.metrics import Report, Spread, Usage, utc
from multi_agent_coder.visible import visible

#: The JSON document's version (see the module's docstring).
JSON_VERSION: Final = 1

UNKNOWN: Final = "unknown"

# --------------------------------------------------------------------------- JSON


def render_json(report: Report) -> str:
    """The report as one JSON document (keys documented in the README)."""
    first, sessions = report.first_attempt, report.sessions
    document = {
        "version": JSON_VERSION,
        "since": utc(report.since) if report.since is not None else None,
        "tasks_filter": list(report.only),
        "skipped_lines": report.skipped_lines,
        "attempts": report.attempts,
        "outcomes": dict(report.outcomes),
        "first_attempt_success": {
            "tasks": first.tasks,
            "succeeded": first.succeeded,
            "rate": _rate(first.rate),
            "target": first.target,
            "met": first.met,
        },
        "context_bytes": {
            "first": _spread(report.context_first),
            "largest": _spread(report.context_largest),
        },
        "sessions": {
            "created": sessions.created,
            "verified_deleted": sessions.deleted,
            "not_deleted": [{"task": t, "run_id": r} for t, r in sessions.not_deleted],
            "unknown": sessions.unknown,
            "rate": _rate(sessions.rate),
            "target": sessions.target,
            "met": sessions.met,
        },
        "drift": {
            "alerts": report.drift.alerts,
            "tasks": list(report.drift.tasks),
            "unknown": report.drift.unknown,
        },
        "durations_s": {
            "attempts": report.durations.attempts,
            "median": report.durations.median,
            "max": report.durations.max,
            "total": report.durations.total,
            "agent_total": report.durations.agent_total,
            "agent_unknown": report.durations.agent_unknown,
        },
        "usage": {
            "total": _usage(report.usage),
            "by_model": {name: _usage(u) for name, u in report.by_model.items()},
            "by_role": {name: _usage(u) for name, u in report.by_role.items()},
        },
        "tasks": [
            {
                "task": line.task,
                "attempts": len(line.outcomes),
                "outcomes": list(line.outcomes),
                "first_attempt": line.first_attempt,
                "context_bytes_first": line.context_first,
                "context_bytes_max": line.context_max,
                "duration_s": line.duration_s,
                "drift_alerts": line.drift_alerts,
            }
            for line in report.tasks
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _rate(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def _spread(found: Spread) -> dict[str, Any]:
    return {"tasks": found.count, "median": found.median, "max": found.max}


def _usage(found: Usage) -> dict[str, Any]:
    return {
        "attempts": found.attempts,
        "succeeded": found.succeeded,
        "reported": found.reported,
        "tokens_in": found.tokens_in,
        "tokens_out": found.tokens_out,
        "tokens_cached": found.tokens_cached,
        "cost": found.cost,
        "duration_s": found.duration_s,
        "agent_s": found.agent_s,
    }


# --------------------------------------------------------------------------- words


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return UNKNOWN
    shown = f"{value:,}" if isinstance(value, int) or value.is_integer() else f"{value:,.1f}"
    return shown.removesuffix(".0") + unit


def _seconds(value: float | None) -> str:
    if value is None:
        return UNKNOWN
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {rest:02d}s"


def _percent(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value * 100:.1f} %"


def _cost(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.4f}"


def _verdict(met: bool | None) -> str:
    return "no data" if met is None else ("met" if met else "not met")


def _outcomes(report: Report) -> str:
    return ", ".join(f"{count} {name}" for name, count in report.outcomes.items())


def _first_attempt(report: Report) -> str:
    first = report.first_attempt
    return (
        f"{first.succeeded}/{first.tasks} tasks, {_percent(first.rate)} "
        f"(target > {first.target * 100:g} %: {_verdict(first.met)})"
    )


def _sessions(report: Report) -> str:
    sessions = report.sessions
    text = (
        f"{sessions.deleted}/{sessions.created} verified deleted, {_percent(sessions.rate)} "
        f"(target {sessions.target * 100:g} %: {_verdict(sessions.met)})"
    )
    if sessions.not_deleted:
        text += "; not deleted: " + ", ".join(f"{t} (run {r})" for t, r in sessions.not_deleted)
    if sessions.unknown:
        text += f"; {sessions.unknown} attempt(s) do not say"
    return text


def _drift(report: Report) -> str:
    drift = report.drift
    text = f"{drift.alerts}" + (f" ({', '.join(drift.tasks)})" if drift.tasks else "")
    return text + (f"; {drift.unknown} attempt(s) do not say" if drift.unknown else "")


def _context(report: Report) -> str:
    first, largest = report.context_first, report.context_largest
    return (
        f"first prompt median {_number(first.median, ' B')}, max {_number(first.max, ' B')}; "
        f"largest median {_number(largest.median, ' B')}, max {_number(largest.max, ' B')}"
    )


def _time(report: Report) -> str:
    found = report.durations
    text = (
        f"median {_seconds(found.median)}, max {_seconds(found.max)}, "
        f"total {_seconds(found.total)}; "
        f"agent {_seconds(found.agent_total)}"
    )
    return text + (f" ({found.agent_unknown} attempt(s) do not say)" if found.agent_unknown else "")


def _tokens(found: Usage) -> str:
    return (
        f"in {_number(found.tokens_in)}, out {_number(found.tokens_out)}, "
        f"cached {_number(found.tokens_cached)}; cost {_cost(found.cost)} "
        f"({found.reported} of {found.attempts} attempt(s) reported)"
    )


def _headline(report: Report) -> str:
    tasks = len(report.tasks)
    window = f" since {utc(report.since)}" if report.since is not None else ""
    only = f" of {', '.join(report.only)}" if report.only else ""
    return f"{report.attempts} attempt(s) on {tasks} task(s){only}{window}"


# --------------------------------------------------------------------------- text


def render_text(report: Report) -> str:
    """Plain lines and aligned tables for a terminal."""
    lines = [f"macoder report: {_headline(report)}"]
    if report.skipped_lines:
        lines.append(f"({report.skipped_lines} ledger line(s) not understood: not counted)")
    if not report.attempts:
        return "\n".join([*lines, "no attempts recorded"]) + "\n"
    lines += [
        f"outcomes:              {_outcomes(report)}",
        f"first-attempt success: {_first_attempt(report)}",
        f"agent sessions:        {_sessions(report)}",
        f"drift alerts:          {_drift(report)}",
        f"context bytes:         {_context(report)}",
        f"time:                  {_time(report)}",
        f"tokens:                {_tokens(report.usage)}",
    ]
    for title, groups in (("model", report.by_model), ("role", report.by_role)):
        if groups:
            lines += ["", *_table(_usage_rows(title, groups))]
    rows = [["task", "attempts", "outcomes", "first attempt", "context first/max", "time"]]
    rows += [
        [
            line.task,
            str(len(line.outcomes)),
            ", ".join(line.outcomes),
            line.first_attempt or "-",
            f"{_number(line.context_first)}/{_number(line.context_max)}",
            _seconds(line.duration_s),
        ]
        for line in report.tasks
    ]
    lines += ["", *_table(rows, words=(0, 2, 3))]
    return visible("\n".join(lines), lines=True) + "\n"


def _usage_rows(title: str, groups: Mapping[str, Usage]) -> list[list[str]]:
    rows = [[title, "attempts", "success", "tokens in", "out", "cached", "cost", "agent time"]]
    rows += [
        [
            name,
            str(u.attempts),
            str(u.succeeded),
            _number(u.tokens_in),
            _number(u.tokens_out),
            _number(u.tokens_cached),
            _cost(u.cost),
            _seconds(u.agent_s),
        ]
        for name, u in groups.items()
    ]
    return rows


def _table(rows: list[list[str]], words: Collection[int] = (0,)) -> list[str]:
    """Columns padded to their widest cell: the columns of `words` to the left, the
    columns of numbers to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if i in words else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


# --------------------------------------------------------------------------- markdown


def _cell(text: str) -> str:
    """Table-cell text: a ledger value may hold pipes, HTML or control characters."""
    return visible(
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("`", "'")
        .replace("\n", " ")
    )


def _mark(met: bool | None) -> str:
    return "" if met is None else (" ✅" if met else " ❌")


def render_markdown(report: Report, heading: str = "### macoder metrics") -> str:
    """A compact job-summary section: one table of the seed's metrics, one per model and
    per role, and each task's line folded away."""
    out = [f"{heading}: {_cell(_headline(report))}", ""]
    if report.skipped_lines:
        out += [f"{report.skipped_lines} ledger line(s) not understood: not counted.", ""]
    if not report.attempts:
        return "\n".join([*out, "No attempts recorded.", ""])
    first, sessions = report.first_attempt, report.sessions
    out += [
        "| metric | value | target |",
        "| --- | --- | --- |",
        f"| first-attempt success | {first.succeeded}/{first.tasks} tasks, "
        f"{_percent(first.rate)} | > {first.target * 100:g} %{_mark(first.met)} |",
        f"| sessions verified deleted | {_cell(_sessions_cell(report))} "
        f"| {sessions.target * 100:g} %{_mark(sessions.met)} |",
        f"| drift alerts | {_cell(_drift(report))} | |",
        f"| context bytes | {_cell(_context(report))} | |",
        f"| outcomes | {_cell(_outcomes(report))} | |",
        f"| time | {_cell(_time(report))} | |",
        f"| tokens | {_cell(_tokens(report.usage))} | |",
        "",
    ]
    groups = [("model", n, u) for n, u in report.by_model.items()]
    groups += [("role", n, u) for n, u in report.by_role.items()]
    if groups:
        out += [
            "| by | attempts | success | tokens in / out / cached | cost | agent time |",
            "| --- | ---: | ---: | --- | ---: | ---: |",
        ]
        out += [
            f"| {kind} `{_cell(name)}` | {u.attempts} | {u.succeeded} "
            f"| {_number(u.tokens_in)} / {_number(u.tokens_out)} / {_number(u.tokens_cached)} "
            f"| {_cost(u.cost)} | {_seconds(u.agent_s)} |"
            for kind, name, u in groups
        ]
        out.append("")
    out += [
        f"<details><summary>Per task ({len(report.tasks)})</summary>",
        "",
        "| task | outcomes | first attempt | context first / max | time |",
        "| --- | --- | --- | --- | ---: |",
    ]
    out += [
        f"| `{line.task}` | {_cell(', '.join(line.outcomes))} | {line.first_attempt or '-'} "
        f"| {_number(line.context_first)} / {_number(line.context_max)} "
        f"| {_seconds(line.duration_s)} |"
        for line in report.tasks
    ]
    out += ["", "</details>", ""]
    return "\n".join(out)


def _sessions_cell(report: Report) -> str:
    sessions = report.sessions
    text = f"{sessions.deleted}/{sessions.created}, {_percent(sessions.rate)}"
    if sessions.not_deleted:
        text += "; not deleted: " + ", ".join(f"{t} (run {r})" for t, r in sessions.not_deleted)
    return text + (f"; {sessions.unknown} attempt(s) do not say" if sessions.unknown else "")


RENDERERS: Final[Mapping[str, Callable[[Report], str]]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
}
