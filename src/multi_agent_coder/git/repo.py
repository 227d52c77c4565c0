"""The repository macoder works on, over pygit2.

Everything that only reads or writes objects and refs happens in-process with pygit2 (fast,
no parsing of porcelain output). The `git` binary is used for three things libgit2 cannot do
the way git does them: an atomic compare-and-swap of a ref that `git` itself respects
(`git update-ref NEW OLD`), updating the index and files of a checkout the user is looking at
(`git merge --ff-only`, which runs git's own safety checks and filters), and committing paths
that go through an external filter driver such as git-lfs (libgit2 runs only built-in
filters, so it would commit the raw file instead of the pointer).

The user's checkout, index and current branch are never touched except by `merge_into`, and
then only through git's own fast-forward on a clean checkout.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import pygit2
from pygit2.enums import DeltaStatus, DiffStatsFormat, FileMode, FileStatus, ObjectType, SortMode

from multi_agent_coder.errors import (
    DirtyCheckoutError,
    GitError,
    MergeConflictError,
    NotAGitRepositoryError,
    RefMovedError,
    UnreadableFileError,
)
from multi_agent_coder.git.env import run_git
from multi_agent_coder.userfiles import check_size

HEADS = "refs/heads/"
ORIGIN_HEAD = "refs/remotes/origin/HEAD"
ORIGIN_PREFIX = "refs/remotes/origin/"

#: Status bits that mean "this path differs from HEAD" (ignored files are not a change).
_CHANGED = ~(FileStatus.CURRENT | FileStatus.IGNORED)


class Change(NamedTuple):
    """One path a commit changed against another: `added`, `modified` or `deleted`."""

    kind: str
    path: str


class CommitFacts(NamedTuple):
    """One commit as a branch's checks see it."""

    sha: str
    parents: tuple[str, ...]
    author_email: str
    committer_email: str


class DiffStat(NamedTuple):
    """What `git diff --stat base head` says, as numbers plus the rendered text."""

    files: int
    insertions: int
    deletions: int
    text: str


class MergeState(NamedTuple):
    """A merge written into a worktree, not committed yet (see `Repo.merge_into_worktree`)."""

    staged: str
    conflicted: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CheckoutState:
    """A checkout's current branch (None when detached) and whether tracked files are clean."""

    branch: str | None
    clean: bool


@dataclass(frozen=True, slots=True)
class Checkout:
    """One working tree of the repository (the main one or a linked worktree)."""

    path: Path
    branch: str | None


def signature(author: tuple[str, str]) -> pygit2.Signature:
    """A pygit2 signature for `(name, email)`, stamped now."""
    name, email = author
    return pygit2.Signature(name, email)


