"""Reading YAML the strict way: a fast path without positions, and a slow path that has them.

Why two parsers: a valid backlog should be checked in a blink (the pre-commit hook runs on every
commit), and the fastest parser measured here, `yaml-rs`, keeps no node positions. Positions
are only needed when there is something to report, so the fast path is tried first and the
slow path (PyYAML's C composer, node by node) runs only when the fast path fails or a check
finds a problem. The slow path is the authority: it decides what the data is and where every
value sits. Both resolve plain scalars with the YAML 1.2 core schema (so `yes` stays a string
and `2026-01-31` is not turned into a date) and both bound alias expansion, so the fast path
never accepts what the slow path would refuse.

Traps turned into clear errors with line and column: bytes that are not UTF-8, tab indentation,
duplicate keys, alias bombs, explicit tags, several documents, an empty file, an integer too
long to convert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from multi_agent_coder.limits import MAX_ALIAS_EXPANSION, MAX_INTEGER_DIGITS, MAX_NESTING
from multi_agent_coder.problems import Loc


class YamlError(Exception):
    """A file that cannot become data, with the place to look (1-based line and column)."""

    def __init__(self, code: str, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.col = col


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node sits: 1-based line/col of its start and the character offsets it covers."""

    line: int
    col: int
    start: int
    end: int


