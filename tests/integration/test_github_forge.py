"""The GitHub forge against a stateful fake GitHub and a real bare git remote.

Every exchange with the fake — the request the forge sent and the answer the fake gave — is
validated against GitHub's own OpenAPI description (`@octokit/openapi`, installed by
`scripts/npm-tools.sh`) with openapi-core, on the whole `api.github.com.json` (loaded once per
session; loading takes ~0.2 s and a validation a few ms, so no trimmed copy is needed). Answers
with a status the description does not list for that operation (401 everywhere, injected
5xx/403) are checked against its `basic-error` schema instead. GraphQL exchanges (the
draft-state mutations) are held to GitHub's published GraphQL schema (`@octokit/graphql-schema`)
instead: the fake validates each document as it arrives, and the teardown checks again that
every one macoder sent is valid.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import pytest

from multi_agent_coder.config import PullRequestSettings
from multi_agent_coder.errors import (
    EXIT_PROBLEMS,
    ForgeError,
    GitError,
    GitHubAuthError,
    GitHubForbiddenError,
    GitHubNotFoundError,
    GitHubRateLimitError,
    GitHubUnavailableError,
    GitHubValidationError,
    InvalidTaskIdError,
    MacoderError,
    NeedsReviewError,
    PushRejectedError,
    UnsignableError,
)
from multi_agent_coder.forge import github_sansio as sansio
from multi_agent_coder.forge.base import (
    LABEL,
    LABEL_FAILED,
    LABEL_NEEDS_REVIEW,
    LABEL_SUPERSEDED,
    PrState,
    WantedPr,
)
from multi_agent_coder.forge.github import GitHubForge
from multi_agent_coder.git import remote as remote_module
from multi_agent_coder.git.remote import git_auth_env
from multi_agent_coder.git.repo import Repo
from testing import fake_graphql
from testing.fake_github import Exchange, FakeGitHub
from tests.conftest import without_tools
from tests.integration.gitrepos import git, git_env, make_repo

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / ".tools/npm/node_modules/@octokit/openapi/generated/api.github.com.json"
NO_OPENAPI = "GitHub's OpenAPI description is not installed: run scripts/npm-tools.sh"

TOKEN = "ghs_FAKE0123456789abcdefTOKENvalue"  # noqa: S105 - a made-up token to look for
WRONG_TOKEN = "ghp_wrong"  # noqa: S105 - made up too
SLUG = "octo/widgets"
MACODER = ("macoder", "macoder@localhost")
HUMAN = ("Repo Owner", "owner@example.com")
SECRETS = (TOKEN, base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode())


# --------------------------------------------------------------------- OpenAPI validation


@dataclass
class OpenAPIChecker:
    """Validates recorded exchanges against GitHub's description (see the module docstring)."""

    api: Any
    basic_error: Any
    loaded_s: float = 0.0
    checked: int = 0
    seconds: float = 0.0
    statuses: set[tuple[str, str, int]] = field(default_factory=set)

    def check(self, exchange: Exchange) -> None:
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        if exchange.path == "/graphql":  # not REST: see `graphql_schema`
            return
        from openapi_core.testing import MockRequest, MockResponse

        started = time.perf_counter()
        args = {key: values[-1] for key, values in parse_qs(exchange.query).items()}
        request = MockRequest(
            "https://api.github.com",
            exchange.method.lower(),
            exchange.path,
            args=args,
            headers=dict(exchange.request_headers),
            data=exchange.request_body or None,
        )
        self.api.validate_request(request)
        response = MockResponse(
            exchange.response_body,
            status_code=exchange.status,
            headers=dict(exchange.response_headers),
        )
        try:
            self.api.validate_response(request, response)
        except ResponseNotFound:
            self.basic_error.validate(exchange.response_json())
        self.checked += 1
        self.seconds += time.perf_counter() - started
        self.statuses.add((exchange.method, _template(exchange.path), exchange.status))


def _template(path: str) -> str:
    return re.sub(r"/\d+", "/{n}", path)


@pytest.fixture(scope="session")
def openapi(request: pytest.FixtureRequest) -> Iterator[OpenAPIChecker | None]:
    """The checker, or None where GitHub's description is not installed: the flows still run
    against the fake; only the extra validation of each exchange is left out."""
    if not OPENAPI.exists() or without_tools():
        yield None
        return
    from openapi_core import Config, OpenAPI
    from openapi_schema_validator import OAS30Validator

    started = time.perf_counter()
    spec = json.loads(OPENAPI.read_text(encoding="utf-8"))
    # The document itself is GitHub's; validating the 13 MB description on every run would
    # only re-check GitHub's work and take minutes.
    api = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
    basic_error = OAS30Validator(spec["components"]["schemas"]["basic-error"])
    checker = OpenAPIChecker(api, basic_error, loaded_s=time.perf_counter() - started)
    yield checker
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and checker.checked:
        reporter.write_line(
            f"GitHub OpenAPI: description loaded in {checker.loaded_s:.2f} s; "
            f"{checker.checked} exchanges validated in {checker.seconds:.2f} s "
            f"({len(checker.statuses)} distinct method/path/status: "
            f"{', '.join(f'{m} {p} {c}' for m, p, c in sorted(checker.statuses))})"
        )


@pytest.fixture(scope="session")
def graphql_schema() -> Any:
    """GitHub's GraphQL schema, or None where it is not installed (the fake then answers
    GraphQL unchecked)."""
    if without_tools():
        return None
    return fake_graphql.load_schema()


# --------------------------------------------------------------------- time, repos, the fake