class Repo:
    """One git repository, opened once; `raw` is the pygit2 handle for callers that need it."""

    def __init__(self, raw: pygit2.Repository, root: Path, git_dir: Path) -> None:
        self.raw = raw
        self.root = root
        self.git_dir = git_dir

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(cls, path: Path | str) -> Repo:
        """Open the repository containing `path` (searching upwards, like git does).

        `root` is the working tree found there; `git_dir` is the common git directory, the
        same for every linked worktree (refs, objects, `info/exclude` and worktree
        registrations live there).
        """
        where = Path(path)
        try:
            raw = pygit2.Repository(str(where))
        except (pygit2.GitError, KeyError) as exc:
            if pygit2.discover_repository(str(where)) is None:
                raise NotAGitRepositoryError(str(where)) from exc
            raise GitError(f"{where}: cannot open the git repository: {exc}") from exc
        git_dir = _common_dir(Path(raw.path))
        root = Path(raw.workdir) if raw.workdir else git_dir
        return cls(raw, root.resolve(), git_dir.resolve())

    def exclude_locally(self, entry: str, why: str) -> bool:
        """Add `entry` (a gitignore pattern) to `.git/info/exclude` under a `# why` comment,
        once: local to this clone, never committed. Whether it was added."""
        exclude = self.git_dir / "info" / "exclude"
        text = exclude.read_text(encoding="utf-8") if exclude.is_file() else ""
        if entry in text.splitlines():
            return False
        exclude.parent.mkdir(parents=True, exist_ok=True)
        separator = "" if not text or text.endswith("\n") else "\n"
        with exclude.open("a", encoding="utf-8") as handle:
            handle.write(f"{separator}# {why}\n{entry}\n")
        return True

    # ----------------------------------------------------------------- branches

    def default_branch(self) -> str:
        """The branch new work starts from.

        In order: what `origin/HEAD` points at (the forge's default), `init.defaultBranch`
        when that branch exists, `main` or `master` when one exists, else the current branch.
        """
        from_origin = self._origin_head()
        if from_origin is not None:
            return from_origin
        candidates = [self._config_value("init.defaultBranch"), "main", "master"]
        for name in candidates:
            if name and self.branch_head(name) is not None:
                return name
        current = self._head_branch(self.raw)
        if current is None:
            raise GitError(f"{self.root}: cannot tell the default branch (HEAD is detached)")
        return current

    def branch_head(self, name: str) -> str | None:
        """The commit `refs/heads/<name>` points at, or None when the branch does not exist."""
        try:
            ref = self.raw.lookup_reference(HEADS + name)
        except (KeyError, pygit2.InvalidSpecError):
            return None
        return str(ref.peel(pygit2.Commit).id)

    def delete_branch(self, name: str) -> None:
        """Delete local branch `name` if it exists (a task branch nothing refers to)."""
        try:
            self.raw.branches.local.delete(name)
        except KeyError:
            return
        except pygit2.GitError as exc:  # checked out somewhere: leave it
            raise GitError(f"cannot delete branch {name}: {exc}") from exc

    def update_ref(self, name: str, new: str, old: str | None, message: str) -> None:
        """Point `name` at `new` only if it still points at `old` (None: only if it is absent).

        `git update-ref` takes git's ref lock and compares under it, so two processes (or a
        process and the user's own git) can never both win. A lost race, or a lock held by a
        concurrent writer, raises `RefMovedError`; the caller re-reads and retries. git's
        message is matched, so it runs in the C locale (untranslated).
        """
        args = ["update-ref", "-m", message, name, new, old or ""]
        result = run_git(args, self.root, check=False, extra_env={"LC_ALL": "C"})
        if result.returncode == 0:
            return
        stderr = result.stderr.decode("utf-8", "replace")
        kind = RefMovedError if "cannot lock ref" in stderr else GitError
        raise kind(
            f"cannot update {name}",
            command=["git", *args],
            stderr=stderr,
            returncode=result.returncode,
        )

    # ----------------------------------------------------------------- worktree content

    def commit_all(
        self,
        workdir: Path,
        message: str,
        author: tuple[str, str],
        *,
        merging: str | None = None,
    ) -> str | None:
        """Commit every change in the worktree at `workdir` on its current branch.

        Stages new, modified and deleted files (ignored files stay out) in that worktree's own
        index, so the user's index is never read or written. Returns the new commit's id, or
        None when the worktree matches its HEAD. The author is also the committer: these are
        macoder's commits, not the user's, so the user's `user.name` is not consulted.
        `merging`: the commit `merge_into_worktree` merged in, the new commit's second parent
        (a merge commit is made even when the tree did not change).
        """
        work = self.open_workdir(workdir)
        changed = _changed_paths(work)
        if not changed and merging is None:
            return None
        if merging is None and _needs_filter_driver(work, changed):
            return _commit_all_with_git(Path(work.path), workdir, message, author)
        index = work.index
        index.read()
        index.add_all()
        tree = index.write_tree()
        parents = [] if work.head_is_unborn else [work.head.target]
        if merging is not None:
            parents.append(self.commit(merging).id)
        elif parents and work[parents[0]].peel(pygit2.Commit).tree_id == tree:
            return None
        sig = signature(author)
        commit = work.create_commit("HEAD", sig, sig, message, tree, parents)
        index.write()
        return str(commit)

    def commit_files(
        self,
        base: str,
        files: Mapping[str, bytes],
        message: str,
        author: tuple[str, str],
        *,
        ref: str | None = None,
    ) -> str:
        """A commit on top of `base` whose tree is `base`'s with `files` (POSIX path from the
        root -> content) written in, pointed at by `ref` when one is given; its id.

        Built from objects alone (a private in-memory index, no working tree, no hook, no
        filter): nothing else of the checkout can slip in, and the checkout, its index and
        its branches are left exactly as they were. A file that exists keeps its mode (an
        executable stays one); a new one is a regular file."""
        parent = self.commit(base)
        index = pygit2.Index()
        index.read_tree(parent.tree)
        for path, data in sorted(files.items()):
            name = PurePosixPath(path).as_posix()
            if any(part in ("", ".", "..") for part in name.split("/")):
                raise GitError(f"{path!r} is not a path inside the repository")
            existing = index[name] if name in index else None  # noqa: SIM401 - pygit2.Index has no get()
            modes = (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)
            mode = (
                existing.mode if existing is not None and existing.mode in modes else FileMode.BLOB
            )
            index.add(pygit2.IndexEntry(name, self.raw.create_blob(data), mode))
        tree = index.write_tree(self.raw)
        sig = signature(author)
        commit = self.raw.create_commit(None, sig, sig, message, tree, [parent.id])
        if ref is not None:
            self.raw.references.create(ref, commit, force=True)
        return str(commit)

    def changed_files(self, workdir: Path) -> list[str]:
        """Paths that differ from HEAD in the worktree at `workdir`: staged, unstaged or new."""
        return sorted(_changed_paths(self.open_workdir(workdir)))

    def head_of(self, workdir: Path) -> str:
        """The commit the worktree at `workdir` has checked out."""
        return str(self.open_workdir(workdir).head.target)

    def open_workdir(self, workdir: Path) -> pygit2.Repository:
        """The repository as seen from one of its working trees, opened through the
        registration git keeps for it (`<git dir>/worktrees/<name>`), never through the
        `.git` file inside the tree: an agent can rewrite that file to point at a repository
        of its own, whose configuration (hooks, fsmonitor, filter drivers) macoder's git
        would then obey outside the sandbox."""
        target = Path(workdir).resolve()
        if target == self.root:
            return pygit2.Repository(str(self.git_dir))
        for name in self.raw.list_worktrees():
            try:
                registered = Path(self.raw.lookup_worktree(name).path).resolve()
            except (pygit2.GitError, KeyError, ValueError):
                continue
            if registered == target:
                return pygit2.Repository(str(self.git_dir / "worktrees" / name))
        raise GitError(f"{workdir}: not a working tree of the repository at {self.root}")

    def changes(self, base: str, head: str) -> list[Change]:
        """What `head` changed against `base`, one entry per path: added, modified, deleted
        (a rename is a deletion of the old path and an addition of the new one, so a renamed
        test counts as deleted)."""
        diff = self.raw.diff(self.commit(base), self.commit(head))
        out: list[Change] = []
        for delta in diff.deltas:
            old, new = delta.old_file.path, delta.new_file.path
            if delta.status == DeltaStatus.ADDED:
                out.append(Change("added", new))
            elif delta.status == DeltaStatus.DELETED:
                out.append(Change("deleted", old))
            else:
                out.append(Change("modified", new))
        return out

    def tree_differences(self, rev: str, directory: Path) -> list[str]:
        """The files of commit `rev` that `directory` no longer holds as committed (changed,
        missing, or a link turned into a file). New files in `directory` are not counted:
        tools leave caches, the committed tree is what must not move."""
        found: list[str] = []
        for path, entry in _blobs(self.raw, self.commit(rev).tree, ""):
            on_disk = directory / path
            if entry.filemode == FileMode.LINK:
                target = self.raw[entry.id].peel(pygit2.Blob).data.decode("utf-8", "replace")
                same = on_disk.is_symlink() and os.readlink(on_disk) == target
            else:
                try:
                    same = (
                        not on_disk.is_symlink() and pygit2.hash(on_disk.read_bytes()) == entry.id
                    )
                except OSError:
                    same = False
            if not same:
                found.append(path)
        return found

    def restore(self, rev: str, paths: Iterable[str], directory: Path) -> None:
        """Put `paths` into `directory` as commit `rev` has them (removed where it has none)."""
        tree = self.commit(rev).tree
        for path in paths:
            target = directory / path
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            target.unlink(missing_ok=True)
            try:
                entry = tree[path]
            except KeyError:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_entry(self.raw, entry, target)

    def carry_over(self, work: str, workdir: Path, author: tuple[str, str]) -> list[str]:
        """Bring the changes of commit `work` (an earlier attempt's partial work) into the
        worktree at `workdir` as uncommitted changes on top of what it has checked out, and
        return the paths that changed. When `work` was built on an older base, its changes
        are merged onto the current one; a conflict raises `MergeConflictError` and leaves
        the worktree as it was."""
        head = self.commit(self.head_of(workdir))
        theirs = self.commit(work)
        merged = self._merged(head, theirs, "carry over", author, (str(head.id), work))
        paths = [change.path for change in self.changes(str(head.id), str(merged))]
        self.restore(str(merged), paths, workdir)
        return paths

    def merges_cleanly(self, ours: str, theirs: str) -> bool:
        """Whether merging `theirs` into `ours` has no conflict (computed in memory): a pull
        request whose head no longer merges into its base needs bringing up to date."""
        one, two = self.commit(ours), self.commit(theirs)
        if one.id == two.id or self.raw.descendant_of(one.id, two.id):
            return True
        if self.raw.descendant_of(two.id, one.id):
            return True
        return self.raw.merge_commits(one, two).conflicts is None

    def merge_into_worktree(
        self, workdir: Path, theirs: str, resolved: Mapping[str, bytes]
    ) -> MergeState:
        """Merge commit `theirs` into what the worktree at `workdir` has checked out, as
        uncommitted changes (the merge commit is made later, with `commit_all(merging=...)`).

        A conflicted path named in `resolved` gets that content (macoder resolves its own
        files, the backlog, itself); every other conflicted path is written with git's
        conflict markers (`<<<<<<< ours` ... `>>>>>>> theirs`) for the agent to resolve, and
        returned. A path deleted on one side and changed on the other is written as the side
        that kept it (and returned too). The worktree must be clean (a fresh one). `staged` is
        a commit (on no branch) of the worktree as written: what the agent's changes are
        measured from."""
        head = self.commit(self.head_of(workdir))
        other = self.commit(theirs)
        index = self.raw.merge_commits(head, other)
        left: list[str] = []
        for ancestor, ours_entry, theirs_entry in list(index.conflicts or ()):
            entry = ours_entry or theirs_entry or ancestor
            if entry is None:  # pragma: no cover - git always names one side
                continue
            path = entry.path
            if path in resolved:
                content = resolved[path]
            elif ours_entry is None or theirs_entry is None:
                kept = ours_entry or theirs_entry
                content = self.raw[kept.id].peel(pygit2.Blob).data if kept else b""
                left.append(path)
            else:
                merged = self.raw.merge_file_from_index(ancestor, ours_entry, theirs_entry)
                content = merged.contents.encode("utf-8", "surrogateescape")
                left.append(path)
            del index.conflicts[path]
            mode = entry.mode if entry.mode else FileMode.BLOB
            index.add(pygit2.IndexEntry(path, self.raw.create_blob(content), mode))
        tree = index.write_tree(self.raw)
        sig = signature(("macoder", "macoder@localhost"))
        staged = self.raw.create_commit(None, sig, sig, "merge in progress", tree, [head.id])
        paths = [change.path for change in self.changes(str(head.id), str(staged))]
        self.restore(str(staged), paths, workdir)
        return MergeState(str(staged), tuple(sorted(set(left))))

    def export(self, rev: str, dest: Path) -> None:
        """Write the files of commit `rev` into `dest` (an empty directory): what a check runs
        on. Blobs as committed — no filter, no hook, no `.git` — executables kept executable,
        symbolic links as links."""
        _export_tree(self.raw, self.commit(rev).tree, dest)

    # ----------------------------------------------------------------- history

    def diffstat(self, base_sha: str, head_sha: str) -> DiffStat:
        """Files, insertions and deletions from `base_sha` to `head_sha`, renames detected."""
        diff = self.raw.diff(self.commit(base_sha), self.commit(head_sha))
        diff.find_similar()
        stats = diff.stats
        text = stats.format(DiffStatsFormat.FULL | DiffStatsFormat.INCLUDE_SUMMARY, 80)
        return DiffStat(stats.files_changed, stats.insertions, stats.deletions, text)

    def merge_base(self, one: str, two: str) -> str:
        """The best common ancestor of two commits: where a task branch left the default
        branch (a `GitError` when they share no history)."""
        found = self.raw.merge_base(self.commit(one).id, self.commit(two).id)
        if found is None:
            raise GitError(f"{self.root}: {one[:10]} and {two[:10]} share no history")
        return str(found)

    def descends_from(self, head: str, ancestor: str) -> bool:
        """Whether `head` is `ancestor` or has it in its history: a push of `head` over
        `ancestor` is a fast-forward."""
        new, old = self.commit(head).id, self.commit(ancestor).id
        return new == old or self.raw.descendant_of(new, old)

    def commits_between(self, base: str, head: str) -> list[tuple[str, str, str]]:
        """`(sha, author email, message)` of commits in `head` but not in `base`, oldest first.

        Used to tell whether a person added commits to a task branch (then macoder stops).
        """
        walker = self.raw.walk(self.commit(head).id, SortMode.TOPOLOGICAL | SortMode.REVERSE)
        walker.hide(self.commit(base).id)
        return [(str(c.id), c.author.email, c.message) for c in walker]

    def lineage(self, base: str, head: str) -> list[CommitFacts]:
        """Every commit in `head` but not in `base`, oldest first, with who made it and its
        parents: what the publish job checks before it pushes a branch it did not build."""
        walker = self.raw.walk(self.commit(head).id, SortMode.TOPOLOGICAL | SortMode.REVERSE)
        walker.hide(self.commit(base).id)
        return [
            CommitFacts(
                str(c.id),
                tuple(str(p) for p in c.parent_ids),
                c.author.email,
                c.committer.email,
            )
            for c in walker
        ]

    def file_at(self, rev: str, path: str, *, max_bytes: int | None = None) -> bytes | None:
        """The content of `path` (a POSIX path from the root) in commit `rev`; None when the
        commit has no such file (a directory or a submodule there is not a file either).
        With `max_bytes`, a larger blob is refused (`UnreadableFileError`) from its header,
        before it is inflated: a user's file at a commit is bounded as it is on disk."""
        try:
            entry = self.commit(rev).tree[PurePosixPath(path).as_posix()]  # "./B.yaml" -> "B.yaml"
        except KeyError:
            return None
        if max_bytes is not None:
            shown = f"{path} in commit {rev[:10]}"
            if entry.filemode == pygit2.enums.FileMode.LINK:
                # The blob is the link's target text: parsed, it would be a puzzling "not a
                # mapping"; and what a link points to at a commit is no file of that commit.
                raise UnreadableFileError(
                    shown, "is a symbolic link; commit the backlog itself, as a regular file"
                )
            kind, size = self.raw.odb.read_header(entry.id)
            if kind == ObjectType.BLOB:
                check_size(shown, size, max_bytes)
        blob = self.raw[entry.id]
        return blob.data if isinstance(blob, pygit2.Blob) else None

    def commit(self, rev: str) -> pygit2.Commit:
        """The commit `rev` names (a sha, branch, tag or any revision git understands)."""
        try:
            return self.raw.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise GitError(f"{self.root}: {rev!r} does not name a commit") from exc

    # ----------------------------------------------------------------- merging

    def merge_into(
        self, target_branch: str, source_branch: str, message: str, author: tuple[str, str]
    ) -> str:
        """Merge `source_branch` into `target_branch` and return the target's new commit.

        The merge is computed in memory (no checkout, no index): a fast-forward when the
        target is behind, nothing when the source is already contained, else a real merge
        commit — refused whole on conflicts. The target ref moves by compare-and-swap. When
        some checkout has the target branch checked out, its files must follow: clean, it is
        fast-forwarded by git itself; dirty, the merge is refused before anything changes.
        """
        ours = self._branch_commit(target_branch)
        theirs = self._branch_commit(source_branch)
        checkout = self._checkout_of(target_branch)
        if checkout is not None and not self.checkout_state(checkout).clean:
            raise DirtyCheckoutError(target_branch, str(checkout))
        new = self._merged(ours, theirs, message, author, (target_branch, source_branch))
        if new == ours.id:
            return str(new)
        if checkout is None:
            self.update_ref(HEADS + target_branch, str(new), str(ours.id), message)
            return str(new)
        run_git(["merge", "--ff-only", "--quiet", "--no-edit", str(new)], checkout)
        if self.branch_head(target_branch) != str(new):
            raise RefMovedError(f"{target_branch!r} moved while it was being merged into")
        return str(new)

    def _merged(
        self,
        ours: pygit2.Commit,
        theirs: pygit2.Commit,
        message: str,
        author: tuple[str, str],
        names: tuple[str, str],
    ) -> pygit2.Oid:
        """The commit the target should point at after merging `theirs` into `ours`."""
        if ours.id == theirs.id or self.raw.descendant_of(ours.id, theirs.id):
            return ours.id
        if self.raw.descendant_of(theirs.id, ours.id):
            return theirs.id
        index = self.raw.merge_commits(ours, theirs)
        if index.conflicts is not None:
            raise MergeConflictError(names[0], names[1], _conflict_paths(index))
        tree = index.write_tree(self.raw)
        sig = signature(author)
        return self.raw.create_commit(None, sig, sig, message, tree, [ours.id, theirs.id])

    def _branch_commit(self, name: str) -> pygit2.Commit:
        """The tip of local branch `name`, or a clear error when there is no such branch."""
        sha = self.branch_head(name)
        if sha is None:
            raise GitError(f"{self.root}: no branch named {name!r}")
        return self.commit(sha)

    # ----------------------------------------------------------------- checkouts

    def checkouts(self) -> list[Checkout]:
        """Every working tree of this repository: the main one first, then linked ones."""
        found: list[Checkout] = []
        main = _common_repository(self)
        if main.workdir:
            found.append(Checkout(Path(main.workdir).resolve(), self._head_branch(main)))
        found.extend(_linked_checkouts(main))
        return found

    def checkout_state(self, path: Path) -> CheckoutState:
        """Branch and cleanliness (tracked files only; untracked files do not count) of `path`."""
        work = pygit2.Repository(str(path))
        dirty = any(flags & _CHANGED for flags in work.status(untracked_files="no").values())
        return CheckoutState(self._head_branch(work), not dirty)

    def _checkout_of(self, branch: str) -> Path | None:
        """The working tree that has `branch` checked out, if any."""
        return next((c.path for c in self.checkouts() if c.branch == branch), None)

    # ----------------------------------------------------------------- small readers

    @staticmethod
    def _head_branch(repo: pygit2.Repository) -> str | None:
        """The branch HEAD points at (also when it has no commit yet), or None when detached."""
        try:
            head = repo.lookup_reference("HEAD")
        except KeyError:
            return None
        target = head.target
        if isinstance(target, str) and target.startswith(HEADS):
            return target.removeprefix(HEADS)
        return None

    def _origin_head(self) -> str | None:
        """The branch `origin/HEAD` names, when the clone recorded one."""
        try:
            target = self.raw.lookup_reference(ORIGIN_HEAD).target
        except KeyError:
            return None
        if isinstance(target, str) and target.startswith(ORIGIN_PREFIX):
            return target.removeprefix(ORIGIN_PREFIX)
        return None

    def _config_value(self, key: str) -> str | None:
        """A config value as git would see it from this repository, or None."""
        try:
            return str(self.raw.config[key])
        except KeyError:
            return None


