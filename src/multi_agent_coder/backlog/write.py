"""Changing BACKLOG.yaml without losing anything.

A status change replaces exactly the characters of that one scalar, keeping its quoting: every
other byte of the file (comments, key order, blank lines, indentation, line endings, a BOM) is
untouched. That is stricter than a round-trip dump, which re-emits the whole document and may
re-wrap or re-indent lines nobody asked to change, and it keeps task PRs mergeable side by side:
each flips only its own `status:` line.

Every write is: read under a lock, edit in memory, validate the result (refused whole if it does
not validate), refuse a read-only file or directory, write a temp file in the same directory,
fsync, atomic rename, fsync the directory. A crash at any point leaves either the old file or
the new one, never half of either; a refusal leaves the file byte-identical.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multi_agent_coder.backlog.load import DEFAULT_CHECKS, Check, load_bytes, read_bytes
from multi_agent_coder.backlog.model import TaskStatus
from multi_agent_coder.errors import (
    BacklogChangedError,
    BacklogInvalidError,
    NotWritableError,
    UnknownTaskError,
    WriteRefusedError,
)
from multi_agent_coder.ids import validate_task_id
from multi_agent_coder.limits import MAX_FILE_BYTES
from multi_agent_coder.problems import errors_in
from multi_agent_coder.userfiles import resolve_user_file
from multi_agent_coder.yamlread import (
    Span,
    YamlError,
    decode,
    locate_scalar,
    parse_fast,
    parse_with_positions,
    resolve_plain,
    split_bom,
)

_QUOTES = ("'", '"')


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock on the directory itself: no lock file is left behind, and it
    serialises every macoder writer of any file in that directory (lock held across the rename,
    which a lock on the file's own inode would not survive)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` all at once, keeping its permission bits."""
    directory = path.parent
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def replace_scalar(text: str, start: int, end: int, value: str) -> str:
    """`text` with the scalar at [start, end) replaced by `value`, in the same quoting style."""
    old = text[start:end]
    quote = old[0] if old and old[0] in _QUOTES else ""
    return text[:start] + quote + value + quote + text[end:]


def set_task_status(
    path: Path,
    task_id: str,
    status: TaskStatus,
    *,
    display: str | None = None,
    checks: Sequence[Check] = DEFAULT_CHECKS,
    max_bytes: int = MAX_FILE_BYTES,
) -> bool:
    """Set one task's status in the file at `path`. Returns False when it already had it.

    Raises `InvalidTaskIdError` / `UnknownTaskError` (usage), `UnreadableFileError` when the
    path is no regular file in the repository (`userfiles`), `BacklogInvalidError` when the
    file is already invalid, `WriteRefusedError` when the edited file would not validate,
    `NotWritableError` when the file or its directory may not be written. Whatever is
    raised, the file is as it was.
    """
    validate_task_id(task_id)
    shown = display or str(path)
    # Write through a symlinked backlog to its target (kept a link), checked like any read.
    target = resolve_user_file(path, shown=shown)
    try:
        with directory_lock(target.parent):
            raw = read_bytes(target, shown, max_bytes)
            new_raw = with_task_status(raw, task_id, status, shown, checks)
            if new_raw is None:
                return False
            require_writable(target, shown)
            atomic_write(target, new_raw)
            return True
    except OSError as exc:
        raise NotWritableError(f"{shown}: not written: {exc.strerror or exc}") from None


