"""What the wheel holds: the product, and none of the test doubles the tests and demo use."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "uv" / "bin" / "uv"
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not UV.exists() or not WHEELHOUSE.is_dir():
        pytest.skip("uv and the offline wheelhouse are missing: run scripts/test.sh's set-up")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            *(str(UV), "build", "--wheel", "--out-dir", str(out), "--offline", "--no-index"),
            *("--find-links", str(WHEELHOUSE), "-q", str(ROOT)),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("multi_agent_coder-*.whl")
    return built


def test_the_wheel_holds_the_package_and_nothing_of_the_tests(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"multi_agent_coder", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "multi_agent_coder/cli/main.py" in names
    # The action installs OpenCode checked against this lockfile: it must ship.
    assert "multi_agent_coder/agents/opencode/npm/package-lock.json" in names
    # `macoder init --github` writes the workflow from this copy.
    assert "multi_agent_coder/templates/macoder-workflow.yml" in names
    assert not [n for n in names if "/testing/" in n or n.startswith(("testing/", "tests/"))]


def test_the_test_doubles_cannot_be_imported_from_an_installed_wheel(
    wheel: Path, tmp_path: Path
) -> None:
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)  # a pure-Python wheel installs as it unpacks
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import multi_agent_coder as m; "
        "assert m.__file__.startswith(sys.argv[1]), m.__file__; "
        "import multi_agent_coder.testing"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(installed)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "No module named 'multi_agent_coder.testing'" in done.stderr