# --------------------------------------------------------------------- helpers


def _common_dir(git_dir: Path) -> Path:
    """The common git directory: a linked worktree's admin dir names it in `commondir`."""
    pointer = git_dir / "commondir"
    if not pointer.is_file():
        return git_dir
    return (git_dir / pointer.read_text(encoding="utf-8").strip()).resolve()


def _common_repository(repo: Repo) -> pygit2.Repository:
    """The repository as opened from its common dir (so its workdir is the main checkout)."""
    if Path(repo.raw.path).resolve() == repo.git_dir:
        return repo.raw
    return pygit2.Repository(str(repo.git_dir))


def _linked_checkouts(main: pygit2.Repository) -> Iterator[Checkout]:
    """The linked worktrees whose directory still exists, with their branches."""
    for name in main.list_worktrees():
        try:
            path = Path(main.lookup_worktree(name).path)
            work = pygit2.Repository(str(path))
        except (pygit2.GitError, KeyError):
            continue  # registered but gone (prunable): nothing is checked out there
        yield Checkout(path.resolve(), Repo._head_branch(work))


def _changed_paths(work: pygit2.Repository) -> list[str]:
    """Paths whose status differs from HEAD, including untracked and excluding ignored ones."""
    return [path for path, flags in work.status().items() if flags & _CHANGED]