def replace_if_unchanged(
    path: Path,
    before: bytes,
    after: bytes,
    *,
    display: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> None:
    """Write `after` over the file at `path` if it still holds exactly `before`.

    For an edit prepared from bytes read long before (a model's answer, minutes later): under
    the directory lock the file is read again, and any difference — a person saved the file,
    another macoder wrote it — is `BacklogChangedError`, the file as that edit left it. The
    rest is `set_task_status`'s write: through a symlink to its target, refused when read-only,
    temp file and atomic rename.
    """
    shown = display or str(path)
    target = resolve_user_file(path, shown=shown)
    try:
        with directory_lock(target.parent):
            if read_bytes(target, shown, max_bytes) != before:
                raise BacklogChangedError(
                    f"{shown}: changed on disk while macoder was working; not written, your "
                    "edit is kept as it is. Run the command again on the file as it is now"
                )
            require_writable(target, shown, purpose="write it")
            atomic_write(target, after)
    except OSError as exc:
        raise NotWritableError(f"{shown}: not written: {exc.strerror or exc}") from None


def require_writable(path: Path, shown: str, *, purpose: str = "change a status") -> None:
    """Refuse to replace a read-only file, or one in a read-only directory; `purpose` says,
    in the message, what making it writable would allow.

    The rename that replaces the file asks only the directory, so without this a 0444
    backlog would be replaced silently; and `os.access` says yes to root whatever the mode.
    So the mode bits are read here as well: no write bit means read-only, for root too.
    """
    for place, what in ((path, "the file"), (path.parent, "its directory")):
        mode = place.stat().st_mode
        if not mode & 0o222 or not os.access(place, os.W_OK):
            where = "" if place == path else f" {place}"
            raise NotWritableError(
                f"{shown}: not written: {what}{where} is read-only (mode "
                f"{stat.S_IMODE(mode):o}); make it writable to {purpose}"
            )


def with_task_status(
    raw: bytes,
    task_id: str,
    status: TaskStatus,
    shown: str,
    checks: Sequence[Check] = DEFAULT_CHECKS,
) -> bytes | None:
    """The backlog `raw` with one task's status set (None: it already has it). Pure: the
    writer above and the publish job's check of a task branch's backlog both call it, so
    "only the task's own status changed" means exactly what macoder itself writes.

    Validated once: the file is loaded and checked as `macoder check` does, then the checks
    run again on that model with the one status changed — which is what the edited file
    parses to, since only that scalar's characters are replaced, by a status word in the same
    quoting — and the edit is spliced into the text. Only a refusal re-reads the edited text
    (to point at each problem's line). So `mark` builds no more than `check` does.
    """
    validate_task_id(task_id)
    current = load_bytes(raw, shown, checks)
    backlog = current.backlog
    if backlog is None or errors_in(current.problems):
        raise BacklogInvalidError(errors_in(current.problems) or current.problems)
    index = backlog.task_index().get(task_id)
    if index is None:
        raise UnknownTaskError(task_id, shown, [t.id for t in backlog.tasks])
    if backlog.tasks[index].status is status:
        return None
    tasks = list(backlog.tasks)
    tasks[index] = tasks[index].model_copy(update={"status": status})
    entries, ids = list(enumerate(tasks)), {task.id for task in tasks}
    clean = not any(check(entries, ids) for check in checks)
    del current, backlog, tasks, entries
    text = decode(raw)
    span = locate_scalar(text, ("tasks", index, "status")) or _exact_span(text, index)
    bom, _ = split_bom(raw)  # the loader's own rule; a refused BOM never got this far
    new_raw = bom + replace_scalar(text, span.start, span.end, status.value).encode("utf-8")
    del text
    if clean:
        return new_raw
    errors = errors_in(load_bytes(new_raw, shown, checks).problems)
    if errors:
        raise WriteRefusedError(
            errors,
            f"{shown}: not written: setting {task_id} to {status.value} would make the "
            f"backlog invalid ({len(errors)} problem{'s' if len(errors) > 1 else ''} above)",
        )
    return new_raw


def _exact_span(text: str, index: int) -> Span:
    """The status scalar's span from a full parse with positions: for what the streaming
    `locate_scalar` leaves (a status written through an alias)."""
    try:
        _, positions = parse_with_positions(text)
    except YamlError as exc:  # pragma: no cover - the file validated a moment ago
        raise BacklogInvalidError([]) from exc
    return positions.values[("tasks", index, "status")]


# --- appending tasks (`macoder generate`) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class TasksLayout:
    """Where and how the file writes its `tasks` list, read from the parser's events (which,
    unlike the nodes' spans, place an alias where it is written and end a block collection
    at its last character rather than at the next token after its trailing comments)."""

    #: Flow style (`tasks: []`, `tasks: [{...}]`) or block (`- id: ...` lines).
    flow: bool
    #: The list's first character (`[` or the first item's `-`) and, for a flow list, the
    #: character just after its `]`.
    start: int
    end: int
    #: Column (0-based) of a block list's `-`.
    column: int
    #: Where each item starts, and where the last item's last value ends.
    items: tuple[int, ...]
    content_end: int


def tasks_layout(text: str) -> TasksLayout | None:
    """The layout of the top-level `tasks` sequence of `text`, or None when there is none."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    nodes = (yaml.ScalarEvent, yaml.AliasEvent, *starts)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    stack: list[list[bool]] = []  # per open collection: [mapping, flow, key next]
    level: int | None = None  # len(stack) inside the tasks sequence
    tasks_next = False
    flow = False
    start = column = content_end = 0
    items: list[int] = []
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, nodes):
            parent = stack[-1] if stack else None
            is_key = parent is not None and parent[0] and parent[2]
            if parent is not None and parent[0]:
                parent[2] = not parent[2]
            if level is not None and len(stack) == level:
                items.append(_mark(event.start_mark)[0])
            if level is not None and isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
                content_end = _mark(event.end_mark)[0]
            if tasks_next and len(stack) == 1:
                tasks_next = False
                if not isinstance(event, yaml.SequenceStartEvent):
                    return None
                flow, start = bool(event.flow_style), _mark(event.start_mark)[0]
                column, level = _mark(event.start_mark)[1], 2
            elif is_key and len(stack) == 1 and getattr(event, "value", None) == "tasks":
                tasks_next = True
            if isinstance(event, starts):
                mapping = isinstance(event, yaml.MappingStartEvent)
                stack.append([mapping, bool(event.flow_style), True])
        elif isinstance(event, ends):
            closed = stack.pop()
            if level is not None and len(stack) + 1 == level:
                end = _mark(event.end_mark)[0]
                return TasksLayout(flow, start, end, column, tuple(items), content_end)
            if level is not None and closed[1]:
                content_end = _mark(event.end_mark)[0]
    return None


def _mark(mark: Any) -> tuple[int, int]:
    """(offset, 0-based column) of a parser mark (every event from a parse carries both)."""
    return int(mark.index), int(mark.column)


@dataclass(frozen=True, slots=True)
class Appended:
    """The backlog with tasks appended: its bytes as they would be written, its text, and the
    appended block (as inserted, `\\n` line ends) with the line its first task starts on."""

    raw: bytes
    text: str
    block: str
    first_line: int


class AppendError(ValueError):
    """The tasks could not be appended so that the file reads back as the old one plus them
    (a macoder bug, never the model's: the file is left alone)."""


def with_tasks_appended(raw: bytes, tasks: Sequence[Any]) -> Appended:
    """The backlog `raw` with `tasks` (plain data) added at the end of its `tasks` list.

    Every byte before the insertion point and after it stays as it is — comments, key order,
    quoting, a BOM, CRLF line ends — the way `with_task_status` keeps them: the new entries
    are text spliced in, in the list's own style (block items at its indentation, a blank
    line between tasks where the file has one; a flow list gets flow items; `tasks: []`
    becomes a block list). The result is parsed again and must read as the old data plus
    `tasks`, or `AppendError` says why nothing can be written. Pure.
    """
    bom, _ = split_bom(raw)
    text = decode(raw)
    layout = tasks_layout(text)
    if layout is None:
        raise AppendError("the file has no top-level 'tasks' list")
    before = _data(text)
    expected = repr({**before, "tasks": [*before["tasks"], *tasks]})
    newline = "\r\n" if "\r\n" in text else "\n"
    for blank in (True, False):
        new_text, block, at = _splice(text, layout, tasks, blank=blank)
        new_text = new_text if newline == "\n" else _crlf(text, new_text, at, len(block))
        if repr(_data(new_text)) == expected:
            first = at
            while first < len(new_text) and new_text[first] in "\r\n":
                first += 1  # past the blank line that separates the tasks
            first_line = new_text.count("\n", 0, first) + 1
            return Appended(bom + new_text.encode("utf-8"), new_text, block, first_line)
    raise AppendError("the appended tasks would not read back as written")


def _data(text: str) -> dict[str, Any]:
    data = parse_fast(text)
    if not isinstance(data, dict):
        data, _ = parse_with_positions(text)
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise AppendError("the file is not a mapping with a 'tasks' list")
    return data


def _crlf(old: str, new: str, at: int, size: int) -> str:
    """`new` (which is `old` with `size` characters inserted at `at`) with the inserted
    characters' line ends written as CRLF, like the rest of the file."""
    inserted = new[at : at + size].replace("\r\n", "\n").replace("\n", "\r\n")
    return new[:at] + inserted + new[at + size :]


def _splice(
    text: str, layout: TasksLayout, tasks: Sequence[Any], *, blank: bool
) -> tuple[str, str, int]:
    """(the new text, the inserted block, where it starts)."""
    if layout.flow and layout.items:
        closing = layout.end - 1  # the `]`
        comma = "" if text[:closing].rstrip().endswith(",") else ","
        block = comma + " " + ", ".join(_render_flow(task) for task in tasks)
        return text[:closing] + block + text[closing:], block, closing
    if layout.flow:  # `tasks: []`: a block list under the key, the line's comment kept
        line_end = text.find("\n", layout.end)
        line_end = len(text) if line_end < 0 else line_end
        head = text[: layout.start].rstrip(" \t") + text[layout.end : line_end]
        block = _render_block(tasks, indent=2, blank=blank)
        rest = text[line_end + 1 :] if line_end < len(text) else ""
        return head + "\n" + block + rest, block, len(head) + 1
    at = layout.content_end
    if not (at > 0 and text[at - 1] == "\n"):
        line_end = text.find("\n", at)
        if line_end < 0:
            text += "\n"
            line_end = len(text) - 1
        at = line_end + 1
    separate = blank and _blank_lines_between(text, layout) and not text[:at].endswith("\n\n")
    block = ("\n" if separate else "") + _render_block(tasks, indent=layout.column, blank=blank)
    return text[:at] + block + text[at:], block, at


def _blank_lines_between(text: str, layout: TasksLayout) -> bool:
    """Whether the file separates tasks with a blank line: the line before its last task's
    first line is blank (a one-task file is given the blank line)."""
    if len(layout.items) < 2:
        return True
    line_start = text.rfind("\n", 0, layout.items[-1]) + 1
    previous_start = text.rfind("\n", 0, max(line_start - 1, 0)) + 1
    return not text[previous_start : max(line_start - 1, previous_start)].strip()


def _render_block(tasks: Sequence[Any], *, indent: int, blank: bool) -> str:
    """Block-style items at `indent`, a blank line between tasks when `blank`."""
    pad = " " * indent
    rendered = []
    for task in tasks:
        body = _dump([_styled(task)], flow=False)
        rendered.append(
            "".join(pad + line if line.strip() else line for line in body.splitlines(True))
        )
    return ("\n" if blank else "").join(rendered)


def _render_flow(task: Any) -> str:
    return _dump(_styled(task), flow=True).strip()


class _FlowList(list[Any]):
    """A list written `[a, b]` in a block document (ids and paths, as people write them)."""


def _styled(task: Any) -> Any:
    """`depends_on` and `scope.files_hint` as flow lists when they hold only plain strings."""
    if not isinstance(task, dict):
        return task
    styled = dict(task)

    def flow(value: Any) -> Any:
        simple = isinstance(value, list) and all(
            isinstance(v, str) and "\n" not in v for v in value
        )
        return _FlowList(value) if simple else value

    if "depends_on" in styled:
        styled["depends_on"] = flow(styled["depends_on"])
    scope = styled.get("scope")
    if isinstance(scope, dict) and "files_hint" in scope:
        styled["scope"] = {**scope, "files_hint": flow(scope["files_hint"])}
    return styled


def _dump(data: Any, *, flow: bool) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        """Nested block lists indented under their key, as people (and the README) write
        them; strings quoted wherever the YAML 1.2 reader would take them for something else."""

        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else ("'" if _ambiguous(value) else None)
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    def flow_list(dumper: yaml.SafeDumper, value: _FlowList) -> yaml.SequenceNode:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)

    Dumper.add_representer(str, text)
    Dumper.add_representer(_FlowList, flow_list)
    return yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=flow,
        width=1_000_000 if flow else 96,
    )