class Clock:
    """Epoch time that only moves when the forge sleeps; the sleeps are recorded."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def commit_as(work: Path, author: tuple[str, str], files: dict[str, str], message: str) -> str:
    for name, content in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(content, encoding="utf-8")
    git(work, "add", "-A")
    git(
        work,
        "-c",
        f"user.name={author[0]}",
        "-c",
        f"user.email={author[1]}",
        "commit",
        "-qm",
        message,
    )
    return git(work, "rev-parse", "HEAD")


def task_commit(work: Path, task_id: str, text: str, *, start: str = "main") -> str:
    """A macoder commit on `macoder/<task_id>` (reset onto `start`), checkout back on main."""
    git(work, "checkout", "-q", "-B", f"macoder/{task_id}", start)
    sha = commit_as(work, MACODER, {f"src/{task_id.lower()}.py": text}, f"{task_id}: work")
    git(work, "checkout", "-q", "main")
    return sha


def remote_sha(bare: Path, branch: str) -> str:
    return git(bare, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    seed = make_repo(tmp_path / "seed", {"BACKLOG.yaml": "tasks: []\n", "README.md": "hi\n"})
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    return bare


@pytest.fixture
def work(tmp_path: Path, remote: Path) -> Path:
    path = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(path))
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(
    openapi: OpenAPIChecker | None, graphql_schema: Any, remote: Path, clock: Clock
) -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKEN, clock=clock, graphql_schema=graphql_schema) as server:
        server.add_repo(SLUG, remote)
        yield server
        for exchange in server.exchanges:
            if exchange.path == "/graphql" and graphql_schema is not None:
                sent = exchange.request_json()
                assert (
                    fake_graphql.schema_errors(graphql_schema, sent["query"], sent.get("variables"))
                    == []
                ), sent
            if exchange.request_headers.get("User-Agent") == sansio.USER_AGENT:
                assert exchange.request_headers["Accept"] == sansio.MEDIA_TYPE
                assert exchange.request_headers["X-GitHub-Api-Version"] == sansio.API_VERSION
                assert exchange.request_headers["Authorization"].startswith("Bearer ")
                assert TOKEN not in exchange.path + exchange.query
            if openapi is not None:
                openapi.check(exchange)


def make_forge(
    fake: FakeGitHub | None, work: Path, remote: Path, clock: Clock, **options: Any
) -> GitHubForge:
    options.setdefault("api_url", fake.api_url if fake is not None else "http://127.0.0.1:9")
    return GitHubForge(
        options.pop("slug", SLUG),
        options.pop("token", TOKEN),
        repo=Repo.open(work),
        git_remote_url=str(remote),
        sleep=clock.sleep,
        clock=clock,
        **options,
    )


@pytest.fixture
def forge(fake: FakeGitHub, work: Path, remote: Path, clock: Clock) -> Iterator[GitHubForge]:
    with closing(make_forge(fake, work, remote, clock)) as instance:
        yield instance


def publish(forge: GitHubForge, work: Path, task_id: str, text: str, **pr: Any) -> Any:
    """What `run_task` does for a verified task: commit, push, create or update the PR."""
    sha = task_commit(work, task_id, text)
    forge.publish_branch(f"macoder/{task_id}", sha)
    return forge.create_or_update_pr(
        WantedPr(
            task_id=task_id,
            branch=f"macoder/{task_id}",
            base="main",
            head_sha=sha,
            title=pr.get("title", f"{task_id}: do it"),
            body=pr.get("body", "verified"),
            draft=pr.get("draft", False),
            labels=pr.get("labels", (LABEL,)),
        )
    )


def open_pulls(fake: FakeGitHub) -> list[dict[str, Any]]:
    return [p for p in fake.pulls(SLUG) if p["state"] == "open"]


# --------------------------------------------------------------------- one PR per task


def test_one_task_opens_one_labelled_pr(forge: GitHubForge, fake: FakeGitHub, work: Path) -> None:
    result = publish(forge, work, "T001", "print(1)\n")

    [pr] = fake.pulls(SLUG)
    assert result.operation == "created"
    assert (result.number, result.url) == (pr["number"], pr["html_url"])
    assert result.head_sha == pr["head"]["sha"] == git(work, "rev-parse", "macoder/T001")
    assert pr["head"]["ref"] == "macoder/T001"
    assert pr["base"]["ref"] == "main"
    assert pr["draft"] is False
    assert [label["name"] for label in pr["labels"]] == [LABEL]
    assert fake.label_colours(SLUG)[LABEL] == sansio.LABELS[LABEL][0]
    assert result.labels == (LABEL,)
    found = forge.find_open_pr("T001")
    assert found is not None
    assert found.number == result.number
    assert found.task_id == "T001"


def test_the_same_run_twice_updates_and_never_duplicates(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    first = publish(forge, work, "T001", "print(1)\n")
    again = forge.create_or_update_pr(
        WantedPr(
            task_id="T001",
            branch="macoder/T001",
            base="main",
            head_sha=first.head_sha,
            title="T001: do it",
            body="verified",
            draft=False,
            labels=(LABEL,),
        )
    )
    rerun = publish(forge, work, "T001", "print(2)\n", body="verified again")

    assert again.operation == "none"
    assert again.number == first.number
    assert rerun.operation == "updated"
    assert rerun.number == first.number
    [pr] = fake.pulls(SLUG)
    assert pr["body"] == "verified again"
    assert pr["head"]["sha"] == rerun.head_sha != first.head_sha
    patches = [e for e in fake.exchanges if e.method == "PATCH"]
    assert len(patches) == 1
    assert patches[0].request_json() == {"body": "verified again"}


def test_racing_creators_open_exactly_one_pr(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock
) -> None:
    racers = 4
    sha = task_commit(work, "T001", "print(1)\n")
    git(work, "push", "-q", str(remote), "macoder/T001")
    barrier = threading.Barrier(racers, timeout=20)
    creates = iter(range(racers))

    def hold_first_creates(method: str, path: str) -> None:
        if method == "POST" and path.endswith("/pulls") and next(creates, None) is not None:
            # Each racer posts only after its own lookup was answered; holding every create
            # until all racers have posted means every lookup found nothing: a real race.
            barrier.wait()

    fake.before_request = hold_first_creates
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with closing(make_forge(fake, work, remote, clock)) as racer:
                results.append(
                    racer.create_or_update_pr(
                        WantedPr(
                            task_id="T001",
                            branch="macoder/T001",
                            base="main",
                            head_sha=sha,
                            title="T001: do it",
                            body="verified",
                            draft=False,
                            labels=(LABEL,),
                        )
                    )
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert len(fake.pulls(SLUG)) == 1
    assert {r.number for r in results} == {fake.pulls(SLUG)[0]["number"]}
    assert sorted(r.operation for r in results).count("created") == 1
    refused = [e for e in fake.exchanges if e.method == "POST" and e.path.endswith("/pulls")]
    assert len(refused) == racers
    assert sum(e.status == 422 for e in refused) == racers - 1
    assert "A pull request already exists for octo:macoder/T001." in {
        err["message"] for e in refused if e.status == 422 for err in e.response_json()["errors"]
    }


def test_a_failed_task_is_a_labelled_draft_and_never_merge_ready(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    failed = publish(forge, work, "T001", "broken\n", draft=True, labels=(LABEL, LABEL_FAILED))

    [pr] = fake.pulls(SLUG)
    assert failed.operation == "created"
    assert pr["draft"] is True
    assert [label["name"] for label in pr["labels"]] == [LABEL, LABEL_FAILED]
    assert fake.label_colours(SLUG)[LABEL_FAILED] == sansio.LABELS[LABEL_FAILED][0]
    [listed] = forge.list_prs()
    assert listed.draft
    assert listed.state is PrState.OPEN

    fake.clear_exchanges()
    fixed = publish(forge, work, "T001", "print('fixed')\n")

    assert fixed.operation == "updated"
    assert fixed.number == failed.number  # the same PR: its number, threads and approvals
    [ready] = fake.pulls(SLUG)
    assert ready["state"] == "open"
    assert ready["draft"] is False
    assert [label["name"] for label in ready["labels"]] == [LABEL]
    assert fake.comments(SLUG, failed.number) == []
    # Marked ready last, once the labels say the attempt is verified (reviewers see that).
    assert [step(e) for e in fake.exchanges if e.method != "GET"] == [
        f"DELETE /repos/{SLUG}/issues/{failed.number}/labels/macoder%3Afailed",
        "POST /graphql markPullRequestReadyForReview",
    ]


def step(exchange: Exchange) -> str:
    """`METHOD path`, and for GraphQL the mutation's name."""
    if exchange.path != "/graphql":
        return f"{exchange.method} {exchange.path}"
    return f"POST /graphql {mutation_of(exchange.request_json()['query'])}"


def mutation_of(query: str) -> str:
    found = re.search(r"\{\s*(\w+)\s*\(", query)
    assert found is not None, query
    return found[1]


