"""`macoder spec log|show|merge TRACK`: a planning track's files and their history.

A track is a directory `<specs_dir>/<track>/` (setting `specs_dir`, default `specs`) holding
SPEC.md, ARCH.md, QA.md and the PLAN.md merged from them. git keeps every version: `log`
lists the commits that changed the track, `show` prints one of its files at a commit, and
`merge` makes PLAN.md again from the files on disk (after a person edited SPEC.md, say).
"""

from __future__ import annotations

import argparse
import json
import sys

from multi_agent_coder.cli.common import root_of, settings_of

SUBCOMMANDS = {
    "log": "the commits of the current branch that changed the track's files",
    "show": "one of the track's files at a commit (default: PLAN.md at HEAD)",
    "merge": "merge the track's SPEC.md, ARCH.md and QA.md into its PLAN.md (no model)",
}


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="spec_command", metavar="SUBCOMMAND")
    sub.required = True
    for name, text in SUBCOMMANDS.items():
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("track", metavar="TRACK", help="the track, e.g. auth")
        if name == "log":
            command.add_argument("--json", action="store_true", help="print the commits as JSON")
        if name == "show":
            command.add_argument(
                "file",
                metavar="FILE",
                nargs="?",
                default="PLAN.md",
                help="the file of the track (default: PLAN.md)",
            )
            command.add_argument(
                "--at", metavar="REV", default="HEAD", help="the commit (default: HEAD)"
            )
            command.add_argument(
                "--raw",
                action="store_true",
                help="the file's exact bytes (default: control characters made visible)",
            )


def run(args: argparse.Namespace) -> int:
    from multi_agent_coder.ids import validate_track

    validate_track(args.track)  # before the track reaches a path or git
    runs = {"log": _log, "show": _show, "merge": _merge}
    return runs[args.spec_command](args)


def _log(args: argparse.Namespace) -> int:
    from multi_agent_coder.planning.history import spec_log
    from multi_agent_coder.visible import visible

    specs_dir = settings_of(args).specs_dir
    changes = spec_log(root_of(args), specs_dir, args.track)
    if args.json:
        print(json.dumps([change.as_json() for change in changes], indent=2))
        return 0
    if not changes:
        print(visible(f"no commit on this branch changes {specs_dir}/{args.track}/"))
    for change in changes:
        print(visible(f"{change.short}  {change.day}  {change.author}  {change.subject}"))
    return 0


def _show(args: argparse.Namespace) -> int:
    from multi_agent_coder.planning.history import spec_file
    from multi_agent_coder.visible import visible

    settings = settings_of(args)
    found = spec_file(
        root_of(args),
        settings.specs_dir,
        args.track,
        at=args.at,
        file_name=args.file,
        max_bytes=settings.max_file_bytes,
    )
    if args.raw:
        binary = getattr(sys.stdout, "buffer", None)
        if binary is None:  # a text-only stream (tests call `main` with one)
            sys.stdout.write(found.data.decode("utf-8", "surrogateescape"))
            return 0
        sys.stdout.flush()
        binary.write(found.data)
        binary.flush()
        return 0
    shown = visible(found.data.decode("utf-8", "replace"), lines=True)
    sys.stdout.write(shown if shown.endswith("\n") or not shown else shown + "\n")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from multi_agent_coder.planning.files import merge_track
    from multi_agent_coder.visible import visible

    settings = settings_of(args)
    outcome = merge_track(
        root_of(args), settings.specs_dir, args.track, max_bytes=settings.max_file_bytes
    )
    said = "written" if outcome.changed else "unchanged (the merge gives the same bytes)"
    print(visible(f"{outcome.shown}: {said}"))
    return 0