def _ambiguous(value: str) -> bool:
    """A plain `value` would not read back as this string under the YAML 1.2 core schema."""
    try:
        return resolve_plain(value) != value or not isinstance(resolve_plain(value), str)
    except ValueError:
        return True


# --- replacing one task (`macoder rebase`) ------------------------------------------------


def with_task_replaced(raw: bytes, index: int, task: Any) -> bytes:
    """The backlog `raw` with task number `index` (0-based) replaced by `task` (plain data).

    Every byte outside that one entry stays as it is — the comments and blank lines after it
    too, the other tasks, a BOM, CRLF line ends — as `with_tasks_appended` keeps them; the
    entry itself is written anew in the list's block style (a comment inside the old entry
    went with the text it described). A flow-style `tasks` list is refused, as is a result
    that would not read back as the old data with that one task replaced (`AppendError`,
    nothing is written). Pure.
    """
    bom, _ = split_bom(raw)
    text = decode(raw)
    layout = tasks_layout(text)
    if layout is None:
        raise AppendError("the file has no top-level 'tasks' list")
    if layout.flow:
        raise AppendError("the 'tasks' list is written in flow style ([...]); rewrite it by hand")
    if not 0 <= index < len(layout.items):
        raise AppendError(f"the file has no task number {index + 1}")
    before = _data(text)
    tasks = list(before["tasks"])
    tasks[index] = task
    expected = repr({**before, "tasks": tasks})
    start, end = _entry_span(text, layout, index)
    rendered = _render_block([task], indent=layout.column, blank=False)
    rendered = rendered[layout.column :]  # the old entry's `-` already has its indentation
    newline = "\r\n" if "\r\n" in text else "\n"
    if newline != "\n":
        rendered = rendered.replace("\n", "\r\n")
    new_text = text[:start] + rendered + text[end:]
    if repr(_data(new_text)) != expected:
        raise AppendError("the rewritten task would not read back as written")
    return bom + new_text.encode("utf-8")