def test_a_failure_after_a_ready_pr_makes_that_pr_a_draft_first(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    ready = publish(forge, work, "T001", "print(1)\n")
    fake.clear_exchanges()

    failed = publish(
        forge, work, "T001", "broken\n", draft=True, labels=(LABEL, LABEL_FAILED), body="log"
    )

    assert (failed.number, failed.operation) == (ready.number, "updated")
    [only] = fake.pulls(SLUG)
    assert only["state"] == "open"
    assert only["draft"] is True
    assert {label["name"] for label in only["labels"]} == {LABEL, LABEL_FAILED}
    # Never merge-ready with a failure report: the draft state changes before anything else.
    writes = [step(e) for e in fake.exchanges if e.method != "GET"]
    assert writes[0] == "POST /graphql convertPullRequestToDraft"
    assert f"PATCH /repos/{SLUG}/pulls/{ready.number}" in writes
    assert not any(e.request_json() == {"state": "closed"} for e in fake.exchanges)


@pytest.mark.parametrize(
    ("first_draft", "then_draft", "state"),
    [(False, True, "a draft"), (True, False, "ready for review")],
    ids=["to-draft", "to-ready"],
)
def test_a_token_github_refuses_the_draft_mutations_falls_back_to_a_successor_pr(  # noqa: PLR0917
    forge: GitHubForge,
    fake: FakeGitHub,
    work: Path,
    first_draft: bool,
    then_draft: bool,
    state: str,
) -> None:
    """A workflow's GITHUB_TOKEN may not call the draft-state mutations (GitHub answers
    FORBIDDEN whatever its `permissions:`): a failed attempt must still never stay
    merge-ready, so the PR is closed and its successor opened, and the old one says why."""
    fake.actions_tokens.add(TOKEN)
    failed = (LABEL, LABEL_FAILED)
    first = publish(
        forge, work, "T001", "1\n", draft=first_draft, labels=failed if first_draft else (LABEL,)
    )

    second = publish(
        forge, work, "T001", "2\n", draft=then_draft, labels=failed if then_draft else (LABEL,)
    )
    third = publish(forge, work, "T001", "3\n", draft=first_draft, labels=(LABEL,))

    assert (second.operation, third.operation) == ("created", "created")
    assert first.number < second.number < third.number
    [current] = open_pulls(fake)
    assert (current["number"], current["draft"]) == (third.number, first_draft)
    [said] = fake.comments(SLUG, first.number)
    assert said.startswith(f"Superseded by #{second.number}: the task's new attempt is {state}")
    assert "GITHUB_TOKEN" in said
    # Refused once: this forge does not ask again.
    assert sum(e.path == "/graphql" for e in fake.exchanges) == 1
    # Each PR macoder closed says so, so no run takes it for a person's no.
    closed = {pr.number: pr for pr in forge.list_prs(include_closed=True)}
    assert LABEL_SUPERSEDED in closed[first.number].labels
    assert LABEL_SUPERSEDED in closed[second.number].labels
    assert LABEL_SUPERSEDED not in closed[third.number].labels


def test_a_successor_github_refuses_reopens_the_old_pr_without_the_superseded_label(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    fake.actions_tokens.add(TOKEN)
    first = publish(forge, work, "T001", "1\n", draft=True, labels=(LABEL, LABEL_FAILED))
    fake.fail(422, method="POST", path=f"/repos/{SLUG}/pulls", message="Validation Failed")

    with pytest.raises(GitHubValidationError):
        publish(forge, work, "T001", "2\n", draft=False, labels=(LABEL,))

    [still] = open_pulls(fake)
    assert still["number"] == first.number
    assert LABEL_SUPERSEDED not in [label["name"] for label in still["labels"]]


def test_draft_mutations_are_retried_on_a_secondary_rate_limit(
    forge: GitHubForge, fake: FakeGitHub, work: Path, clock: Clock
) -> None:
    publish(forge, work, "T001", "broken\n", draft=True, labels=(LABEL, LABEL_FAILED))
    fake.secondary_rate_limit(times=1, retry_after=5, method="POST")
    fake.clear_exchanges()

    fixed = publish(forge, work, "T001", "print(1)\n")

    assert fixed.operation == "updated"
    assert clock.sleeps == [5.0]
    assert fake.pulls(SLUG)[0]["draft"] is False


def test_a_new_attempt_takes_off_the_state_labels_it_no_longer_earns(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    first = publish(
        forge, work, "T001", "cheat\n", draft=True, labels=(LABEL, LABEL_NEEDS_REVIEW, "team:web")
    )
    second = publish(forge, work, "T001", "stopped\n", draft=True, labels=(LABEL, LABEL_FAILED))

    assert second.number == first.number  # both drafts: updated in place
    [pr] = open_pulls(fake)
    assert [label["name"] for label in pr["labels"]] == [LABEL, "team:web", LABEL_FAILED]
    assert second.labels == (LABEL, "team:web", LABEL_FAILED)


def test_existing_labels_are_fine_and_unknown_ones_are_created(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    with httpx.Client(base_url=fake.api_url, headers=sansio.request_headers(TOKEN)) as client:
        created = client.post(f"/repos/{SLUG}/labels", json={"name": LABEL, "color": "000000"})
    assert created.status_code == 201

    result = publish(forge, work, "T001", "x\n", labels=(LABEL, "team:web"))

    assert result.labels == (LABEL, "team:web")
    assert fake.label_colours(SLUG) == {LABEL: "000000", "team:web": sansio.OTHER_LABEL[0]}
    # Read before created: no 422 for the label that exists.
    on_labels = [
        (e.method, e.path.rpartition("/labels")[2], e.status)
        for e in fake.exchanges
        if "/labels" in e.path and "/issues/" not in e.path
    ]
    assert on_labels == [
        ("POST", "", 201),  # the test's own, above
        ("GET", "/macoder", 200),
        ("GET", "/team%3Aweb", 404),
        ("POST", "", 201),
    ]
    publish(forge, work, "T002", "y\n", labels=(LABEL, "team:web"))
    assert sum("/labels/" in e.path and "/issues/" not in e.path for e in fake.exchanges) == 2


def test_a_label_another_job_creates_between_the_read_and_the_create_is_fine(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    def racing_job_creates_it(method: str, path: str) -> None:
        if method == "POST" and path == f"/repos/{SLUG}/labels":
            fake.before_request = None
            body = json.dumps({"name": "team:web", "color": "123456"}).encode()
            headers = sansio.request_headers(TOKEN)
            assert fake.handle("POST", path, headers, body)[0] == 201

    fake.before_request = racing_job_creates_it

    result = publish(forge, work, "T001", "x\n", labels=("team:web",))

    assert result.labels == ("team:web",)
    assert fake.label_colours(SLUG) == {"team:web": "123456"}


def test_list_prs_follows_pagination_and_keeps_only_macoder_branches(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock
) -> None:
    with closing(make_forge(fake, work, remote, clock, page_size=2)) as forge:
        for n in range(1, 6):
            publish(forge, work, f"T00{n}", f"print({n})\n")
        git(work, "checkout", "-q", "-b", "feature/x")
        commit_as(work, HUMAN, {"x.txt": "x\n"}, "feature")
        git(work, "push", "-q", str(remote), "feature/x")
        with httpx.Client(base_url=fake.api_url, headers=sansio.request_headers(TOKEN)) as c:
            c.post(
                f"/repos/{SLUG}/pulls", json={"title": "x", "head": "feature/x", "base": "main"}
            ).raise_for_status()
        fake.clear_exchanges()

        prs = forge.list_prs()

    assert sorted(pr.task_id for pr in prs) == [f"T00{n}" for n in range(1, 6)]
    pages = [e for e in fake.exchanges if e.path.endswith("/pulls")]
    assert len(pages) == 3  # six open PRs, two per page
    assert all("Link" in e.response_headers for e in pages)


def test_an_over_long_title_and_body_are_cut_not_refused(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    result = publish(forge, work, "T001", "x\n", title="T" * 300, body="log line\n" * 20_000)

    [pr] = fake.pulls(SLUG)
    assert result.operation == "created"
    assert len(pr["title"]) == sansio.MAX_TITLE_CHARS
    assert pr["title"].endswith(" …")
    assert len(pr["body"]) == sansio.MAX_BODY_CHARS
    assert pr["body"].endswith("65536 characters)")
    again = publish(forge, work, "T001", "x\n", title="T" * 300, body="log line\n" * 20_000)
    assert again.operation == "none"  # compared after cutting: no needless PATCH


# --------------------------------------------------------------------- retries and failures


def test_a_secondary_rate_limit_waits_as_told_then_succeeds(
    forge: GitHubForge, fake: FakeGitHub, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.secondary_rate_limit(times=2, retry_after=7)

    with caplog.at_level(logging.WARNING, logger="multi_agent_coder.forge.github"):
        assert forge.find_open_pr("T001") is None

    assert clock.sleeps == [7.0, 7.0]
    assert [e.status for e in fake.exchanges] == [403, 403, 200]
    assert "retrying in 7.0 s" in caplog.text


def test_a_primary_rate_limit_waits_until_the_reset(
    forge: GitHubForge, fake: FakeGitHub, clock: Clock
) -> None:
    fake.primary_rate_limit(reset_in=30)

    assert forge.list_prs() == []
    assert clock.sleeps == [30.0 + sansio.RESET_MARGIN_S]


def test_a_rate_limit_longer_than_the_cap_fails_at_once(
    forge: GitHubForge, fake: FakeGitHub, clock: Clock
) -> None:
    fake.primary_rate_limit(reset_in=3600)

    with pytest.raises(GitHubRateLimitError, match="more than the 120 s") as caught:
        forge.list_prs()

    assert clock.sleeps == []
    assert len(fake.exchanges) == 1
    assert caught.value.exit_code == EXIT_PROBLEMS


def test_server_errors_are_retried_then_succeed(
    forge: GitHubForge, fake: FakeGitHub, clock: Clock
) -> None:
    fake.fail(502, times=2)

    assert forge.find_open_pr("T001") is None
    assert [e.status for e in fake.exchanges] == [502, 502, 200]
    assert len(clock.sleeps) == 2
    assert 0.5 <= clock.sleeps[0] <= 1.0
    assert 1.0 <= clock.sleeps[1] <= 2.0


def test_server_errors_forever_give_a_clear_error_after_bounded_retries(
    forge: GitHubForge, fake: FakeGitHub, clock: Clock
) -> None:
    fake.fail(500, times=1000)

    with pytest.raises(GitHubUnavailableError) as caught:
        forge.find_open_pr("T001")

    message = str(caught.value)
    assert "HTTP 500" in message
    assert "gave up after 4 attempts" in message  # retry.max_retries = 3: one try + 3 retries
    assert SLUG in message
    assert len(fake.exchanges) == 4
    assert len(clock.sleeps) == 3
    assert caught.value.exit_code == EXIT_PROBLEMS


def test_an_unknown_repository_is_a_clear_404_without_retry(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock
) -> None:
    with (
        closing(make_forge(fake, work, remote, clock, slug="octo/nope")) as forge,
        pytest.raises(GitHubNotFoundError, match="repository octo/nope does not exist"),
    ):
        forge.list_prs()

    assert len(fake.exchanges) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("token", [WRONG_TOKEN, TOKEN + "x"])
def test_a_bad_token_is_bad_credentials_without_retry(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock, token: str
) -> None:
    with (
        closing(make_forge(fake, work, remote, clock, token=token)) as forge,
        pytest.raises(GitHubAuthError, match="bad credentials") as caught,
    ):
        forge.find_open_pr("T001")

    assert caught.value.exit_code == EXIT_PROBLEMS
    assert caught.value.status == 401
    assert token not in str(caught.value)
    assert len(fake.exchanges) == 1
    assert clock.sleeps == []


def test_no_token_at_all_is_refused_by_the_fake_like_github(fake: FakeGitHub) -> None:
    answer = httpx.get(f"{fake.api_url}/repos/{SLUG}/pulls")
    assert answer.status_code == 401
    assert answer.json()["message"] == "Requires authentication"


def test_forbidden_is_final(forge: GitHubForge, fake: FakeGitHub, clock: Clock) -> None:
    fake.fail(403, message="Resource not accessible by integration")

    with pytest.raises(GitHubForbiddenError, match="Resource not accessible"):
        forge.list_prs()
    assert len(fake.exchanges) == 1
    assert clock.sleeps == []


def test_a_pr_for_a_branch_that_was_never_pushed_is_a_validation_error(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    sha = task_commit(work, "T001", "x\n")  # committed, not published

    with pytest.raises(GitHubValidationError, match=r"PullRequest\.head: invalid"):
        forge.create_or_update_pr(
            WantedPr(
                task_id="T001",
                branch="macoder/T001",
                base="main",
                head_sha=sha,
                title="t",
                body="b",
                draft=False,
                labels=(LABEL,),
            )
        )
    assert fake.pulls(SLUG) == []


# --------------------------------------------------------------------- pushing


def test_publish_pushes_with_a_lease_and_force_updates_macoders_own_branch(
    work: Path, remote: Path, clock: Clock
) -> None:
    forge = make_forge(None, work, remote, clock)
    first = task_commit(work, "T001", "one\n")
    forge.publish_branch("macoder/T001", first)
    assert remote_sha(remote, "macoder/T001") == first

    second = task_commit(work, "T001", "two\n")  # a rewrite from main, not a fast-forward
    forge.publish_branch("macoder/T001", second)
    forge.publish_branch("macoder/T001", second)  # already there: nothing to do

    assert remote_sha(remote, "macoder/T001") == second
    assert git(work, "for-each-ref", "refs/macoder/") == ""  # inspection refs cleaned up


def test_publish_refuses_to_overwrite_a_persons_commit(
    work: Path, remote: Path, clock: Clock, tmp_path: Path
) -> None:
    forge = make_forge(None, work, remote, clock)
    forge.publish_branch("macoder/T001", task_commit(work, "T001", "one\n"))
    human = tmp_path / "human"
    git(tmp_path, "clone", "-q", "-b", "macoder/T001", str(remote), str(human))
    theirs = commit_as(human, HUMAN, {"fix.txt": "by hand\n"}, "manual fix")
    git(human, "push", "-q", "origin", "macoder/T001")

    with pytest.raises(NeedsReviewError, match="commits by someone else") as caught:
        forge.publish_branch("macoder/T001", task_commit(work, "T001", "two\n"))

    assert caught.value.commits == (theirs[:10],)
    assert remote_sha(remote, "macoder/T001") == theirs
    assert git(work, "for-each-ref", "refs/macoder/") == ""


def amend_as(work: Path, who: tuple[str, str], files: dict[str, str]) -> str:
    """A person amends the branch's last commit: its author stays, they are its committer."""
    for name, content in files.items():
        (work / name).write_text(content, encoding="utf-8")
    git(work, "add", "-A")
    git(
        work,
        "-c",
        f"user.name={who[0]}",
        "-c",
        f"user.email={who[1]}",
        "commit",
        "-q",
        "--amend",
        "--no-edit",
    )
    return git(work, "rev-parse", "HEAD")


@pytest.mark.parametrize("how", ["new-commit", "amended"])
def test_foreign_commits_can_be_checked_before_any_work(
    work: Path, remote: Path, clock: Clock, tmp_path: Path, how: str
) -> None:
    forge = make_forge(None, work, remote, clock)
    assert forge.foreign_commits("macoder/T001", "main") == ()  # no branch yet
    forge.publish_branch("macoder/T001", task_commit(work, "T001", "one\n"))
    assert forge.foreign_commits("macoder/T001", "main") == ()  # only macoder's commits
    human = tmp_path / "human"
    git(tmp_path, "clone", "-q", "-b", "macoder/T001", str(remote), str(human))
    if how == "amended":  # macoder is still the author: the committer says who it was
        theirs = amend_as(human, HUMAN, {"src/t001.py": "one, fixed\n"})
        assert git(human, "log", "-1", "--format=%ae") == MACODER[1]
    else:
        theirs = commit_as(human, HUMAN, {"fix.txt": "by hand\n"}, "manual fix")
    git(human, "push", "-q", "--force", "origin", "macoder/T001")

    assert forge.foreign_commits("refs/heads/macoder/T001", "main") == (theirs[:10],)


def test_closed_and_merged_prs_are_reported_as_such(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    """A person's answers to task PRs, as the plan reads them (`list_prs(include_closed)`)."""
    closed = publish(forge, work, "T001", "print(1)\n")
    forge._send(sansio.update_pull(forge.slug, closed.number, state="closed"))
    merged = publish(forge, work, "T002", "print(2)\n")
    fake.merged_by_a_person(SLUG, merged.number)
    still = publish(forge, work, "T003", "print(3)\n")

    states = {pr.task_id: pr.state for pr in forge.list_prs(include_closed=True)}

    assert states == {"T001": PrState.CLOSED, "T002": PrState.MERGED, "T003": PrState.OPEN}
    assert [pr.number for pr in forge.list_prs()] == [still.number]
    assert forge.find_open_pr("T001") is None


def test_a_push_that_lands_after_inspection_rejects_the_lease(
    work: Path, remote: Path, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forge = make_forge(None, work, remote, clock)
    forge.publish_branch("macoder/T001", task_commit(work, "T001", "one\n"))
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "macoder/T001", str(remote), str(other))
    real_run_git = remote_module.run_git

    def push_in_between(args: list[str], cwd: Path, **kw: Any) -> Any:
        if args[0] == "push":  # another macoder job pushes first
            commit_as(other, MACODER, {"racer.txt": "first\n"}, "racer")
            git(other, "push", "-q", "origin", "macoder/T001")
        return real_run_git(args, cwd, **kw)

    monkeypatch.setattr(remote_module, "run_git", push_in_between)
    mine = task_commit(work, "T001", "two\n")

    with pytest.raises(PushRejectedError, match="moved since macoder looked at it"):
        forge.publish_branch("macoder/T001", mine)
    assert remote_sha(remote, "macoder/T001") == git(other, "rev-parse", "HEAD")


def test_publish_refuses_a_branch_that_is_not_a_task_branch(
    work: Path, remote: Path, clock: Clock
) -> None:
    forge = make_forge(None, work, remote, clock)
    head = git(work, "rev-parse", "HEAD")
    with pytest.raises(ForgeError, match="not a task branch"):
        forge.publish_branch("main", head)
    with pytest.raises(InvalidTaskIdError):
        forge.publish_branch("macoder/T001/../main", head)
    assert remote_sha(remote, "main") == head
    assert git(remote, "branch", "--list") == "* main"


# --------------------------------------------------------------------- the token stays secret


class HeaderSink(BaseHTTPRequestHandler):
    """Records the Authorization headers git sends, then answers 404."""

    seen: ClassVar[list[list[str]]] = []

    def do_GET(self) -> None:
        HeaderSink.seen.append(self.headers.get_all("Authorization") or [])
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_git_gets_the_token_only_as_one_scoped_header(
    work: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HeaderSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/octo/widgets.git"
    # What actions/checkout leaves behind: a persisted header for the same host.
    origin = f"http://127.0.0.1:{server.server_address[1]}/"
    git(work, "config", f"http.{origin}.extraheader", "AUTHORIZATION: basic c3RhbGU=")
    argv: list[list[str]] = []
    real_run_git = remote_module.run_git

    def spy(args: list[str], cwd: Path, **kw: Any) -> Any:
        argv.append(list(args))
        return real_run_git(args, cwd, **kw)

    monkeypatch.setattr(remote_module, "run_git", spy)
    HeaderSink.seen = []
    try:
        forge = GitHubForge(
            SLUG, TOKEN, repo=Repo.open(work), api_url="http://127.0.0.1:9", git_remote_url=url
        )
        with pytest.raises(GitError) as caught:
            forge.publish_branch("macoder/T001", git(work, "rev-parse", "HEAD"))
    finally:
        server.shutdown()
        server.server_close()

    # exactly one Authorization header, ours: the persisted one was reset, not doubled
    assert HeaderSink.seen
    assert all(h == [f"basic {SECRETS[1]}"] for h in HeaderSink.seen)
    assert not any(secret in " ".join(a) for a in argv for secret in SECRETS)
    assert not any(secret in str(caught.value) for secret in SECRETS)


def test_the_token_never_reaches_logs_errors_or_git_argv(  # noqa: PLR0917 - pytest fixtures
    fake: FakeGitHub,
    work: Path,
    remote: Path,
    clock: Clock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv: list[list[str]] = []
    envs: list[dict[str, str]] = []
    real_run = subprocess.run

    def spy(command: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(command, list) and command and command[0] == "git":
            argv.append([str(part) for part in command])
            envs.append(dict(kw.get("env") or {}))
        return real_run(command, *args, **kw)

    monkeypatch.setattr(subprocess, "run", spy)
    errors: list[str] = []
    caplog.set_level(logging.DEBUG)
    with closing(make_forge(fake, work, remote, clock)) as forge:
        publish(forge, work, "T001", "one\n")
        publish(forge, work, "T001", "two\n", draft=True, labels=(LABEL, LABEL_FAILED))
        forge.ledger(clock).append(_attempt("T001"))
        fake.fail(500, times=100)
        fake.secondary_rate_limit(times=1)
        for call in (forge.list_prs, lambda: forge.find_open_pr("T002")):
            try:
                call()
            except MacoderError as exc:
                errors.append(str(exc))
        human = tmp_path / "human"
        git(tmp_path, "clone", "-q", "-b", "macoder/T001", str(remote), str(human))
        commit_as(human, HUMAN, {"h.txt": "h\n"}, "human")
        git(human, "push", "-q", "origin", "macoder/T001")
        try:
            forge.publish_branch("macoder/T001", task_commit(work, "T001", "three\n"))
        except MacoderError as exc:
            errors.append(str(exc))
    with closing(make_forge(fake, work, tmp_path / "missing.git", clock)) as broken:
        try:
            broken.publish_branch("macoder/T001", git(work, "rev-parse", "HEAD"))
        except MacoderError as exc:
            errors.append(str(exc))
    with closing(make_forge(fake, work, remote, clock, token=WRONG_TOKEN)) as wrong:
        try:
            wrong.list_prs()
        except MacoderError as exc:
            errors.append(str(exc))

    assert len(errors) == 5
    assert argv
    assert any("push" in a for a in argv)
    assert any(env.get("GIT_CONFIG_VALUE_1", "").endswith(SECRETS[1]) for env in envs)
    texts = [r.getMessage() for r in caplog.records] + errors + [" ".join(a) for a in argv]
    assert caplog.records
    for secret in SECRETS:
        assert not [text for text in texts if secret in text]


def _attempt(task: str) -> Any:
    from multi_agent_coder.git.ledger import Attempt

    return Attempt(task, "run-1", "failure", "x", 1.0, 10, None, None, None, None, 1.0)


def test_a_remote_url_with_a_password_is_refused(work: Path) -> None:
    with pytest.raises(MacoderError, match="never inside a URL"):
        GitHubForge(
            SLUG,
            TOKEN,
            repo=Repo.open(work),
            git_remote_url=f"https://x-access-token:{TOKEN}@github.com/{SLUG}.git",
        )


def test_git_auth_env_resets_inherited_headers_then_adds_ours() -> None:
    env = git_auth_env("https://github.com/octo/widgets.git", TOKEN)
    assert (
        env["GIT_CONFIG_KEY_0"] == env["GIT_CONFIG_KEY_1"] == "http.https://github.com/.extraHeader"
    )
    assert env["GIT_CONFIG_VALUE_0"] == ""
    assert env["GIT_CONFIG_VALUE_1"] == f"AUTHORIZATION: basic {SECRETS[1]}"
    assert git_env()  # the tests' own git never sees these variables


def test_the_fakes_read_endpoints_answer_like_github(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    """The endpoints the forge does not need are still GitHub-shaped (validated at teardown)."""
    failed = publish(forge, work, "T001", "x\n", draft=True, labels=(LABEL, LABEL_FAILED))
    with httpx.Client(base_url=fake.api_url, headers=sansio.request_headers(TOKEN)) as client:
        client.post(f"/repos/{SLUG}/issues/{failed.number}/comments", json={"body": "no"})
        client.patch(f"/repos/{SLUG}/pulls/{failed.number}", json={"state": "closed"})
        fixed = publish(forge, work, "T001", "y\n")
        single = client.get(f"/repos/{SLUG}/pulls/{fixed.number}").json()
        every = client.get(f"/repos/{SLUG}/pulls", params={"state": "all"}).json()
        labels = client.get(f"/repos/{SLUG}/labels").json()
        one_label = client.get(f"/repos/{SLUG}/labels/{LABEL_FAILED}").json()
        on_pr = client.get(f"/repos/{SLUG}/issues/{failed.number}/labels").json()
        comments = client.get(f"/repos/{SLUG}/issues/{failed.number}/comments").json()
        reopen = client.patch(f"/repos/{SLUG}/pulls/{failed.number}", json={"state": "open"})
        missing = client.get(f"/repos/{SLUG}/pulls/999")
        no_label = client.get(f"/repos/{SLUG}/labels/nope")

    assert single["number"] == fixed.number != failed.number
    assert single["mergeable_state"] == "clean"
    assert [p["number"] for p in every] == [fixed.number, failed.number]
    assert {label["name"] for label in labels} == {LABEL, LABEL_FAILED}
    assert one_label["color"] == sansio.LABELS[LABEL_FAILED][0]
    assert [label["name"] for label in on_pr] == [LABEL, LABEL_FAILED]
    assert [comment["body"] for comment in comments] == ["no"]
    assert reopen.status_code == 422
    assert (missing.status_code, no_label.status_code) == (404, 404)


def test_the_openapi_check_is_not_a_rubber_stamp(openapi: OpenAPIChecker | None) -> None:
    if openapi is None:
        pytest.skip(NO_OPENAPI)
    """The validation used on every exchange above does reject what GitHub would not send."""
    from openapi_core.validation.request.exceptions import RequestValidationError
    from openapi_core.validation.response.exceptions import ResponseValidationError

    def exchange(method: str, path: str, request: Any, status: int, answer: Any) -> Exchange:
        return Exchange(
            method,
            path,
            "",
            {"Content-Type": "application/json"},
            json.dumps(request).encode() if request is not None else b"",
            status,
            {"Content-Type": "application/json; charset=utf-8"},
            json.dumps(answer).encode(),
        )

    bad_request = {"title": "t", "head": "macoder/T001", "base": "main", "draft": "yes"}
    with pytest.raises(RequestValidationError):
        openapi.check(exchange("POST", f"/repos/{SLUG}/pulls", bad_request, 201, {}))
    label = {"id": 1, "node_id": "L", "url": "u", "name": "x", "description": "", "color": "f"}
    with pytest.raises(ResponseValidationError):  # `default` is required
        openapi.check(exchange("POST", f"/repos/{SLUG}/labels", {"name": "x"}, 201, label))
    with pytest.raises(ResponseValidationError):  # a list answer must be a list of PRs
        openapi.check(exchange("GET", f"/repos/{SLUG}/pulls", None, 200, [{"number": 1}]))
    with pytest.raises(Exception, match="is not of type"):  # undocumented status: basic-error
        openapi.check(exchange("GET", f"/repos/{SLUG}/pulls", None, 502, {"message": 5}))


# --------------------------------------------------------------------- pull-request options


def requested(pr: dict[str, Any]) -> list[str]:
    return [u["login"] for u in pr["requested_reviewers"]]


def requested_teams(pr: dict[str, Any]) -> list[str]:
    return [t["slug"] for t in pr["requested_teams"]]


def assigned(pr: dict[str, Any]) -> list[str]:
    return [u["login"] for u in pr["assignees"]]


def labelled(pr: dict[str, Any]) -> list[str]:
    return [label["name"] for label in pr["labels"]]


def milestone_title(pr: dict[str, Any]) -> str | None:
    return pr["milestone"]["title"] if pr["milestone"] else None


@pytest.mark.parametrize(
    ("option", "value", "seen", "expected"),
    [
        ("reviewers", ["alice", "bob"], requested, ["alice", "bob"]),
        ("team_reviewers", ["web"], requested_teams, ["web"]),
        ("assignees", ["alice"], assigned, ["alice"]),
        ("labels", ["automation", "team:web"], labelled, [LABEL, "automation", "team:web"]),
        ("milestone", 1, milestone_title, "v1.0"),
    ],
)
def test_each_pull_request_option_takes_effect_when_macoder_opens_the_pr(  # noqa: PLR0917
    fake: FakeGitHub,
    work: Path,
    remote: Path,
    clock: Clock,
    option: str,
    value: Any,
    seen: Any,
    expected: Any,
) -> None:
    fake.add_collaborators(SLUG, "alice", "bob")
    fake.add_teams(SLUG, "web")
    assert fake.add_milestone(SLUG, "v1.0") == 1
    options = PullRequestSettings(**{option: value})
    with closing(make_forge(fake, work, remote, clock, pull_request=options)) as forge:
        result = publish(forge, work, "T001", "print(1)\n")

    [pr] = fake.pulls(SLUG)
    assert result.operation == "created"
    assert seen(pr) == expected


def test_options_are_set_once_and_a_persons_later_changes_stay(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock
) -> None:
    fake.add_collaborators(SLUG, "alice")
    number = fake.add_milestone(SLUG, "v1.0")
    options = PullRequestSettings(
        reviewers=["alice"], assignees=["alice"], labels=["automation"], milestone=number
    )
    with closing(make_forge(fake, work, remote, clock, pull_request=options)) as forge:
        first = publish(forge, work, "T001", "print(1)\n")
        with httpx.Client(base_url=fake.api_url, headers=sansio.request_headers(TOKEN)) as c:
            c.patch(f"/repos/{SLUG}/issues/{first.number}", json={"milestone": None})
        fake.clear_exchanges()
        again = publish(forge, work, "T001", "print(2)\n", body="verified again")

    assert (again.number, again.operation) == (first.number, "updated")
    [pr] = fake.pulls(SLUG)
    assert pr["milestone"] is None  # the person's answer stands
    assert requested(pr) == assigned(pr) == ["alice"]
    touched = {e.path.rsplit("/", 1)[1] for e in fake.exchanges if e.method != "GET"}
    assert touched == {str(first.number)}  # only the PATCH of the body


def test_a_failed_attempts_draft_asks_no_reviewer_until_it_is_ready(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock
) -> None:
    fake.add_collaborators(SLUG, "alice")
    fake.add_teams(SLUG, "web")
    options = PullRequestSettings(reviewers=["alice"], team_reviewers=["web"])
    with closing(make_forge(fake, work, remote, clock, pull_request=options)) as forge:
        failed = publish(forge, work, "T001", "x\n", draft=True, labels=(LABEL, LABEL_FAILED))
        [draft] = fake.pulls(SLUG)
        fixed = publish(forge, work, "T001", "y\n")

    assert (requested(draft), requested_teams(draft)) == ([], [])
    assert fixed.number == failed.number
    [ready] = fake.pulls(SLUG)
    assert ready["draft"] is False
    assert (requested(ready), requested_teams(ready)) == (["alice"], ["web"])


def test_options_github_refuses_are_skipped_and_the_pr_stands(
    fake: FakeGitHub,
    work: Path,
    remote: Path,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = PullRequestSettings(
        reviewers=["stranger"], team_reviewers=["nobody"], assignees=["stranger"], milestone=9
    )
    with (
        closing(make_forge(fake, work, remote, clock, pull_request=options)) as forge,
        caplog.at_level(logging.WARNING, logger="multi_agent_coder.forge.github"),
    ):
        result = publish(forge, work, "T001", "print(1)\n")
        own = PullRequestSettings(reviewers=[fake.login])
        with closing(make_forge(fake, work, remote, clock, pull_request=own)) as self_review:
            other = publish(self_review, work, "T002", "print(2)\n")

    assert (result.operation, other.operation) == ("created", "created")
    for pr in fake.pulls(SLUG):
        assert (requested(pr), assigned(pr), pr["milestone"]) == ([], [], None)
    assert "setting milestone 9 on pull request #1 (HTTP 422): Issue.milestone: invalid" in (
        caplog.text
    )
    assert "Reviews may only be requested from collaborators" in caplog.text
    assert "Review cannot be requested from pull request author" in caplog.text
    assert caplog.text.count("the pull request stays as it is") == 3


# --------------------------------------------------------------------- delete-branch


def merge(fake: FakeGitHub, number: int) -> None:
    """A person merges the PR on GitHub."""
    with httpx.Client(base_url=fake.api_url, headers=sansio.request_headers(TOKEN)) as client:
        client.put(f"/repos/{SLUG}/pulls/{number}/merge").raise_for_status()


def test_merged_task_branches_are_deleted_unless_someone_pushed_since(
    forge: GitHubForge, fake: FakeGitHub, work: Path, remote: Path
) -> None:
    merged = publish(forge, work, "T001", "print(1)\n")
    pushed_after = publish(forge, work, "T002", "print(2)\n")
    still_open = publish(forge, work, "T003", "print(3)\n")
    merge(fake, merged.number)
    merge(fake, pushed_after.number)
    git(work, "fetch", "-q", "origin")
    git(work, "checkout", "-q", "-B", "macoder/T002", "origin/macoder/T002")
    commit_as(work, HUMAN, {"later.txt": "x\n"}, "a person's follow-up")
    git(work, "push", "-q", str(remote), "macoder/T002")
    git(work, "checkout", "-q", "main")

    deleted = forge.delete_merged_branches()

    assert deleted == ("macoder/T001",)
    assert remote_sha(remote, "macoder/T001") == ""
    assert remote_sha(remote, "macoder/T002") != ""
    assert remote_sha(remote, "macoder/T003") == still_open.head_sha
    [pr] = [p for p in fake.pulls(SLUG) if p["number"] == merged.number]
    assert pr["merged"] is True  # the PR keeps its record
    fake.clear_exchanges()
    assert forge.delete_merged_branches() == ()
    assert [e.method for e in fake.exchanges] == ["GET", "GET"]


def test_macoders_comment_is_edited_in_place_and_written_again_when_deleted(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    pr = publish(forge, work, "T001", "1\n")

    first = forge.put_comment(pr.number, None, "attempt 1")
    again = forge.put_comment(pr.number, first, "attempt 2")
    assert again == first
    assert fake.comments(SLUG, pr.number) == ["attempt 2"]

    deleting = sansio.Request("DELETE", f"/repos/{SLUG}/issues/comments/{first}", (), None, "x")
    forge.api.send(deleting)  # a person deletes it
    third = forge.put_comment(pr.number, first, "attempt 3")
    assert third != first
    assert fake.comments(SLUG, pr.number) == ["attempt 3"]
    forge.put_comment(pr.number, None, "shown \x1b[31m")
    assert fake.comments(SLUG, pr.number)[-1] == "shown \\x1b[31m"  # no terminal escape


def test_a_workflow_token_the_repository_setting_stops_is_told_which_setting(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    fake.actions_tokens.add(TOKEN)
    fake.actions_may_open_prs = False

    with pytest.raises(GitHubForbiddenError) as refused:
        publish(forge, work, "T001", "1\n")

    assert '"Allow GitHub Actions to create and approve pull requests"' in str(refused.value)
    assert open_pulls(fake) == []


def test_what_the_review_loop_reads_and_writes_matches_githubs_description(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    """Reviews, review comments, a comment by id, a reaction: each answer of the fake is
    checked against the OpenAPI description by the `fake` fixture, each read through the
    forge's own code — so the review loop is tested against GitHub's shapes, not the fake's."""
    pr = publish(forge, work, "T001", "1\n")
    review = fake.add_review(
        SLUG, pr.number, "Please rename it", comments=(("t001.txt", 1, "call it two"),)
    )
    comment = fake.add_comment_by(SLUG, pr.number, "/macoder fix faster", "MEMBER")

    got = forge.read(sansio.get_review(forge.slug, pr.number, review))
    lines = forge.read(sansio.list_review_comments(forge.slug, pr.number, review))
    said = forge.read(sansio.get_issue_comment(forge.slug, comment))
    forge.react(comment, "eyes")

    assert (got["state"], got["body"]) == ("CHANGES_REQUESTED", "Please rename it")
    assert [(c["path"], c["line"], c["body"]) for c in lines] == [("t001.txt", 1, "call it two")]
    assert (said["body"], said["author_association"]) == ("/macoder fix faster", "MEMBER")
    assert fake.reactions(SLUG, comment) == ["eyes"]


# --------------------------------------------------------------------- signed commits

BOT = ("macoder-app[bot]", 4242)
BOT_EMAIL = "4242+macoder-app[bot]@users.noreply.github.com"
AS_MACODER = ("-c", f"user.name={MACODER[0]}", "-c", f"user.email={MACODER[1]}")


def signing_forge(fake: FakeGitHub, work: Path, remote: Path, clock: Clock) -> GitHubForge:
    """A forge with `pull_request.sign_commits`, whose token is a GitHub App's."""
    fake.viewers[TOKEN] = BOT
    return make_forge(
        fake, work, remote, clock, pull_request=PullRequestSettings(sign_commits=True)
    )


@pytest.fixture
def forge_and_fake(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock
) -> tuple[GitHubForge, FakeGitHub]:
    return signing_forge(fake, work, remote, clock), fake


def two_commits(work: Path, final: str = "two\n") -> str:
    """macoder's two commits on macoder/T001: one adds a file in a folder and deletes
    README.md, the next changes the file (to `final`); checkout back on main."""
    git(work, "checkout", "-q", "-B", "macoder/T001", "main")
    commit_as(work, MACODER, {"src/pkg/t001.py": "one\n"}, "T001: work\n\nthe agent's trailer")
    git(work, "rm", "-q", "README.md")
    git(work, *AS_MACODER, "commit", "-qm", "drop readme")
    head = commit_as(work, MACODER, {"src/pkg/t001.py": final}, "T001: mark completed")
    git(work, "checkout", "-q", "main")
    return head


def remote_commits(remote: Path, base: str, head: str) -> list[tuple[str, str, str, str]]:
    """(sha, author email, committer email, subject) of each commit, oldest first."""
    out = git(remote, "log", "--reverse", "--format=%H%x00%ae%x00%ce%x00%s", f"{base}..{head}")
    return [tuple(line.split("\x00")) for line in out.splitlines()]  # type: ignore[misc]


def test_sign_commits_publishes_githubs_signed_copies_of_exactly_the_checked_commits(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock, tmp_path: Path
) -> None:
    forge = signing_forge(fake, work, remote, clock)
    head = two_commits(work)
    base = git(work, "rev-parse", "main")

    published = forge.publish_branch("macoder/T001", head)

    assert published != head  # not pushed: made again by GitHub
    assert remote_sha(remote, "macoder/T001") == published
    made = remote_commits(remote, base, published)
    assert [(author, committer) for _, author, committer, _ in made] == [
        (BOT_EMAIL, "noreply@github.com")
    ] * 3
    assert [subject for *_, subject in made] == [
        "T001: work",
        "drop readme",
        "T001: mark completed",
    ]
    assert {sha for sha, *_ in made} <= fake.signed  # verified, every one
    ours_all = git(work, "rev-list", "--reverse", f"{base}..{head}").split()
    for ours, theirs in zip(ours_all, made, strict=True):
        assert git(remote, "rev-parse", f"{theirs[0]}^{{tree}}") == git(
            work, "rev-parse", f"{ours}^{{tree}}"
        )
    assert git(remote, "log", "-1", "--format=%B", made[0][0]).strip() == (
        "T001: work\n\nthe agent's trailer"
    )
    # Nothing left behind: the branch the commits were made on, the fetched refs.
    assert "macoder-signing" not in git(remote, "for-each-ref")
    assert git(work, "for-each-ref", "refs/macoder/") == ""
    pr = forge.create_or_update_pr(
        WantedPr(
            task_id="T001",
            branch="macoder/T001",
            base="main",
            head_sha=published,
            title="T001: do it",
            body="b",
            draft=False,
            labels=(LABEL,),
        )
    )
    assert pr.head_sha == published == fake.pulls(SLUG)[0]["head"]["sha"]

    # A later run takes GitHub's copies for macoder's; a person's commit still stops it.
    assert forge.foreign_commits("macoder/T001", "main") == ()
    # Other work (GitHub's copies of the same work made in the same second are the same
    # commits, as git's are).
    again = forge.publish_branch("macoder/T001", two_commits(work, final="three\n"))
    assert again != published
    assert git(remote, "show", f"{again}:src/pkg/t001.py") == "three"  # replaced
    human = tmp_path / "human"
    git(tmp_path, "clone", "-q", "-b", "macoder/T001", str(remote), str(human))
    theirs = commit_as(human, HUMAN, {"fix.txt": "by hand\n"}, "manual fix")
    git(human, "push", "-q", "origin", "macoder/T001")
    assert forge.foreign_commits("macoder/T001", "main") == (theirs[:10],)
    with pytest.raises(NeedsReviewError):
        forge.publish_branch("macoder/T001", two_commits(work))
    assert remote_sha(remote, "macoder/T001") == theirs


def test_without_sign_commits_githubs_api_commits_are_someone_elses(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock
) -> None:
    published = signing_forge(fake, work, remote, clock).publish_branch(
        "macoder/T001", two_commits(work)
    )
    plain = make_forge(fake, work, remote, clock)

    assert len(plain.foreign_commits("macoder/T001", "main")) == 3
    with pytest.raises(NeedsReviewError):
        plain.publish_branch("macoder/T001", two_commits(work))
    assert remote_sha(remote, "macoder/T001") == published


def test_sign_commits_refuses_a_persons_token(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock
) -> None:
    forge = make_forge(  # the fake's token is the user's, `macoder-bot`: a person
        fake, work, remote, clock, pull_request=PullRequestSettings(sign_commits=True)
    )

    with pytest.raises(UnsignableError, match="belongs to macoder-bot, a person"):
        forge.publish_branch("macoder/T001", two_commits(work))
    assert remote_sha(remote, "macoder/T001") == ""
    assert [e for e in fake.exchanges if e.path != "/graphql"] == []


def test_a_workflows_github_token_signs_as_github_actions(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock
) -> None:
    fake.actions_tokens.add(TOKEN)
    forge = make_forge(
        fake, work, remote, clock, pull_request=PullRequestSettings(sign_commits=True)
    )

    published = forge.publish_branch("macoder/T001", two_commits(work))

    assert git(remote, "log", "-1", "--format=%ae %ce", published) == (
        "41898282+github-actions[bot]@users.noreply.github.com noreply@github.com"
    )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (["update-index", "--chmod=+x", "src/t001.py"], "adds an executable file src/t001.py"),
        (["update-index", "--chmod=+x", "README.md"], "changes an executable file README.md"),
        (["symlink"], "adds a symlink link"),
    ],
)
def test_sign_commits_refuses_a_commit_the_api_cannot_make_exactly(
    forge_and_fake: tuple[GitHubForge, FakeGitHub], work: Path, change: list[str], said: str
) -> None:
    forge, fake = forge_and_fake
    git(work, "checkout", "-q", "-B", "macoder/T001", "main")
    (work / "src").mkdir()
    (work / "src/t001.py").write_text("print('hi')\n", encoding="utf-8")
    git(work, "add", "-A")
    if change == ["symlink"]:
        (work / "link").symlink_to("README.md")
        git(work, "add", "link")
    else:
        git(work, *change)
    git(work, *AS_MACODER, "commit", "-qm", "T001: work")
    head = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "-f", "main")

    with pytest.raises(UnsignableError, match=said):
        forge.publish_branch("macoder/T001", head)
    assert forge.remote.heads("macoder/T001")[1] is None
    assert [e.method for e in fake.exchanges if e.method != "GET"] == []  # nothing made


def test_a_branch_that_moves_while_commits_are_made_is_never_overwritten(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock, tmp_path: Path
) -> None:
    forge = signing_forge(fake, work, remote, clock)
    first = forge.publish_branch("macoder/T001", task_commit(work, "T001", "one\n"))
    human = tmp_path / "human"
    git(tmp_path, "clone", "-q", "-b", "macoder/T001", str(remote), str(human))
    theirs: list[str] = []

    def person_pushes(method: str, path: str) -> None:
        """Between GitHub's second commit and the move of the task branch."""
        mutations = [
            e for e in fake.exchanges if e.path == "/graphql" and b"mutation" in e.request_body
        ]
        if path == "/graphql" and method == "POST" and len(mutations) == 2 and not theirs:
            theirs.append(commit_as(human, HUMAN, {"fix.txt": "by hand\n"}, "manual fix"))
            git(human, "push", "-q", "origin", "macoder/T001")

    fake.before_request = person_pushes
    with pytest.raises(PushRejectedError, match="nothing was overwritten"):
        forge.publish_branch("macoder/T001", two_commits(work))
    assert remote_sha(remote, "macoder/T001") == theirs[0]
    assert git(remote, "rev-parse", f"{theirs[0]}^") == first
    assert "macoder-signing" not in git(remote, "for-each-ref")


def test_commits_are_made_on_top_of_exactly_the_commit_before_them(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock
) -> None:
    """`expectedHeadOid`: a branch that moved under the mutation is refused by GitHub."""
    forge = signing_forge(fake, work, remote, clock)
    main = git(work, "rev-parse", "main")
    stray = git(remote, *AS_MACODER, "commit-tree", "-m", "stray", f"{main}^{{tree}}", "-p", main)
    moved: list[bool] = []

    def someone_moves_it(method: str, path: str) -> None:
        """Just before GitHub's first commit on the branch the commits are made on."""
        if path == "/graphql" and not moved and "macoder-signing" in git(remote, "for-each-ref"):
            moved.append(True)
            git(remote, "update-ref", "refs/heads/macoder-signing/T001", stray)

    fake.before_request = someone_moves_it
    with pytest.raises(GitHubValidationError, match="Expected branch to point to"):
        forge.publish_branch("macoder/T001", two_commits(work))
    assert remote_sha(remote, "macoder/T001") == ""
    assert "macoder-signing" not in git(remote, "for-each-ref")


def test_a_revision_adds_signed_commits_and_an_update_s_merge_is_pushed_unsigned(
    fake: FakeGitHub, work: Path, remote: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    forge = signing_forge(fake, work, remote, clock)
    first = forge.publish_branch("macoder/T001", task_commit(work, "T001", "one\n"))
    git(work, "fetch", "-q", "origin", "macoder/T001")

    # A revision: one more commit on GitHub's copy, made by GitHub too, on top of it.
    revised = task_commit(work, "T001", "two\n", start="FETCH_HEAD")
    second = forge.publish_branch("macoder/T001", revised, fast_forward=True)
    assert git(remote, "rev-parse", f"{second}^") == first
    assert second in fake.signed

    # An update: the default branch merged into the PR's head — a merge the API cannot make.
    commit_as(work, HUMAN, {"other.txt": "main moved\n"}, "main moves on")
    git(work, "push", "-q", "origin", "main")
    git(work, "fetch", "-q", "origin", "macoder/T001")
    git(work, "checkout", "-q", "-B", "macoder/T001", "FETCH_HEAD")
    git(work, *AS_MACODER, "merge", "-q", "--no-edit", "main")
    merge = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    with caplog.at_level(logging.WARNING):
        assert forge.publish_branch("macoder/T001", merge, fast_forward=True) == merge

    assert remote_sha(remote, "macoder/T001") == merge
    assert merge not in fake.signed
    assert "pushed as checked, not signed" in caplog.text


# --------------------------------------------------------------------- whether a PR still merges


def test_whether_an_open_pr_still_merges_costs_a_request_only_when_asked(
    forge: GitHubForge, fake: FakeGitHub, work: Path
) -> None:
    """A list of pull requests has no `mergeable`: knowing it costs one more GET of the PR.
    Only a run deciding whether to bring the PR up to date asks; finding the PR to update or
    comment on does not pay for it."""
    made = publish(forge, work, "T001", "one")
    single = f"/repos/{SLUG}/pulls/{made.number}"

    fake.clear_exchanges()
    found = forge.find_open_pr("T001")
    assert found is not None
    assert found.conflicts is False
    assert [e.path for e in fake.exchanges if e.method == "GET" and e.path == single] == []

    fake.clear_exchanges()
    asked = forge.find_open_pr("T001", with_conflicts=True)
    assert asked is not None
    assert [e.path for e in fake.exchanges if e.method == "GET" and e.path == single] == [single]
