"""`macoder plan CONTEXT.md --track NAME`: the three planning agents, then PLAN.md.

The feature context is a person's file (read with the same limits as every file macoder is
given); the track names the folder under the specs directory (`specs_dir`) that receives
SPEC.md, ARCH.md, QA.md and the structured merge's PLAN.md. See `run/planning.py`.

Planning debris in what was written fails the command (exit 1) with the hook's own
`path:line:col: message` lines, so a person fixes it before the commit the hook would refuse.
"""

from __future__ import annotations

import argparse

from multi_agent_coder.cli.common import open_session
from multi_agent_coder.limits import MAX_FEATURE_CONTEXT_BYTES


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("context", metavar="CONTEXT.md", help="the feature's context (Markdown)")
    parser.add_argument(
        "--track",
        required=True,
        metavar="NAME",
        help="the folder under the specs directory for this feature's documents",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from multi_agent_coder.errors import EXIT_OK, EXIT_PROBLEMS, UsageError
    from multi_agent_coder.ids import validate_track
    from multi_agent_coder.run.planning import plan_feature
    from multi_agent_coder.userfiles import read_user_file
    from multi_agent_coder.visible import visible

    track = validate_track(args.track)
    raw = read_user_file(Path(args.context), max_bytes=MAX_FEATURE_CONTEXT_BYTES)
    try:
        context = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise UsageError(f"{args.context}: not UTF-8 text ({exc.reason})") from None
    if not context:
        raise UsageError(f"{args.context}: the feature context is empty")
    with open_session(args) as session:
        directory = session.repo.root / session.settings.specs_dir / track
        shown = (Path(session.settings.specs_dir) / track).as_posix()

        def on_role(role: str, what: str) -> None:
            if not args.json:
                print(visible(f"planning agent {role}: {what}"), flush=True)

        plan = plan_feature(
            session,
            context,
            track,
            directory=directory,
            shown=shown,
            on_role=on_role,
        )
    code = EXIT_PROBLEMS if plan.problems else EXIT_OK
    if args.json:
        print(
            json.dumps(
                {
                    "track": plan.track,
                    "directory": shown,
                    "files": dict(plan.files),
                    "model": plan.model,
                    "duration_s": round(plan.duration_s, 3),
                    "agents": [
                        {
                            "role": a.role,
                            "file": a.file,
                            "outcome": a.outcome,
                            "duration_s": round(a.duration_s, 3),
                            "session_deleted": a.session_deleted,
                            "tokens_in": a.tokens_in,
                            "tokens_out": a.tokens_out,
                            "cost": a.cost,
                            "bytes": a.document_bytes,
                        }
                        for a in plan.agents
                    ],
                    "problems": [
                        {
                            "path": p.path,
                            "line": p.line,
                            "col": p.col,
                            "code": p.code,
                            "message": p.message,
                        }
                        for p in plan.problems
                    ],
                },
                indent=2,
            )
        )
        return code
    for name, size in plan.files.items():
        print(visible(f"wrote {shown}/{name} ({size} bytes)"))
    deleted = sum(a.session_deleted for a in plan.agents)
    done = (
        f"planned {track} with {plan.model} in {plan.duration_s:.1f} s; "
        f"{deleted}/{len(plan.agents)} sessions verified deleted."
    )
    if plan.problems:
        print(visible(done))
        for problem in plan.problems:
            print(problem.render(), file=sys.stderr)
        print(
            visible(
                f"macoder: {shown}: {len(plan.problems)} place(s) of planning debris in what the "
                "agents wrote: delete it from SPEC.md, ARCH.md, QA.md, then `macoder spec merge "
                f"{track}` rewrites PLAN.md; the context-hygiene hook refuses the commit until then"
            ),
            file=sys.stderr,
        )
        return code
    print(
        visible(
            f"{done} Next: review {shown}/PLAN.md, commit it, then "
            f"`macoder generate {shown}/PLAN.md`"
        )
    )
    return code
