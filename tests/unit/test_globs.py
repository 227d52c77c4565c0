"""Which repository paths a `protected_paths` or `test_globs` pattern covers."""

from __future__ import annotations

import pytest

from multi_agent_coder.globs import matches, matching


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("conftest.py", "conftest.py", True),
        ("conftest.py", "pkg/tests/conftest.py", True),
        ("**/conftest.py", "a/b/conftest.py", True),
        ("**/conftest.py", "conftest.py", True),
        ("test_*.py", "tests/unit/test_core.py", True),
        ("test_*.py", "tests/unit/core_test.py", False),
        ("*_test.go", "pkg/x/y_test.go", True),
        (".github/**", ".github/workflows/ci.yml", True),
        (".github/**", "docs/.github/x", False),
        ("tests/**", "tests/a/b.py", True),
        ("tests/**", "src/tests/b.py", False),
        ("src/*/tests/*.py", "src/app/tests/t.py", True),
        ("src/*/tests/*.py", "src/app/deep/tests/t.py", False),
        ("*.spec.*", "web/app.spec.ts", True),
        ("CODEOWNERS", "docs/CODEOWNERS", True),
        ("pytest.ini", "pytest.ini.bak", False),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("file[1].txt", "file[1].txt", True),  # brackets are literal, not a class
        ("file[1].txt", "file1.txt", False),
    ],
)
def test_a_pattern_covers_what_gitignore_would(pattern: str, path: str, expected: bool) -> None:
    assert matches(path, [pattern]) is expected


def test_matching_keeps_the_order_given() -> None:
    paths = ["b/test_x.py", "README.md", "a/test_y.py"]
    assert matching(paths, ["test_*.py", "nope"]) == ["b/test_x.py", "a/test_y.py"]
    assert matching(paths, []) == []
