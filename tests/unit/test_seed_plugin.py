"""Each run's OpenCode gets the plugin SDK from the local install, never from the registry."""

from __future__ import annotations

from pathlib import Path

from multi_agent_coder.agents.opencode.server import seed_plugin


def fake_install(root: Path) -> Path:
    """The layout scripts/opencode.sh leaves: the binary and, beside it, the plugin SDK."""
    binary = root / "node_modules" / "opencode-linux-x64" / "bin" / "opencode"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    plugin = root / "plugin" / "node_modules" / "@opencode-ai" / "plugin"
    plugin.mkdir(parents=True)
    (plugin / "package.json").write_text('{"name": "@opencode-ai/plugin", "version": "1.18.33"}')
    (plugin.parent.parent / "zod").mkdir()
    (plugin.parent.parent / "zod" / "index.js").write_text("export {}\n")
    return binary


def test_a_fresh_config_directory_gets_hard_links_to_the_installed_sdk(tmp_path: Path) -> None:
    binary = fake_install(tmp_path / "tools")
    config = tmp_path / "home" / "config" / "opencode"
    assert seed_plugin(binary, config)
    seeded = config / "node_modules" / "@opencode-ai" / "plugin" / "package.json"
    original = (
        tmp_path / "tools" / "plugin" / "node_modules" / "@opencode-ai" / "plugin" / "package.json"
    )
    assert seeded.read_text() == original.read_text()
    assert seeded.stat().st_ino == original.stat().st_ino  # linked, not copied
    assert (config / "node_modules" / "zod" / "index.js").is_file()


def test_without_an_installed_sdk_nothing_is_seeded(tmp_path: Path) -> None:
    binary = tmp_path / "node_modules" / "opencode-linux-x64" / "bin" / "opencode"
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    assert not seed_plugin(binary, tmp_path / "config")
    assert not (tmp_path / "config").exists()


def test_the_real_install_has_the_sdk_for_the_pinned_version() -> None:
    import json

    import pytest

    from multi_agent_coder.config import Settings

    root = Path(__file__).resolve().parents[2] / ".tools" / "opencode"
    package = root / "plugin" / "node_modules" / "@opencode-ai" / "plugin" / "package.json"
    if not (root / "node_modules").is_dir():
        pytest.skip("OpenCode is not installed: run `bash scripts/opencode.sh`")
    assert json.loads(package.read_text())["version"] == Settings().opencode_version