def entry_span(text: str, index: int) -> tuple[int, int] | None:
    """Where task number `index` (0-based) of a block-style `tasks` list is written in
    `text`: from its `-` to the end of its last line (the blank and comment lines after it
    belong to what follows), or None when there is no such entry. What `with_task_replaced`
    replaces, and all that a rewrite's hand-off may change (`run/rebase_rules.py`)."""
    layout = tasks_layout(text)
    if layout is None or layout.flow or not 0 <= index < len(layout.items):
        return None
    return _entry_span(text, layout, index)


def _entry_span(text: str, layout: TasksLayout, index: int) -> tuple[int, int]:
    start = text.rfind("-", 0, layout.items[index] + 1)  # the item's node starts after it
    return start, _entry_end(text, layout, index)


def _entry_end(text: str, layout: TasksLayout, index: int) -> int:
    """Just after the line end of the last line that belongs to entry `index`: its content,
    not the blank lines and comment lines that follow it (they belong to what comes next)."""
    if index + 1 < len(layout.items):
        limit = text.rfind("\n", 0, layout.items[index + 1]) + 1
    else:
        line_end = text.find("\n", layout.content_end)
        return len(text) if line_end < 0 else line_end + 1
    start = layout.items[index]
    lines = text[start:limit].splitlines(keepends=True)
    while len(lines) > 1 and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
        lines.pop()
    return start + sum(len(line) for line in lines)
