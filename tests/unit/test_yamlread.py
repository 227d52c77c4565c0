"""The strict YAML reader: core-schema values, positions, and every trap as a located error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.limits import MAX_ALIAS_EXPANSION
from multi_agent_coder.yamlread import (
    YamlError,
    decode,
    locate_scalar,
    parse_fast,
    parse_with_positions,
    resolve_plain,
)


def error_of(text: str) -> YamlError:
    with pytest.raises(YamlError) as caught:
        parse_with_positions(text)
    return caught.value


@pytest.mark.parametrize(
    ("plain", "value"),
    [
        ("yes", "yes"),  # YAML 1.1 would say True; a backlog means the word
        ("no", "no"),
        ("on", "on"),
        ("true", True),
        ("False", False),
        ("~", None),
        ("", None),
        ("null", None),
        ("12", 12),
        ("-3", -3),
        ("0x1F", 31),
        ("0o17", 15),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("2026-01-31", "2026-01-31"),  # dates stay strings: no silent re-formatting
        ("1_000", "1_000"),
        ("T001", "T001"),
    ],
)
def test_plain_scalars_follow_the_yaml_1_2_core_schema(plain: str, value: object) -> None:
    assert resolve_plain(plain) == value


def test_fast_and_slow_paths_agree_on_values() -> None:
    text = (
        'a: "quoted 1"\nb: 1\nc: [yes, true, ~, 0x10, 1.5, .inf]\nd: |\n  block\n'
        "e: 2026-01-31T10:00:00Z\n"
    )
    slow, _ = parse_with_positions(text)
    assert parse_fast(text) == slow
    assert slow == {
        "a": "quoted 1",
        "b": 1,
        "c": ["yes", True, None, 16, 1.5, float("inf")],
        "d": "block\n",
        "e": "2026-01-31T10:00:00Z",
    }


def test_positions_give_line_column_and_character_span_of_every_value_and_key() -> None:
    text = 'title: "héllo"\ntasks:\n  - id: T001\n    deps: [T002, T003]\n'
    _, positions = parse_with_positions(text)
    span = positions.values[("title",)]
    assert (span.line, span.col) == (1, 8)
    assert text[span.start : span.end] == '"héllo"'
    dep = positions.values[("tasks", 0, "deps", 1)]
    assert (dep.line, dep.col) == (4, 18)
    assert text[dep.start : dep.end] == "T003"
    key = positions.keys[("tasks", 0, "deps")]
    assert (key.line, key.col) == (4, 5)


def test_locating_an_absent_field_points_at_the_nearest_enclosing_node() -> None:
    _, positions = parse_with_positions("tasks:\n  - id: T001\n    title: x\n")
    assert positions.locate(("tasks", 0, "status")) == (2, 5)
    assert positions.locate(("nowhere",)) == (1, 1)


def test_keys_are_located_when_asked_for_the_key() -> None:
    _, positions = parse_with_positions("a:\n  bb: 1\n")
    assert positions.locate(("a", "bb"), at_key=True) == (2, 3)
    assert positions.locate(("a", "bb")) == (2, 7)


def test_invalid_utf8_names_the_line_and_column_of_the_first_bad_byte() -> None:
    with pytest.raises(YamlError) as caught:
        decode("a: 1\nbé: \xff\n".encode().replace(b"\xc3\xbf", b"\xff"))
    assert caught.value.code == "encoding"
    assert (caught.value.line, caught.value.col) == (2, 5)
    assert "0xff" in caught.value.message


def test_a_utf8_bom_is_dropped() -> None:
    assert decode(b"\xef\xbb\xbfa: 1\n") == "a: 1\n"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_a_file_without_a_document_is_empty(text: str) -> None:
    error = error_of(text)
    assert (error.code, error.line, error.col) == ("empty-file", 1, 1)


def test_tab_indentation_is_named_as_such() -> None:
    error = error_of("tasks:\n\t- id: T001\n")
    assert error.code == "yaml-syntax"
    assert error.line == 2
    assert "tab" in error.message


def test_duplicate_keys_point_at_the_second_key_and_name_the_first() -> None:
    error = error_of("tasks:\n  - id: T001\n    title: a\n    title: b\n")
    assert (error.code, error.line, error.col) == ("yaml-duplicate-key", 4, 5)
    assert "first at line 3" in error.message


def test_a_second_document_is_refused_where_it_starts() -> None:
    error = error_of("a: 1\n---\nb: 2\n")
    assert (error.code, error.line) == ("yaml-multiple-documents", 3)


def test_explicit_tags_are_refused() -> None:
    error = error_of("a: !!python/object/apply:os.system ['true']\n")
    assert error.code == "yaml-tag"
    assert (error.line, error.col) == (1, 4)


def test_ordinary_aliases_are_expanded() -> None:
    data, _ = parse_with_positions("a: &x [1, 2]\nb: *x\n")
    assert data == {"a": [1, 2], "b": [1, 2]}


def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_by_both_paths_without_expanding_it() -> None:
    text = billion_laughs()
    assert parse_fast(text) is None
    error = error_of(text)
    assert error.code == "yaml-alias-bomb"
    assert f"{MAX_ALIAS_EXPANSION:,}" in error.message


def test_syntax_errors_carry_the_parser_position() -> None:
    error = error_of("a: [1, 2\nb: 3\n")
    assert error.code == "yaml-syntax"
    assert error.line >= 1
    assert error.message.startswith("invalid YAML:")


def test_complex_keys_are_refused() -> None:
    error = error_of("? [a, b]\n: 1\n")
    assert error.code == "yaml-syntax"
    assert "keys" in error.message


def test_fast_path_returns_none_instead_of_raising() -> None:
    assert parse_fast("a: [1\n") is None
    assert parse_fast("a: 1\na: 2\n") is None


# --- locate_scalar: one value's place, streamed ------------------------------------------------


def _scalar_locs(data: Any, loc: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, dict):
        return [found for k, v in data.items() for found in _scalar_locs(v, (*loc, k))]
    if isinstance(data, list):
        return [found for i, v in enumerate(data) for found in _scalar_locs(v, (*loc, i))]
    return [loc]


GOOD = Path(__file__).resolve().parents[2] / "examples" / "backlogs" / "good"


@pytest.mark.parametrize("path", sorted(GOOD.glob("*.yaml")), ids=lambda p: p.name)
def test_locate_scalar_finds_every_scalar_where_the_full_parse_does(path: Path) -> None:
    text = decode(path.read_bytes())
    data, positions = parse_with_positions(text)
    locs = _scalar_locs(data)
    assert len(locs) >= 10
    for loc in locs:
        assert locate_scalar(text, loc) == positions.values[loc], loc


@pytest.mark.parametrize(
    ("text", "loc"),
    [
        ("tasks:\n  - id: T001\n", ("tasks", 0, "status")),  # absent
        ("tasks:\n  - id: T001\n", ("tasks", 0)),  # a mapping, not a scalar
        ("a: &s pending\nb: *s\n", ("b",)),  # an alias: editing it would edit `a`
        ("a: &s pending\nb: *s\n", ("a",)),  # an anchor: editing it would edit `b`
        ("tasks: [\n", ("tasks", 0)),  # does not parse
        ("? [x]\n: 1\nstatus: ok\n", ("status",)),  # a complex key before it
    ],
    ids=["absent", "container", "alias", "anchor", "broken", "complex-key"],
)
def test_locate_scalar_leaves_what_it_cannot_edit_alone(text: str, loc: tuple[Any, ...]) -> None:
    assert locate_scalar(text, loc) is None


def test_locate_scalar_reads_flow_and_block_styles() -> None:
    text = "tasks:\n  - {id: T001, status: 'pending'}\n  - id: T002\n    status: >-\n      done\n"
    first = locate_scalar(text, ("tasks", 0, "status"))
    second = locate_scalar(text, ("tasks", 1, "status"))
    assert first is not None
    assert text[first.start : first.end] == "'pending'"
    assert second is not None
    assert text[second.start : second.end].startswith(">-")
