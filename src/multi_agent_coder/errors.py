"""One exception tree for everything a user can cause.

Each class carries its exit code (DESIGN §8) so the CLI maps errors to exit codes in one place:
0 ok, 1 problems found / task failed, 2 usage or config error, 3 internal error, 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from multi_agent_coder.problems import Problem

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class MacoderError(Exception):
    """Base of every error macoder raises on purpose. Its message is meant for the user."""

    exit_code: ClassVar[int] = EXIT_PROBLEMS


class UsageError(MacoderError):
    """The command line or the configuration asks for something that cannot be done."""

    exit_code: ClassVar[int] = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration value is invalid. The message names the file (or variable) and the key."""


class ProviderCheckError(ConfigError):
    """A model the run would use does not answer (the preflight): nothing was started."""


class InvalidTaskIdError(UsageError):
    """A string that should be a task id is not one; refused before it reaches a path or shell."""

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(
            f"invalid task id {value!r}: a task id is an uppercase letter, then uppercase letters "
            "or digits, an optional '-', and 2 to 5 digits (e.g. T001, AUTH-012)"
        )


class InvalidTrackError(UsageError):
    """A string that should name a planning track (`specs/<track>/`) is not one; refused
    before it reaches a path or a git lookup."""

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(
            f"invalid track name {value!r}: a track is 1 to 64 characters, lowercase letters, "
            "digits, '.', '_' or '-', starting with a letter or digit, without '..' "
            "(e.g. auth, search-v2)"
        )


class UnknownTaskError(UsageError):
    """A command named a well-formed task id that the backlog does not have."""

    def __init__(self, task_id: str, path: str, known: Sequence[str] = ()) -> None:
        import difflib

        self.task_id = task_id
        near = difflib.get_close_matches(task_id, list(known), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        super().__init__(f"{path}: no task with id {task_id!r}{hint}")


class NoBacklogError(UsageError):
    """The backlog file is not in the commit (or directory) macoder reads it from."""


class UnreadableFileError(UsageError):
    """A file macoder reads on the user's behalf (backlog, settings, opencode.json) cannot be
    read as one: missing, not a regular file, a symlink out of the repository or in a loop,
    over the size limit. Exit 2 like any unusable input path; nothing was read past the limit.
    """

    def __init__(self, shown: str, reason: str, *, missing: bool = False) -> None:
        self.shown = shown
        self.reason = reason
        #: Nothing is there at all: some callers treat that as "use the defaults".
        self.missing = missing
        super().__init__(f"{shown}: {reason}")


class NotWritableError(UsageError):
    """A file macoder was asked to change, or its directory, may not be written: refused
    before anything is replaced, so the file stays byte-identical."""


class ProblemsFound(MacoderError):
    """Input was read but is not acceptable; `problems` say where and why."""

    exit_code: ClassVar[int] = EXIT_PROBLEMS

    def __init__(self, problems: Sequence[Problem], summary: str = "") -> None:
        self.problems = list(problems)
        count = len(self.problems)
        default = f"{count} problem{'s' if count != 1 else ''} found" if count else "invalid input"
        super().__init__(summary or default)


class PlanningError(MacoderError):
    """Planning produced nothing usable: a planning agent failed, answered nothing or left a
    session behind; a track's planning files cannot be merged into PLAN.md (a required
    heading is missing, empty or there twice, a code fence is left open, a file is not
    UTF-8). One line per problem, each naming the file (and the line, where there is one), e.g.
    `specs/auth/SPEC.md: missing heading "## Requirements"`. Nothing was written."""

    exit_code: ClassVar[int] = EXIT_PROBLEMS

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class BacklogInvalidError(ProblemsFound):
    """The backlog file does not load or does not validate."""


class WriteRefusedError(ProblemsFound):
    """A backlog edit would produce an invalid file, so nothing was written."""


class FixBacklogFirstError(ProblemsFound):
    """`macoder generate` adds tasks only to a backlog that passes `macoder check`: problems
    already there are the person's to fix, not a model's. Usage, like a wrong path: nothing
    was asked of a model."""

    exit_code: ClassVar[int] = EXIT_USAGE


class BacklogChangedError(MacoderError):
    """The backlog file changed on disk while macoder was preparing its edit: nothing is
    written over a person's edit (run the command again on the file as it is now)."""


class SessionLeakError(MacoderError):
    """An agent session could not be verified deleted: a command that promised to leave none
    fails, naming the session, rather than succeed over a leak."""


class GitError(MacoderError):
    """A git operation failed. The message names the command and carries git's own words."""

    def __init__(
        self,
        message: str,
        *,
        command: Sequence[str] = (),
        stderr: str = "",
        returncode: int | None = None,
    ) -> None:
        self.command = list(command)
        self.stderr = stderr.strip()
        self.returncode = returncode
        parts = [message]
        if self.command:
            parts.append(f"command: {' '.join(self.command)}")
        if self.stderr:
            parts.append(f"git said: {self.stderr}")
        super().__init__("\n  ".join(parts))


class NotAGitRepositoryError(UsageError):
    """macoder was pointed at a directory that is not inside a git repository."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: not a git repository (or any parent up to the filesystem root)")


class RefMovedError(GitError):
    """A compare-and-swap ref update lost a race: the ref no longer holds the expected commit."""


class MergeConflictError(GitError):
    """A merge would conflict; nothing was changed."""

    def __init__(self, target: str, source: str, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        shown = ", ".join(self.paths[:10]) + (" …" if len(self.paths) > 10 else "")
        super().__init__(
            f"cannot merge {source!r} into {target!r}: conflicts in {shown}; nothing was changed"
        )


class DirtyCheckoutError(GitError):
    """The branch to update is checked out with local changes; updating it would lose them."""

    def __init__(self, branch: str, path: str) -> None:
        self.branch = branch
        self.path = path
        super().__init__(
            f"branch {branch!r} is checked out at {path} with uncommitted changes; "
            "commit or stash them and try again (nothing was changed)"
        )


class LedgerBusyError(GitError):
    """The run ledger kept moving under us; the write was given up after bounded retries."""


class ForgeError(MacoderError):
    """The forge (local records or GitHub) refused or failed an operation."""


class FeedbackRefusedError(ForgeError):
    """A review or `/macoder fix` comment that is not a reviewer's ask to revise a task's PR:
    on another PR, by someone who may not command macoder, not asking for changes, empty.
    The message is macoder's own words (never the review's text)."""


class UnhealthyRepositoryError(MacoderError):
    """The target repository's own checks fail before any agent starts: nothing is touched."""


