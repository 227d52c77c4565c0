"""`macoder check` on every example backlog, run as a user runs it: the real CLI in a subprocess.

`examples/backlogs/bad/expected.json` is the specification: for each bad file, every problem
`check` must report, in output order, as `[line, col, code]` (1-based). Each bad file holds one
mistake (a YAML trap, a schema error, a graph rule, a hygiene rule), so a failure here names
the one behaviour that changed. Good files must pass with "no problems"; the files under
`warn/` pass with a warning and fail only under `--strict`.

Every run happens on a copy in a temporary directory, so the repository's files are never at
risk, and each test checks that `check` left the file byte for byte as it was.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from multi_agent_coder.problems import CODES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "backlogs"
BAD = EXAMPLES / "bad"
GOOD = EXAMPLES / "good"
WARN = EXAMPLES / "warn"
EXPECTED: dict[str, list[list[int | str]]] = json.loads((BAD / "expected.json").read_text())
EXPECTED_WARNINGS: dict[str, list[list[int | str]]] = json.loads(
    (WARN / "expected.json").read_text()
)
WARNING_CODES = {"context-truncated"}

BAD_FILES = sorted(p.name for p in BAD.glob("*.yaml"))
GOOD_FILES = sorted(p.name for p in GOOD.glob("*.yaml"))
WARN_FILES = sorted(p.name for p in WARN.glob("*.yaml"))

#: `PATH:LINE:COL: [field:] [warning: ]message [code]`, one problem per line.
PROBLEM_LINE = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): .* \[(?P<code>[a-z0-9-]+)\]$"
)
ANNOTATION = re.compile(
    r"^::(?P<level>error|warning) file=(?P<file>[^,]+),line=(?P<line>\d+),col=(?P<col>\d+),"
    r"title=(?P<code>[a-z0-9-]+)::(?P<message>.+)$"
)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def macoder(*args: str, cwd: Path) -> Run:
    """The CLI exactly as `python -m multi_agent_coder ...` runs it, with a time limit."""
    done = subprocess.run(
        [sys.executable, "-m", "multi_agent_coder", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def copy_into(directory: Path, source: Path, names: Sequence[str]) -> dict[str, bytes]:
    """Copy `names` from `source` into `directory`; return each file's original bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    originals = {}
    for name in names:
        shutil.copyfile(source / name, directory / name)
        originals[name] = (source / name).read_bytes()
    return originals


def problems_in_text(stdout: str) -> dict[str, list[list[int | str]]]:
    """Per path, `[line, col, code]` of every problem line, in output order."""
    found: dict[str, list[list[int | str]]] = {}
    for line in stdout.splitlines():
        match = PROBLEM_LINE.match(line)
        if match:
            found.setdefault(match["path"], []).append(
                [int(match["line"]), int(match["col"]), match["code"]]
            )
    return found


def as_triples(problems: list[dict[str, object]]) -> list[list[int | str]]:
    return [[int(str(p["line"])), int(str(p["col"])), str(p["code"])] for p in problems]


# --- the specification itself ------------------------------------------------------------


def test_expected_json_names_exactly_the_bad_files() -> None:
    assert sorted(EXPECTED) == BAD_FILES


def test_every_expected_problem_is_a_known_code_with_a_real_position() -> None:
    for name, problems in {**EXPECTED, **EXPECTED_WARNINGS}.items():
        assert problems, f"{name}: a bad example must expect at least one problem"
        for line, col, code in problems:
            assert code in CODES, f"{name}: unknown code {code!r}"
            assert isinstance(line, int), name
            assert isinstance(col, int), name
            assert line >= 1, name
            assert col >= 1, name


def test_the_bad_files_together_cover_every_error_code() -> None:
    covered = {code for problems in EXPECTED.values() for _, _, code in problems}
    assert covered == set(CODES) - WARNING_CODES


def test_bad_files_report_errors_only_and_warn_files_warnings_only() -> None:
    bad_codes = {code for problems in EXPECTED.values() for _, _, code in problems}
    warn_codes = {code for problems in EXPECTED_WARNINGS.values() for _, _, code in problems}
    assert not bad_codes & WARNING_CODES
    assert warn_codes == WARNING_CODES
    assert sorted(EXPECTED_WARNINGS) == WARN_FILES


def test_there_are_at_least_35_bad_examples() -> None:
    assert len(BAD_FILES) >= 35


def test_the_invalid_utf8_example_really_holds_a_byte_that_is_not_utf8() -> None:
    raw = (BAD / "encoding-invalid-utf8.yaml").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_the_crlf_example_really_has_crlf_line_endings_and_non_ascii_text() -> None:
    raw = (GOOD / "formatted-crlf.yaml").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") > 10
    assert not raw.isascii()


