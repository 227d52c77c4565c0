"""Per-task job overhead of the macoder workflow under act (docs/benchmarks.md).

    python3 scripts/act_overhead.py stamp < act-json-output > run.jsonl
    python3 scripts/act_overhead.py summarize run-1.jsonl run-2.jsonl ...

`stamp` adds the arrival time on this machine (`t_host`, milliseconds) to every line of
`act --json` (act's own `time` has whole seconds only); `summarize` reads such logs and
prints, per task job, its wall time (first to last line of the job) and its overhead: the
wall time minus the agent session and the verification (from the `<id>: agent` line to the
`<id>: commit` line), with the two parts of the overhead that change the most (the action's
`Install macoder` step, and macoder's own time before the agent: settings, ledger, the
health check or its verdict, the worktree, the context). Medians over every log given;
the jobs that ran three at a time and the one that ran alone are shown apart, since two
cores shared by three jobs stretch everything.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections import defaultdict
from typing import Any


def stamp() -> int:
    for raw in iter(sys.stdin.buffer.readline, b""):
        now = round(time.time(), 3)
        line = raw.decode("utf-8", "replace").rstrip("\n")
        try:
            record = json.loads(line)
            record["t_host"] = now
        except ValueError:
            record = {"t_host": now, "nonjson": line}
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


def jobs_of(path: str) -> dict[tuple[str, str | None], dict[str, float]]:
    jobs: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            record = json.loads(line)
            if "job" in record:
                jobs[(record["jobID"], (record.get("matrix") or {}).get("task"))].append(record)
    found: dict[tuple[str, str | None], dict[str, float]] = {}
    for (job, task), records in jobs.items():
        start, end = records[0]["t_host"], records[-1]["t_host"]
        facts = {"wall": end - start}
        for record in records:
            message = record.get("msg", "").strip()
            if message.startswith("✅  Success - Main Install macoder"):
                facts["pip"] = record["executionTime"] / 1e9
            if message == "⭐ Run Main Run macoder":
                facts["run_start"] = record["t_host"]
            if task and "agent" not in facts and re.match(rf"{task}: agent\b", message):
                facts["agent"] = record["t_host"]
            if task and "agent" in facts and "commit" not in facts:
                if re.match(rf"{task}: (commit|publish|cleanup|done)\b", message):
                    facts["commit"] = record["t_host"]
        if "agent" in facts:
            inner = facts.get("commit", end) - facts["agent"]
            facts["inner"] = inner
            facts["overhead"] = facts["wall"] - inner
            facts["before_agent"] = facts["agent"] - facts["run_start"]
        found[(job, task)] = facts
    return found


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):5.1f} s [{min(values):.1f}-{max(values):.1f}]"


def summarize(paths: list[str]) -> int:
    runs = [jobs_of(path) for path in paths]
    print(f"{len(runs)} run(s)")
    tasks = sorted({task for run in runs for (job, task) in run if job == "run" and task})
    alone = tasks[3:]  # max-parallel 3: the first three run together, the rest after
    for name, group in (("3 at a time", tasks[:3]), ("alone", alone)):
        rows = [run[("run", task)] for run in runs for task in group if ("run", task) in run]
        if not rows:
            continue
        print(f"task jobs {name} (n={len(rows)}):")
        for key, label in (
            ("wall", "wall"),
            ("inner", "agent + verification"),
            ("overhead", "overhead"),
            ("pip", "  of which Install macoder"),
            ("before_agent", "  of which macoder before the agent"),
        ):
            print(f"  {label:36} {_spread([row[key] for row in rows])}")
    for job in ("plan", "health"):
        rows = [run[(job, None)] for run in runs if (job, None) in run]
        if rows:
            print(f"{job} job (n={len(rows)}): wall {_spread([row['wall'] for row in rows])}")
    totals = [sum(run[("run", t)]["overhead"] for t in tasks if ("run", t) in run) for run in runs]
    print(f"sum of the task jobs' overhead, per run: {', '.join(f'{t:.1f} s' for t in totals)}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["stamp"]:
        return stamp()
    if argv[:1] == ["summarize"] and len(argv) > 1:
        return summarize(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