def _conflict_paths(index: pygit2.Index) -> list[str]:
    """Each conflicted path once, from whichever side of the conflict still has it."""
    paths: list[str] = []
    for ancestor, ours, theirs in index.conflicts or ():
        entry = ours or theirs or ancestor
        if entry is not None and entry.path not in paths:
            paths.append(entry.path)
    return sorted(paths)


def _needs_filter_driver(work: pygit2.Repository, paths: list[str]) -> bool:
    """True when a changed path goes through a configured external filter (git-lfs & co)."""
    drivers = _filter_drivers(work)
    if not drivers:
        return False
    return any(work.get_attr(path, "filter") in drivers for path in paths)


def _filter_drivers(work: pygit2.Repository) -> set[str]:
    """Names of `filter.<name>.clean` / `.process` drivers configured for this repository."""
    drivers: set[str] = set()
    for entry in work.config:
        parts = entry.name.split(".")
        if len(parts) == 3 and parts[0] == "filter" and parts[2] in {"clean", "process"}:
            drivers.add(parts[1])
    return drivers


def _commit_all_with_git(
    git_dir: Path, workdir: Path, message: str, author: tuple[str, str]
) -> str | None:
    """`git add -A` + `git commit` in the worktree, for content only git's filters can clean.
    The git directory is named explicitly (never found through the tree's `.git` file)."""
    name, email = author
    where = ["--git-dir", str(git_dir), "--work-tree", str(workdir)]
    run_git([*where, "add", "--all"], workdir)
    if run_git([*where, "diff", "--cached", "--quiet"], workdir, check=False).returncode == 0:
        return None
    identity = ["-c", f"user.name={name}", "-c", f"user.email={email}"]
    commit = ["commit", "--quiet", "--no-verify", "--no-gpg-sign", "--allow-empty-message"]
    run_git([*where, *identity, *commit, f"--author={name} <{email}>", "-m", message], workdir)
    return run_git([*where, "rev-parse", "HEAD"], workdir).stdout.decode().strip()


