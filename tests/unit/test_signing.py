"""`pull_request.sign_commits`: which commits GitHub's API can make exactly, and whose
API-made commits are macoder's."""

from __future__ import annotations

import pytest

from multi_agent_coder.errors import UnsignableError
from multi_agent_coder.forge.signing import (
    FileChanges,
    RawChange,
    bot_email,
    file_changes,
    made_through_the_api,
    parse_raw,
)

ACTIONS = "41898282+github-actions[bot]@users.noreply.github.com"


@pytest.mark.parametrize(
    ("author", "committer", "macoders"),
    [
        (ACTIONS, "noreply@github.com", True),  # the workflow's GITHUB_TOKEN
        ("4242+My-App[bot]@users.noreply.github.com", "noreply@github.com", True),  # an App
        ("4242+my-app[bot]@users.noreply.github.com", "my-app@example.com", False),  # pushed
        ("12+alice@users.noreply.github.com", "noreply@github.com", False),  # web editor
        ("alice@example.com", "noreply@github.com", False),
        ("github-actions[bot]@users.noreply.github.com", "noreply@github.com", False),
    ],
)
def test_only_commits_github_made_through_its_api_for_a_bot_are_macoders(
    author: str, committer: str, macoders: bool
) -> None:
    assert made_through_the_api(author, committer) is macoders


def test_a_bots_token_authors_as_the_bot_and_a_persons_as_nobody_macoder_can_use() -> None:
    assert bot_email("github-actions[bot]", 41898282) == ACTIONS
    assert bot_email("alice", 12) is None


def test_diff_tree_output_is_read_path_by_path() -> None:
    raw = (
        b":100644 100644 aaa bbb M\0src/a b.py\0"
        b":000000 100644 000 ccc A\0new.txt\0"
        b":100644 000000 ddd 000 D\0gone.txt\0"
    )
    assert parse_raw(raw) == [
        RawChange("100644", "100644", "M", "src/a b.py"),
        RawChange("000000", "100644", "A", "new.txt"),
        RawChange("100644", "000000", "D", "gone.txt"),
    ]


def test_regular_files_written_and_anything_deleted_can_be_made() -> None:
    changes = [
        RawChange("100644", "100644", "M", "a.py"),
        RawChange("000000", "100644", "A", "b.py"),
        RawChange("120000", "000000", "D", "old-link"),
        RawChange("100755", "000000", "D", "old.sh"),
    ]
    assert file_changes("abc", changes) == FileChanges(("a.py", "b.py"), ("old-link", "old.sh"))


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (RawChange("000000", "100755", "A", "run.sh"), "adds an executable file run.sh"),
        (RawChange("100644", "100755", "M", "run.sh"), "changes an executable file run.sh"),
        (RawChange("100755", "100755", "M", "run.sh"), "changes an executable file run.sh"),
        (RawChange("100755", "100644", "M", "run.sh"), "turns an executable file run.sh into"),
        (RawChange("000000", "120000", "A", "link"), "adds a symlink link"),
        (RawChange("120000", "100644", "T", "link"), "changes link in a way git calls 'T'"),
        (RawChange("000000", "160000", "A", "vendor/lib"), "adds a submodule vendor/lib"),
    ],
)
def test_a_mode_a_symlink_or_a_submodule_is_refused_before_anything_is_made(
    change: RawChange, said: str
) -> None:
    with pytest.raises(UnsignableError, match=said) as caught:
        file_changes("abc1234567", [RawChange("000000", "100644", "A", "fine.py"), change])
    assert "commit abc1234567 cannot be made through GitHub's API" in str(caught.value)