class GitHubError(ForgeError):
    """GitHub answered an API call with an error. `status` is the HTTP status (0: no answer).

    Messages name the repository and what macoder was doing; they never carry the token.
    """

    def __init__(self, message: str, *, status: int = 0) -> None:
        self.status = status
        super().__init__(message)


class GitHubAuthError(GitHubError):
    """401: the token is missing, wrong or expired ("Bad credentials"). Never retried."""


class GitHubForbiddenError(GitHubError):
    """403 that is not a rate limit: the token lacks a permission. Never retried."""


class GitHubNotFoundError(GitHubError):
    """404: the repository (or pull request) does not exist or the token cannot see it."""


class GitHubValidationError(GitHubError):
    """422: GitHub refused the request's content; `messages`/`codes` are its `errors[]`."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 422,
        messages: Sequence[str] = (),
        codes: Sequence[str] = (),
    ) -> None:
        self.messages = tuple(messages)
        self.codes = tuple(codes)
        super().__init__(message, status=status)


class PullRequestExistsError(GitHubValidationError):
    """422 "A pull request already exists for owner:branch": someone opened it first."""


class GitHubUnavailableError(GitHubError):
    """A failure worth retrying (5xx, no answer, rate limit); `retry_after` is GitHub's ask."""

    def __init__(self, message: str, *, status: int = 0, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status)


class GitHubRateLimitError(GitHubUnavailableError):
    """403/429 rate limit (primary or secondary); retried only if the wait is within the cap."""


class PushRejectedError(ForgeError):
    """A push was refused: the remote branch moved since it was inspected (lease rejected)."""


class NeedsReviewError(ForgeError):
    """The remote task branch has commits macoder did not write: it is not overwritten.

    The caller labels the pull request `macoder:needs-review` and stops the task.
    """

    def __init__(self, branch: str, commits: Sequence[str]) -> None:
        self.branch = branch
        self.commits = tuple(commits)
        shown = ", ".join(self.commits[:5]) + (" …" if len(self.commits) > 5 else "")
        super().__init__(
            f"branch {branch} on the remote has commits by someone else ({shown}); "
            "not overwritten — a person should review it (label macoder:needs-review)"
        )


class UnsignableError(ForgeError):
    """`pull_request.sign_commits` cannot publish this branch as it was checked through
    GitHub's API (a mode, a symlink, a person's token, a tree GitHub made differently):
    nothing of it is published."""