def _blobs(
    raw: pygit2.Repository, tree: pygit2.Tree, prefix: str
) -> Iterator[tuple[str, pygit2.Object]]:
    """(path, entry) of every file and link in `tree`, recursively."""
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.filemode == FileMode.TREE:
            yield from _blobs(raw, raw[entry.id].peel(pygit2.Tree), path + "/")
        elif entry.filemode != FileMode.COMMIT:
            yield path, entry


def _export_tree(raw: pygit2.Repository, tree: pygit2.Tree, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for entry in tree:
        target = dest / str(entry.name)
        if entry.filemode == FileMode.TREE:
            _export_tree(raw, raw[entry.id].peel(pygit2.Tree), target)
        else:
            _write_entry(raw, entry, target)


def _write_entry(raw: pygit2.Repository, entry: pygit2.Object, target: Path) -> None:
    """One file of a tree at `target` as committed: bytes, the executable bit, a link as a
    link. A submodule (FileMode.COMMIT) has no content in this repository: left out."""
    if entry.filemode == FileMode.LINK:
        target.symlink_to(raw[entry.id].peel(pygit2.Blob).data.decode("utf-8", "replace"))
    elif entry.filemode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
        target.write_bytes(raw[entry.id].peel(pygit2.Blob).data)
        if entry.filemode == FileMode.BLOB_EXECUTABLE:
            target.chmod(0o755)