@dataclass(slots=True)
class Positions:
    """Location path -> where the value (and, for mapping entries, the key) is in the text."""

    values: dict[Loc, Span] = field(default_factory=dict)
    keys: dict[Loc, Span] = field(default_factory=dict)
    #: The source the spans index into (to find a phrase inside a value).
    text: str = ""

    def locate_within(self, loc: Loc, phrase: str) -> tuple[int, int] | None:
        """Line and column where `phrase` starts inside the value at `loc`, as the source
        has it: in a block or multi-line scalar that is not the key's line. Letters match
        case-insensitively, any run of spaces or line breaks matches any other; None when
        the value or the phrase is not found."""
        span = self.values.get(loc)
        words = phrase.split()
        if span is None or not words:
            return None
        pattern = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
        found = pattern.search(self.text, span.start, span.end)
        if found is None:
            return None
        at = found.start()
        line = self.text.count("\n", 0, at) + 1
        return line, at - (self.text.rfind("\n", 0, at) + 1) + 1

    def locate(self, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
        """Line and column for `loc`; the nearest enclosing node when `loc` itself is absent
        (a missing field is reported where its parent mapping starts)."""
        if at_key and loc in self.keys:
            key_span = self.keys[loc]
            return key_span.line, key_span.col
        probe = loc
        while True:
            span = self.values.get(probe)
            if span is not None:
                return span.line, span.col
            if not probe:
                return 1, 1
            probe = probe[:-1]


# --- decoding -----------------------------------------------------------------------------

BOM: Final = b"\xef\xbb\xbf"


def split_bom(raw: bytes) -> tuple[bytes, bytes]:
    """(the byte order mark `raw` starts with, or b""; the rest). The one decision on BOMs,
    for the loader and for the writer, which puts back the BOM it found.

    One BOM is what some editors save and is dropped. Two or more are refused: the second is
    no mark but an invisible character (U+FEFF) at the start of the text, which one YAML
    parser skips and another rejects, and whose fix (save the file again) is the author's.
    """
    if not raw.startswith(BOM):
        return b"", raw
    rest = raw[len(BOM) :]
    if rest.startswith(BOM):
        count = 1
        while raw.startswith(BOM, count * len(BOM)):
            count += 1
        raise YamlError(
            "encoding",
            f"the file starts with {count} byte order marks (U+FEFF); keep one at most",
            1,
            1,
        )
    return BOM, rest


def decode(raw: bytes) -> str:
    """UTF-8 text of `raw` without its BOM, or a `YamlError` pointing at the first bad byte."""
    _, raw = split_bom(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        col = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        raise YamlError(
            "encoding",
            f"byte 0x{raw[exc.start]:02x} is not valid UTF-8; save the file as UTF-8",
            line,
            col,
        ) from None
    return text


# --- YAML 1.2 core schema for plain scalars --------------------------------------------------

_NULL: Final = re.compile(r"~|null|Null|NULL|")
_TRUE: Final = re.compile(r"true|True|TRUE")
_FALSE: Final = re.compile(r"false|False|FALSE")
_INT10: Final = re.compile(r"[-+]?[0-9]+")
_INT8: Final = re.compile(r"0o[0-7]+")
_INT16: Final = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF: Final = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN: Final = re.compile(r"\.(nan|NaN|NAN)")


class IntegerTooLongError(ValueError):
    """A plain integer with more than `MAX_INTEGER_DIGITS` digits (never converted)."""

    def __init__(self, digits: int) -> None:
        super().__init__(
            f"a number of {digits:,} digits is too large (at most {MAX_INTEGER_DIGITS} digits); "
            "quote it if it is text"
        )


def _integer(digits: str, base: int) -> int:
    """`int(digits, base)`, refused by length first: past 4,300 decimal digits Python raises
    its own ValueError, and no backlog number is anywhere near `MAX_INTEGER_DIGITS`."""
    count = len(digits.lstrip("+-"))
    if count > MAX_INTEGER_DIGITS:
        raise IntegerTooLongError(count)
    return int(digits, base)


def resolve_plain(value: str) -> Any:
    """The value of a plain (unquoted) scalar under the YAML 1.2 core schema.

    Raises `IntegerTooLongError` for an integer with more than `MAX_INTEGER_DIGITS` digits.
    """
    if _NULL.fullmatch(value):
        return None
    if _TRUE.fullmatch(value):
        return True
    if _FALSE.fullmatch(value):
        return False
    if _INT10.fullmatch(value):
        return _integer(value, 10)
    if _INT8.fullmatch(value):
        return _integer(value[2:], 8)
    if _INT16.fullmatch(value):
        return _integer(value[2:], 16)
    if _FLOAT.fullmatch(value):
        return float(value)
    if _INF.fullmatch(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.fullmatch(value):
        return float("nan")
    return value


# --- fast path -----------------------------------------------------------------------------


def parse_fast(text: str) -> Any | None:
    """The data of a single-document `text`, or None when anything is off.

    None means "ask the slow path", never "the file is empty": the fast path does not report
    errors, it only skips work when there is nothing to report.
    """
    import yaml_rs

    try:
        return yaml_rs.loads(
            text,
            parse_datetime=False,
            alias_limits=yaml_rs.AliasLimits(max_total_replayed_events=MAX_ALIAS_EXPANSION),
        )
    except Exception:
        return None


# --- slow path -----------------------------------------------------------------------------

_CORE: Final = "tag:yaml.org,2002:"
#: Tags PyYAML assigns to untagged nodes; anything else was written explicitly by the author.
_IMPLICIT_SCALAR_TAGS: Final = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "timestamp", "merge", "value")
)
_SEQ: Final = _CORE + "seq"
_MAP: Final = _CORE + "map"


def _span(node: Any) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(start.line + 1, start.column + 1, start.index, end.index)


def _syntax_error(exc: Any, text: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    char = text[mark.index] if mark is not None and mark.index < len(text) else ""
    if char == "\t" or "'\\t'" in problem:
        return YamlError(
            "yaml-syntax", "tab character in indentation; YAML indents with spaces", line, col
        )
    message = f"{context}, {problem}" if context else problem
    return YamlError("yaml-syntax", f"invalid YAML: {message}", line, col)


class _Builder:
    """Turns composed nodes into plain Python data and records every node's position."""

    def __init__(self) -> None:
        self.positions = Positions()
        self._distinct: set[int] = set()
        self._open: set[int] = set()  # the containers being built: an alias to one is a cycle
        self._visits = 0

    def build(self, node: Any, loc: Loc) -> Any:
        self._visits += 1
        self._distinct.add(id(node))
        if len(loc) > MAX_NESTING:
            span = _span(node)
            raise YamlError(
                "yaml-syntax",
                f"nested more than {MAX_NESTING} levels deep; a backlog needs at most a few",
                span.line,
                span.col,
            )
        if id(node) in self._open:
            span = _span(node)
            raise YamlError(
                "yaml-alias-bomb",
                "an anchor is used inside itself (an endless value)",
                span.line,
                span.col,
            )
        if self._visits - len(self._distinct) > MAX_ALIAS_EXPANSION:
            span = _span(node)
            raise YamlError(
                "yaml-alias-bomb",
                f"anchors and aliases expand to more than {MAX_ALIAS_EXPANSION:,} extra nodes",
                span.line,
                span.col,
            )
        self.positions.values.setdefault(loc, _span(node))
        kind = node.id
        if kind == "scalar":
            return self._scalar(node)
        if node.tag not in (_SEQ, _MAP):
            raise self._tag_error(node)
        self._open.add(id(node))
        try:
            if kind == "sequence":
                return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
            return self._mapping(node, loc)
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: Any) -> Any:
        if node.tag not in _IMPLICIT_SCALAR_TAGS:
            raise self._tag_error(node)
        if node.style:
            return node.value
        try:
            return resolve_plain(node.value)
        except IntegerTooLongError as exc:
            span = _span(node)
            raise YamlError("number-out-of-range", str(exc), span.line, span.col) from None

    def _mapping(self, node: Any, loc: Loc) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first_seen: dict[Any, Span] = {}
        for key_node, value_node in node.value:
            key_span = _span(key_node)
            if key_node.id != "scalar":
                raise YamlError(
                    "yaml-syntax",
                    "mapping keys must be plain words, not lists or mappings",
                    key_span.line,
                    key_span.col,
                )
            key = self._scalar(key_node)
            hashable_key = key if not isinstance(key, float) else repr(key)
            if hashable_key in first_seen:
                first = first_seen[hashable_key]
                raise YamlError(
                    "yaml-duplicate-key",
                    f"key {key!r} appears twice in this mapping (first at line {first.line})",
                    key_span.line,
                    key_span.col,
                )
            first_seen[hashable_key] = key_span
            child: Loc = (*loc, key)
            self.positions.keys.setdefault(child, key_span)
            out[key] = self.build(value_node, child)
        return out

    @staticmethod
    def _tag_error(node: Any) -> YamlError:
        span = _span(node)
        return YamlError(
            "yaml-tag",
            f"explicit tag {node.tag!r} is not allowed; write plain values",
            span.line,
            span.col,
        )


def parse_with_positions(text: str) -> tuple[Any, Positions]:
    """Data and positions of a single-document `text`, or a `YamlError` saying where and why."""
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        if not loader.check_node():
            raise YamlError("empty-file", "the file holds no YAML document", 1, 1)
        root: Any = loader.get_node()
        if loader.check_node():
            extra = loader.get_node()
            span = _span(extra) if extra is not None else Span(1, 1, 0, 0)
            raise YamlError(
                "yaml-multiple-documents",
                "a second YAML document (after a '---' line) begins here; "
                "a backlog is one document",
                span.line,
                span.col,
            )
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from None
    finally:
        loader.dispose()
    if root is None or (root.id == "scalar" and root.value == "" and not root.style):
        raise YamlError("empty-file", "the file holds no YAML document", 1, 1)
    builder = _Builder()
    data = builder.build(root, ())
    builder.positions.text = text
    return data, builder.positions


@dataclass(slots=True)
class _Frame:
    """An open mapping or sequence while streaming events: where it is and what comes next."""

    loc: Loc
    mapping: bool
    key: Any = None
    want_key: bool = True
    index: int = 0


def locate_scalar(text: str, loc: Loc) -> Span | None:
    """Where the scalar value at `loc` is in `text`, found by streaming the parser's events.

    For an edit of one value in a large file (`mark`): `parse_with_positions` keeps a node, a
    Python value and a position for every node of the document (45x the file in memory, 15 s
    for 10,000 tasks); this keeps one frame per open container and stops at the value. None
    when `loc` is not a scalar written there (absent, a container, an alias of another node),
    or when the text does not parse: the caller then takes the slow, exact path.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    stack: list[_Frame] = []
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                _advance(stack)
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue  # stream and document boundaries
            top = stack[-1] if stack else None
            if top is not None and top.mapping and top.want_key:
                if not isinstance(event, yaml.ScalarEvent):
                    return None  # a complex key: nothing macoder writes
                top.key, top.want_key = event.value, False
                continue
            here: Loc = () if top is None else (*top.loc, top.key if top.mapping else top.index)
            if here == loc:
                start, end = event.start_mark, event.end_mark
                if not isinstance(event, yaml.ScalarEvent) or event.anchor or not start or not end:
                    return None
                return Span(start.line + 1, start.column + 1, start.index, end.index)
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                stack.append(_Frame(here, isinstance(event, yaml.MappingStartEvent)))
            else:
                _advance(stack)
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _advance(stack: list[_Frame]) -> None:
    """A value of the innermost container has ended: the next is its next key or item."""
    if not stack:
        return
    top = stack[-1]
    if top.mapping:
        top.want_key = True
    else:
        top.index += 1
