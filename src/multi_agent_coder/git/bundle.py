"""Git bundles: how a task's commits leave the job that ran the agent.

The task job holds no write token, so it cannot push. It writes its branch as a bundle (`git
bundle create`: a pack of exactly the commits from the base to the task's head, with the base
named as the bundle's one prerequisite) and a separate publish job, which holds the token but
runs no agent, reads it back. The publish job must not trust the bundle, so what it says
about itself is read here without git (`read_header`, pure, bounded): which refs it carries
and which commits it presumes. Only then is it handed to git to be verified and fetched.

The header format (gitformat-bundle(5)): a signature line (`# v2 git bundle` or `# v3 git
bundle`), for v3 capability lines `@key=value`, then prerequisites `-<oid> [comment]` and
references `<oid> <refname>`, then an empty line and the pack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from multi_agent_coder.errors import GitError
from multi_agent_coder.git.env import run_git

SIGNATURES: Final = (b"# v2 git bundle\n", b"# v3 git bundle\n")
#: A header this long is no header of a one-branch bundle.
MAX_HEADER_BYTES: Final = 64 * 1024
_OID: Final = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class BundleError(GitError):
    """The bundle is not what it claims to be, or not what was asked for."""


@dataclass(frozen=True, slots=True)
class BundleHeader:
    prerequisites: tuple[str, ...]
    refs: tuple[tuple[str, str], ...]  # (oid, refname)


def read_header(data: bytes) -> BundleHeader:
    """The header of a bundle (its first bytes); `BundleError` when it is not one."""
    signature = next((s for s in SIGNATURES if data.startswith(s)), None)
    if signature is None:
        raise BundleError("not a git bundle (no v2 or v3 signature)")
    end = data.find(b"\n\n", len(signature) - 1)
    if end < 0 or end > MAX_HEADER_BYTES:
        raise BundleError(f"the bundle's header does not end within {MAX_HEADER_BYTES} bytes")
    prerequisites: list[str] = []
    refs: list[tuple[str, str]] = []
    for raw in data[len(signature) : end].split(b"\n"):
        line = raw.decode("ascii", "replace")
        if line.startswith("@"):
            continue  # a v3 capability (object-format, filter); git checks those
        if line.startswith("-"):
            oid = line[1:].split(" ", 1)[0]
            if not _OID.fullmatch(oid):
                raise BundleError(f"bad prerequisite line in the bundle: {line[:80]!r}")
            prerequisites.append(oid)
            continue
        oid, _, name = line.partition(" ")
        if not _OID.fullmatch(oid) or not name:
            raise BundleError(f"bad reference line in the bundle: {line[:80]!r}")
        refs.append((oid, name))
    return BundleHeader(tuple(prerequisites), tuple(refs))


def create(repo_root: Path, dest: Path, ref: str, base_sha: str, *also: str) -> None:
    """Write `ref`'s commits beyond `base_sha` (and beyond each of `also`) to the bundle
    `dest`. Its prerequisites are the excluded commits its own commits build on: `base_sha`,
    and one of `also` only when a commit of the bundle has it as a parent (a merge)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    excluded = [f"^{sha}" for sha in (base_sha, *also)]
    run_git(["bundle", "create", "--quiet", str(dest), ref, *excluded], repo_root)


def verify_and_fetch(repo_root: Path, bundle: Path, ref: str) -> None:
    """Check that the repository has everything the bundle presumes, then fetch its `ref`
    into the same local ref (never a branch a checkout uses)."""
    checked = run_git(["bundle", "verify", "--quiet", str(bundle)], repo_root, check=False)
    if checked.returncode != 0:
        said = checked.stderr.decode("utf-8", "replace").strip()
        raise BundleError(f"git does not accept the bundle: {said[:500]}")
    run_git(
        ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(bundle), f"+{ref}:{ref}"],
        repo_root,
    )