def test_the_empty_example_is_really_empty() -> None:
    assert (BAD / "empty-file.yaml").read_bytes() == b""


# --- each bad file, alone ----------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_FILES)
def test_check_reports_exactly_the_expected_problems(name: str, tmp_path: Path) -> None:
    original = copy_into(tmp_path, BAD, [name])[name]

    run = macoder("check", name, cwd=tmp_path)

    assert "Traceback" not in run.stdout + run.stderr
    assert run.code == 1, run.stdout + run.stderr
    assert problems_in_text(run.stdout).get(name, []) == EXPECTED[name], run.stdout
    lines = run.stdout.splitlines()
    assert len(lines) == len(EXPECTED[name]) + 1, "one line per problem, then the summary"
    assert re.fullmatch(rf"{len(EXPECTED[name])} error\(s\), 0 warning\(s\) in 1 file", lines[-1])
    assert (tmp_path / name).read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == [name], "check must create no files"


# --- all bad files in one run, in every format -------------------------------------------


@pytest.fixture(scope="module")
def all_bad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    directory = tmp_path_factory.mktemp("bad")
    return directory, copy_into(directory, BAD, BAD_FILES)


@pytest.fixture(scope="module")
def text_run(all_bad: tuple[Path, dict[str, bytes]]) -> Run:
    directory, _ = all_bad
    return macoder("check", *BAD_FILES, cwd=directory)


@pytest.fixture(scope="module")
def json_run(all_bad: tuple[Path, dict[str, bytes]]) -> Run:
    directory, _ = all_bad
    return macoder("check", "--format", "json", *BAD_FILES, cwd=directory)


@pytest.fixture(scope="module")
def github_run(all_bad: tuple[Path, dict[str, bytes]]) -> Run:
    directory, _ = all_bad
    return macoder("check", "--format", "github", *BAD_FILES, cwd=directory)


def test_checking_all_bad_files_at_once_fails_and_leaves_them_unchanged(
    all_bad: tuple[Path, dict[str, bytes]], text_run: Run, json_run: Run, github_run: Run
) -> None:
    directory, originals = all_bad
    for run in (text_run, json_run, github_run):
        assert run.code == 1
        assert "Traceback" not in run.stdout + run.stderr
    for name, data in originals.items():
        assert (directory / name).read_bytes() == data, name
    total = sum(len(problems) for problems in EXPECTED.values())
    assert text_run.stdout.splitlines()[-1] == (
        f"{total} error(s), 0 warning(s) in {len(BAD_FILES)} files"
    )


@pytest.mark.parametrize("name", BAD_FILES)
def test_one_run_over_all_files_reports_each_file_as_alone(name: str, text_run: Run) -> None:
    assert problems_in_text(text_run.stdout).get(name, []) == EXPECTED[name]


#: What the message must tell the user, beyond the code: the fix, or the other place involved.
MESSAGE_HINTS = {
    "encoding-invalid-utf8.yaml": "byte 0xe9 is not valid UTF-8",
    "tab-indentation.yaml": "tab character in indentation",
    "duplicate-key-top-level.yaml": "'track_id' appears twice in this mapping (first at line 3)",
    "duplicate-key-in-task.yaml": "'status' appears twice in this mapping (first at line 10)",
    "python-object-tag.yaml": "python/object/apply:os.system' is not allowed",
    "version-unquoted-number.yaml": "quote it to keep it as written: '1.0'",
    "status-typo.yaml": "did you mean 'pending'?",
    "unknown-key-close-match.yaml": "unknown key 'dependson'; did you mean 'depends_on'?",
    "unknown-key-no-close-match.yaml": "unknown key 'priority'; allowed: id, title, description",
    "missing-title.yaml": "required field 'title' is missing",
    "files-hint-absolute.yaml": "'/etc/passwd' is absolute",
    "files-hint-parent-dir.yaml": "leaves the repository",
    "id-shell-metacharacters.yaml": "'T001;ls' is not a task id",
    "timestamp-not-iso.yaml": "is not an ISO 8601 date or timestamp",
    "dependency-cycle.yaml": "T001 -> T002 -> T003 -> T001; members: T001 (line 7), T002 (line 16)",
    "duplicate-id.yaml": "id 'T001' is already used by tasks[0] (line 7)",
    "unknown-dependency.yaml": "unknown task 'T009'",
    "completed-before-dependency.yaml": "depends on 'T001', which is pending (line 10)",
    "debris-in-acceptance.yaml": '"on second thought"',
    "cross-task-reference.yaml": "(T001)",
    "full-file-paste.yaml": "60 lines",
    "invalid-pattern.yaml": "'path:45-78 - description'",
    "context-too-large.yaml": "3456 bytes, over the 3000-byte limit",
    "estimated-hours-infinite.yaml": "must be a finite number, got inf",
    "estimated-hours-overflow.yaml": "such as 1e400",
    "estimated-hours-absurd.yaml": "must be at most 1000, got 5000",
    "attempts-too-many-digits.yaml": "a number of 5,000 digits is too large",
    "confusable-ids.yaml": "'T0001' differs from 'T001' (tasks[0], line 7) only in leading zeros",
    "files-hint-git-dir.yaml": "points into version-control metadata ('.git')",
    "title-escape-sequence.yaml": "control character U+001B (\\x1b)",
    "title-bidi-override.yaml": "control character U+202E (\\u202e)",
    "description-bell.yaml": "U+0007 (\\x07) at character 31 of 31",
}


