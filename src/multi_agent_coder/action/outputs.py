"""What the action hands back to GitHub: step outputs, the job summary, workflow commands.

Pure renderers (strings in, strings out) plus two tiny appenders, so the tests can check the
exact bytes GitHub will read.

Step outputs use the multi-line form `name<<DELIMITER` ... `DELIMITER` for every value, with
a fresh random delimiter each time (GitHub's own toolkit does the same): a value that contains
a newline, or text that looks like `other=value`, then cannot inject a second output, and a
value cannot end the block early because the delimiter is checked not to occur in it.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from multi_agent_coder.visible import visible

if TYPE_CHECKING:
    from multi_agent_coder.backlog.model import Task
    from multi_agent_coder.run.feature import FeaturePlanned
    from multi_agent_coder.run.feature_publish import FeaturePublished
    from multi_agent_coder.run.orchestrator import RunReport
    from multi_agent_coder.run.publish import Published
    from multi_agent_coder.run.state import RunState
    from multi_agent_coder.run.task import TaskOutcome

#: GitHub refuses a matrix of more than 256 jobs; the rest wait for the next wave.
MATRIX_LIMIT: Final = 256

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

#: Worst first: the result of a run that had several tasks is its worst task's status.
_SEVERITY: Final = ("interrupted", "failed", "needs-review", "skipped", "succeeded")


def random_delimiter() -> str:
    return f"ghadelimiter_{secrets.token_hex(16)}"


def format_outputs(
    values: Mapping[str, str], delimiter: Callable[[], str] = random_delimiter
) -> str:
    """`values` in the `$GITHUB_OUTPUT` file format, each as a heredoc block."""
    blocks: list[str] = []
    for name, value in values.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"not an output name: {name!r}")
        marker = delimiter()
        while marker in value or marker in name:
            marker = delimiter()
        blocks.append(f"{name}<<{marker}\n{value}\n{marker}\n")
    return "".join(blocks)


def write_outputs(
    path: Path | None, values: Mapping[str, str], *, fallback: TextIO | None = None
) -> None:
    """Append `values` to the `$GITHUB_OUTPUT` file. Outside Actions (no file) they are
    printed as `name=value` lines instead, so a local run of the entry still shows them."""
    if path is None:
        stream = fallback if fallback is not None else sys.stderr
        for name, value in values.items():
            print(f"output {name}={value}", file=stream)
        return
    with path.open("a", encoding="utf-8") as handle:
        handle.write(format_outputs(values))


def append_summary(path: Path | None, markdown: str) -> None:
    """Add a section to the job summary (`$GITHUB_STEP_SUMMARY`); nothing outside Actions."""
    if path is None or not markdown:
        return
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")


# --------------------------------------------------------------------------- results


def run_result(report: RunReport, *, dry_run: bool) -> str:
    """One word for a task or run job: the task's status (succeeded | failed | needs-review |
    skipped | interrupted), the worst of them for several tasks, or why nothing ran
    (dry-run | nothing-ready)."""
    if report.interrupted:
        return "interrupted"
    statuses = {outcome.status for outcome in report.outcomes}
    for status in _SEVERITY:
        if status in statuses:
            return status
    return "dry-run" if dry_run and report.ready else "nothing-ready"


def run_outputs(report: RunReport, *, dry_run: bool) -> dict[str, str]:
    """The step outputs of a task or run job. The pull request outputs describe the one task
    a `task` job runs; with several tasks they stay empty (the summary lists every PR)."""
    with_pr = [o for o in report.outcomes if o.pr is not None]
    pr = with_pr[0].pr if len(report.outcomes) == 1 and with_pr else None
    return {
        "ready": ready_json(report.ready),
        "result": run_result(report, dry_run=dry_run),
        "pr-number": str(pr.number) if pr is not None else "",
        "pr-url": pr.url if pr is not None else "",
        "operation": pr.operation if pr is not None else "none",
        "head-sha": pr.head_sha if pr is not None else "",
    }


def ready_json(task_ids: Iterable[str]) -> str:
    """A compact JSON list for `fromJSON(...)` in a matrix: `["T001","T002"]`."""
    return json.dumps(list(task_ids), separators=(",", ":"))


# --------------------------------------------------------------------------- job summary


def _cell(text: str) -> str:
    """Table-cell text: agent and test output may hold pipes, newlines, HTML or control
    characters."""
    return visible(
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {rest:02d}s"


def _pr_cell(outcome: TaskOutcome) -> str:
    if outcome.pr is None:
        return "-"
    pr = outcome.pr
    if pr.operation == "handed-off":
        return "handed to the publish job"
    return f"{_pr_link(pr.number, pr.url)} ({pr.operation})"


def _pr_link(number: int, url: str) -> str:
    linkable = url.startswith(("https://", "http://"))
    return f"[#{number}]({url})" if linkable else f"#{number}"


def _counts(outcomes: Sequence[TaskOutcome]) -> str:
    seen: dict[str, int] = {}
    for outcome in outcomes:
        seen[outcome.status] = seen.get(outcome.status, 0) + 1
    return ", ".join(f"{count} {status}" for status, count in seen.items())


def _tokens(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _totals_line(outcomes: Sequence[TaskOutcome]) -> list[str]:
    """The run's tokens (and cost, when priced) as counted by the gateway; nothing when no
    task counted any."""
    from multi_agent_coder.run.orchestrator import run_totals

    totals = run_totals(outcomes)
    if totals["tokens_in"] is None:
        return []
    line = (
        f"Tokens this run: {totals['tokens_in']:,} in / {totals['tokens_out'] or 0:,} out, "
        f"{totals['requests'] or 0:,} model requests"
    )
    if totals["cost"]:
        line += f", cost {totals['cost']:.4f}"
    return [line + ".", ""]


def render_run_summary(report: RunReport, *, dry_run: bool) -> str:
    """The job summary of a task or run job: one table row per task (result, PR, time,
    context bytes, reason), or the reason nothing ran."""
    result = run_result(report, dry_run=dry_run)
    head = _counts(report.outcomes) if report.outcomes else result
    out = [
        f"### macoder: {head}",
        "",
        f"Base `{report.base_branch}` at `{report.base_sha[:10]}`, run `{report.run_id}`.",
        "",
    ]
    if report.note:
        out += [_cell(report.note), ""]
    if report.ready and not report.outcomes:
        out += ["Ready: " + ", ".join(f"`{t}`" for t in report.ready), ""]
    if report.outcomes:
        out += [
            "| task | result | pull request | time | context | tokens in / out | reason |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        out += [
            f"| `{o.task_id}` | {o.status} | {_pr_cell(o)} | {duration(o.duration_s)} "
            f"| {o.context_bytes:,} B | {_tokens(o.tokens_in)} / {_tokens(o.tokens_out)} "
            f"| {_cell(o.reason)} |"
            for o in report.outcomes
        ]
        out.append("")
        out += _totals_line(report.outcomes)
    if report.timed_out:
        out += ["The run timeout was reached; unfinished tasks were stopped.", ""]
    if report.interrupted:
        out += ["Interrupted: sessions aborted, worktrees removed, leases released.", ""]
    return "\n".join(out)


def render_plan_summary(
    ready: Sequence[Task],
    *,
    note: str = "",
    held_back: int = 0,
    answered: Sequence[tuple[str, str, str]] = (),
) -> str:
    """The job summary of a plan job: the tasks the matrix will run, and the tasks a person's
    answer holds (`answered`: id, standing, why) — a PR closed unmerged, merged without the
    task completed, or a stop for a person — so nobody wonders why they did not run."""
    if not ready:
        out = ["### macoder plan: nothing is ready", ""]
    else:
        out = [
            f"### macoder plan: {len(ready)} task(s) ready",
            "",
            "| task | title |",
            "| --- | --- |",
        ]
        out += [f"| `{t.id}` | {_cell(t.title)} |" for t in ready]
        out.append("")
    if held_back:
        out += [
            f"{held_back} more ready task(s) wait for the next wave "
            f"(a matrix holds at most {MATRIX_LIMIT} jobs).",
            "",
        ]
    if answered:
        out += ["#### Held for a person", "", "| task | state | why |", "| --- | --- | --- |"]
        out += [f"| `{t}` | {_cell(state)} | {_cell(why)} |" for t, state, why in answered]
        out.append("")
    if note:
        out += [_cell(note), ""]
    return "\n".join(out)


def render_status(state: RunState) -> str:
    """Every task's standing as a markdown table: the reply to `/macoder status`."""
    out = ["| task | state | attempts | why |", "| --- | --- | ---: | --- |"]
    for view in state.views:
        out.append(
            f"| `{view.task_id}` | {_cell(view.label)} | {view.attempts} | "
            f"{_cell(view.detail(state.max_attempts))} |"
        )
    return "\n".join(out) + "\n"


