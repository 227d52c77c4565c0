"""`macoder init`: from an empty repository to `check`, `ready` and `run --dry-run` working,
with nothing of the person's ever overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli import as_process, macoder
from tests.integration.gitrepos import git, git_env

WRITTEN = (
    ".macoder.yaml",
    "opencode.json",
    "BACKLOG.yaml",
    ".macoder.schema.json",
    ".pre-commit-config.yaml",
)


def empty_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for name, text in (files or {}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def commit_all(root: Path) -> None:
    git(root, "add", "-A")
    git(root, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "init")


def test_init_then_check_ready_and_a_dry_run_work(tmp_path: Path) -> None:
    root = empty_repo(tmp_path / "repo", {"tests/test_app.py": "def test_ok():\n    pass\n"})

    done = macoder("init", cwd=root)

    assert done.code == 0, done.output
    assert [line.split()[1] for line in done.stdout.splitlines()[:5]] == list(WRITTEN)
    assert "test command detected: python3 -m pytest" in done.stdout
    settings = yaml.safe_load((root / ".macoder.yaml").read_text())
    assert settings["checks"]["test"][:3] == ["python3", "-m", "pytest"]
    assert settings["opencode_config"] == "opencode.json"
    providers = json.loads((root / "opencode.json").read_text())["provider"]
    assert set(providers) == {"openai", "anthropic", "local"}
    assert "sk-" not in (root / "opencode.json").read_text()  # keys only as {env:NAME}
    assert (
        (root / "BACKLOG.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=.macoder.schema.json\n")
    )
    schema = json.loads((root / ".macoder.schema.json").read_text())
    assert schema["$schema"].startswith("https://json-schema.org/")

    assert macoder("check", cwd=root).code == 0
    commit_all(root)
    ready = macoder("ready", "--json", cwd=root)
    assert ready.code == 0, ready.output
    assert [t["id"] for t in json.loads(ready.stdout)] == ["T001"]
    dry = macoder("run", "--dry-run", cwd=root)
    assert dry.code == 0, dry.output
    assert "would start T001 (attempt 1, simple_change -> openai/gpt-4.1)" in dry.stdout


def test_before_the_first_commit_ready_and_run_say_to_commit(tmp_path: Path) -> None:
    root = empty_repo(tmp_path / "repo")
    assert "commit the files, then: macoder doctor" in macoder("init", cwd=root).stdout
    for command in (["ready"], ["run", "--dry-run"]):
        done = macoder(*command, cwd=root)
        assert done.code == 2
        assert "branch main has no commits yet" in done.stderr
        assert "commit your files first (git add . && git commit)" in done.stderr


def test_init_outside_a_git_repository_writes_the_files_and_says_what_is_missing(
    tmp_path: Path,
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    done = macoder("init", cwd=plain)
    assert done.code == 0
    assert all((plain / name).is_file() for name in WRITTEN)
    assert "is not in a git repository; tasks run from a default branch: git init" in done.stdout


def test_init_never_overwrites_a_file(tmp_path: Path) -> None:
    mine = "version: '1.0'  # mine, even if invalid\n"
    root = empty_repo(tmp_path / "repo", {"BACKLOG.yaml": mine})
    first = macoder("init", cwd=root)
    assert first.code == 0
    assert "kept  BACKLOG.yaml (it exists; not changed)" in first.stdout
    assert (root / "BACKLOG.yaml").read_text() == mine
    before = {name: (root / name).read_bytes() for name in WRITTEN}
    again = macoder("init", cwd=root)
    assert again.code == 0
    assert again.stdout.count("kept ") == len(WRITTEN)
    assert {name: (root / name).read_bytes() for name in WRITTEN} == before


def test_without_a_test_runner_init_says_so_and_leaves_the_check_to_name(tmp_path: Path) -> None:
    root = empty_repo(tmp_path / "repo", {"README.md": "hi\n"})
    done = macoder("init", cwd=root)
    assert "no test runner detected: set checks.test in .macoder.yaml" in done.stdout
    settings = yaml.safe_load((root / ".macoder.yaml").read_text())
    assert "checks" not in settings


def test_init_of_a_directory_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    done = macoder("init", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert done.code == 2
    assert "no such directory" in done.stderr
    assert not (tmp_path / "nowhere").exists()


def test_the_written_pre_commit_hooks_run_the_installed_macoder(tmp_path: Path) -> None:
    """As a process, as a person runs it; then pre-commit runs the hooks it wrote."""
    precommit = Path(sys.executable).with_name("pre-commit")
    if not precommit.exists():
        pytest.skip("pre-commit is not installed next to this interpreter")
    root = empty_repo(tmp_path / "repo")
    assert as_process("init", cwd=root).code == 0
    commit_all(root)
    env = git_env() | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
    }
    env = {k: v for k, v in env.items() if not k.startswith("MACODER_")}
    done = subprocess.run(
        [str(precommit), "run", "--all-files"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "backlog schema" in done.stdout
    assert "Passed" in done.stdout


def test_the_readme_shows_exactly_the_hooks_init_writes() -> None:
    from multi_agent_coder.scaffold import precommit_yaml

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## pre-commit\n", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```\n", 1)[0]
    assert block == precommit_yaml()


def test_the_readme_shows_what_init_prints_in_a_python_repository(tmp_path: Path) -> None:
    root = empty_repo(tmp_path / "repo", {"tests/test_app.py": "def test_ok():\n    pass\n"})
    printed = macoder("init", cwd=root).stdout
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Your own repository\n", 1)[1]
    block = section.split("```console\n", 1)[1].split("```\n", 1)[0]
    shown = [line for line in block.splitlines() if not line.startswith("$ ")]
    assert shown == printed.splitlines()


SHA = "0123456789abcdef0123456789abcdef01234567"


def test_init_github_writes_the_workflow_for_this_repository_s_branch(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "trunk")
    done = macoder("init", "--github", "--action", f"acme/multi-agent-coder@{SHA}", cwd=root)
    assert done.code == 0, done.output
    assert "wrote .github/workflows/macoder.yml" in done.stdout
    assert "GitHub: create the environment `macoder`" in done.stdout
    assert "in the workflow's `health` and `run` jobs, the same in both" in done.stdout
    workflow = yaml.safe_load((root / ".github" / "workflows" / "macoder.yml").read_text())
    assert workflow[True]["push"]["branches"] == ["trunk"]
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    # plan, health, task, publish; plan-feature, publish-feature; rebase, publish-rebase
    assert [s["uses"] for s in steps if "macoder" in s.get("id", "")] == [
        f"acme/multi-agent-coder@{SHA}"
    ] * 8
    again = macoder("init", "--github", "--action", f"acme/multi-agent-coder@{SHA}", cwd=root)
    assert "kept  .github/workflows/macoder.yml (it exists; not changed)" in again.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--github"], "--github needs --action OWNER/REPO@<full commit sha>"),
        (["--github", "--action", "acme/multi-agent-coder@v1"], "a tag or branch can be moved"),
    ],
)
def test_init_github_refuses_an_unpinned_action_before_writing_anything(
    tmp_path: Path, args: list[str], said: str
) -> None:
    root = empty_repo(tmp_path / "repo")
    done = macoder("init", *args, cwd=root)
    assert done.code == 2
    assert said in done.stderr
    assert sorted(p.name for p in root.iterdir()) == [".git"]


def test_init_github_outside_a_git_repository_writes_nothing(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    done = macoder("init", "--github", "--action", f"acme/x@{SHA}", cwd=plain)
    assert done.code == 2
    assert "is not in a git repository (git init first)" in done.stderr
    assert list(plain.iterdir()) == []