@pytest.mark.parametrize("name", sorted(MESSAGE_HINTS))
def test_the_message_says_what_is_wrong_and_where_else_to_look(name: str, text_run: Run) -> None:
    messages = [line for line in text_run.stdout.splitlines() if line.startswith(name + ":")]
    assert any(MESSAGE_HINTS[name] in message for message in messages), messages


@pytest.mark.parametrize("name", BAD_FILES)
def test_json_format_reports_the_same_problems(name: str, json_run: Run) -> None:
    document = json.loads(json_run.stdout)
    files = {entry["path"]: entry for entry in document["files"]}
    assert document["ok"] is False
    assert as_triples(files[name]["problems"]) == EXPECTED[name]
    assert all(p["severity"] == "error" for p in files[name]["problems"])
    assert all(p["message"] for p in files[name]["problems"])


@pytest.mark.parametrize("name", BAD_FILES)
def test_github_format_annotates_each_problem_on_its_line(name: str, github_run: Run) -> None:
    annotations = [m for m in map(ANNOTATION.match, github_run.stdout.splitlines()) if m]
    mine = [[int(m["line"]), int(m["col"]), m["code"]] for m in annotations if m["file"] == name]
    assert mine == EXPECTED[name]
    assert all(m["level"] == "error" for m in annotations if m["file"] == name)


def test_github_format_prints_only_annotations_and_a_summary(github_run: Run) -> None:
    *annotations, summary = github_run.stdout.splitlines()
    assert all(ANNOTATION.match(line) for line in annotations), annotations
    assert len(annotations) == sum(len(problems) for problems in EXPECTED.values())
    assert "error(s)" in summary


# --- good and warning examples -----------------------------------------------------------


@pytest.mark.parametrize("name", GOOD_FILES)
def test_good_example_passes_with_no_problems(name: str, tmp_path: Path) -> None:
    original = copy_into(tmp_path, GOOD, [name])[name]

    run = macoder("check", "--strict", name, cwd=tmp_path)

    assert run.code == 0, run.stdout + run.stderr
    assert run.stdout == "ok: 1 file checked, no problems\n"
    assert run.stderr == ""
    assert (tmp_path / name).read_bytes() == original


def test_good_examples_pass_as_json_too(tmp_path: Path) -> None:
    copy_into(tmp_path, GOOD, GOOD_FILES)

    run = macoder("check", "--format", "json", *GOOD_FILES, cwd=tmp_path)

    assert run.code == 0
    document = json.loads(run.stdout)
    assert document["ok"] is True
    assert document["errors"] == document["warnings"] == 0
    assert [f["path"] for f in document["files"]] == GOOD_FILES
    assert all(f["tasks"] >= 1 and f["problems"] == [] for f in document["files"])


@pytest.mark.parametrize("name", WARN_FILES)
def test_a_warning_is_shown_but_passes_unless_strict(name: str, tmp_path: Path) -> None:
    original = copy_into(tmp_path, WARN, [name])[name]

    relaxed = macoder("check", name, cwd=tmp_path)
    strict = macoder("check", "--strict", name, cwd=tmp_path)

    assert relaxed.code == 0, relaxed.stdout + relaxed.stderr
    assert strict.code == 1
    for run in (relaxed, strict):
        assert problems_in_text(run.stdout)[name] == EXPECTED_WARNINGS[name]
        assert all(": warning: " in line for line in run.stdout.splitlines()[:-1])
        assert run.stdout.splitlines()[-1].endswith("warning(s) in 1 file")
    assert (tmp_path / name).read_bytes() == original