def render_health_summary(sha: str, described: str, *, healthy: bool) -> str:
    """The health job's summary: the verdict on the planned base and what the checks said
    (their output's last lines, which may quote anything: shown as a code block)."""
    verdict = (
        "healthy: the wave's task jobs trust this check"
        if healthy
        else "unhealthy: no task of this wave starts"
    )
    body = visible(described, lines=True)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)  # no run of backticks in the output can close it
    return f"### macoder: health check of `{sha[:10]}`: {verdict}\n\n{fence}text\n{body}\n{fence}\n"


def render_publish_summary(done: Published) -> str:
    """The publish job's summary: the PR, or why the hand-off was refused."""
    if done.pr is not None and done.status == "published":
        pr = done.pr
        what = f"{_pr_link(pr.number, pr.url)} {pr.operation} at `{pr.head_sha[:10]}`"
    else:
        what = done.reason
    return f"### macoder: {done.task_id} {done.status}\n\n{_cell(what)}\n"


def render_feature_summary(planned: FeaturePlanned, context: str) -> str:
    """The plan-feature job's summary: the agents, the files, the new tasks."""
    agents = "\n".join(
        f"| {_cell(a.role)} | `{_cell(a.file)}` | {_cell(a.outcome)} | {duration(a.duration_s)} "
        f"| {_tokens(a.tokens_in)} / {_tokens(a.tokens_out)} |"
        for a in planned.plan.agents
    )
    files = "\n".join(f"- `{_cell(name)}`" for name in planned.files)
    rounds = len(planned.generated.rounds)
    return (
        f"### macoder: plan {planned.track} handed off\n\n"
        f"From `{_cell(context)}` at `{planned.base_sha[:10]}` with {_cell(planned.plan.model)}; "
        f"{len(planned.added)} new task(s) in {rounds} generation round(s): "
        f"{_cell(', '.join(planned.added))}. The publish-feature job opens the pull request.\n\n"
        "| agent | file | outcome | time | tokens in / out |\n| --- | --- | --- | --- | --- |\n"
        f"{agents}\n\n{files}\n"
    )


def render_feature_publish_summary(done: FeaturePublished) -> str:
    """The publish-feature job's summary: the plan's PR, or why the hand-off was refused."""
    if done.pr is not None and done.status == "published":
        pr = done.pr
        what = (
            f"{_pr_link(pr.number, pr.url)} {pr.operation} at `{pr.head_sha[:10]}` with "
            f"{len(done.added)} new task(s): {', '.join(done.added)}"
        )
    else:
        what = done.reason
    return f"### macoder: plan {done.track} {done.status}\n\n{_cell(what)}\n"
