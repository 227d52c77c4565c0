"""macoder's GraphQL documents held to GitHub's published GraphQL schema, and the fake's
GraphQL endpoint held to GitHub's behaviour.

The schema is `@octokit/graphql-schema` (installed by `scripts/npm-tools.sh`), read with
graphql-core; where it is missing the schema tests skip with that reason and the fake still
answers, unchecked. The forge's own draft-state flows are in `test_github_forge.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.forge import github_graphql as graphql
from multi_agent_coder.forge import github_sansio as sansio
from testing import fake_graphql
from testing.fake_github import FakeGitHub
from tests.conftest import without_tools
from tests.integration.gitrepos import git, make_repo

TOKEN = "ghs_FAKEgraphqlTOKEN"  # noqa: S105 - made up
SLUG = "octo/widgets"


@pytest.fixture(scope="module")
def schema() -> Any:
    if without_tools():
        pytest.skip("TESTS_WITHOUT_TOOLS is set: the run goes without GitHub's GraphQL schema")
    started = time.perf_counter()
    loaded = fake_graphql.load_schema()
    if loaded is None:
        pytest.skip(fake_graphql.NO_SCHEMA)
    print(f"GitHub GraphQL schema loaded in {time.perf_counter() - started:.2f} s")
    return loaded


@pytest.mark.parametrize("document", graphql.DOCUMENTS, ids=lambda d: d.split("(")[0])
def test_every_document_macoder_sends_is_valid_against_githubs_schema(
    schema: Any, document: str
) -> None:
    assert fake_graphql.schema_errors(schema, document, variables_for(document)) == []


def variables_for(document: str) -> dict[str, Any]:
    """The variables macoder sends with `document` (as its request builder makes them)."""
    if document == graphql.VIEWER:
        return {}
    if document == graphql.CREATE_COMMIT:
        commit = graphql.NewCommit(
            "macoder-signing/T001", "0" * 40, "T001: work", "body", [("a.txt", b"x")], ["b.txt"]
        )
        request = graphql.create_commit(sansio.Slug.parse(SLUG), commit)
        return dict(request.json["variables"])
    return {"id": "PR_kwDOAB"}


@pytest.mark.parametrize(
    ("query", "variables", "said"),
    [
        (
            graphql.CONVERT_TO_DRAFT.replace("isDraft", "isDrafted"),
            {"id": "PR_1"},
            "Cannot query field 'isDrafted' on type 'PullRequest'",
        ),
        (
            graphql.MARK_READY.replace("$id: ID!", "$id: Int!"),
            {"id": 5},
            "Variable '$id' of type 'Int!' used in position expecting type 'ID!'",
        ),
        (graphql.MARK_READY, {}, "Expected a value of non-null type 'ID!' to be provided"),
        ("mutation { closePullRequest }", None, "Field 'closePullRequest' of type"),
    ],
)
def test_the_schema_check_is_not_a_rubber_stamp(
    schema: Any, query: str, variables: Any, said: str
) -> None:
    found = fake_graphql.schema_errors(schema, query, variables)
    assert any(said in text for text in found), found


# --------------------------------------------------------------------- the fake's endpoint


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    seed = make_repo(tmp_path / "seed", {"README.md": "hi\n"})
    git(seed, "checkout", "-q", "-b", "macoder/T001")
    (seed / "a.txt").write_text("a\n", encoding="utf-8")
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=m", "-c", "user.email=m@localhost", "commit", "-qm", "T001")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    return bare


@contextmanager
def running_fake(remote: Path, schema: Any) -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKEN, graphql_schema=schema) as fake:
        fake.add_repo(SLUG, remote)
        yield fake


def call(fake: FakeGitHub, method: str, path: str, body: Any) -> tuple[int, Any]:
    status, _, data = fake.handle(
        method, path, sansio.request_headers(TOKEN), json.dumps(body).encode()
    )
    return status, json.loads(data) if data else None


def open_pr(fake: FakeGitHub, *, draft: bool) -> dict[str, Any]:
    status, pr = call(
        fake,
        "POST",
        f"/repos/{SLUG}/pulls",
        {"title": "T001", "head": "macoder/T001", "base": "main", "draft": draft},
    )
    assert status == 201
    return dict(pr)


@pytest.fixture(params=["schema", "no schema"])
def fake(request: pytest.FixtureRequest, remote: Path) -> Iterator[FakeGitHub]:
    """The fake with GitHub's schema, and without it (a machine without the npm tools)."""
    schema = request.getfixturevalue("schema") if request.param == "schema" else None
    with running_fake(remote, schema) as server:
        yield server


@pytest.mark.parametrize("draft", [True, False])
def test_the_fake_changes_the_draft_state_of_the_pr_with_that_node_id(
    fake: FakeGitHub, draft: bool
) -> None:
    pr = open_pr(fake, draft=not draft)
    request = graphql.set_draft(sansio.Slug.parse(SLUG), pr["node_id"], pr["number"], draft=draft)

    status, answer = call(fake, "POST", "/graphql", request.json)

    assert status == 200
    field = "convertPullRequestToDraft" if draft else "markPullRequestReadyForReview"
    assert answer == {"data": {field: {"pullRequest": {"number": pr["number"], "isDraft": draft}}}}
    assert fake.pulls(SLUG)[0]["draft"] is draft
    assert fake.pulls(SLUG)[0]["number"] == pr["number"]


def test_the_fake_answers_like_github_when_it_cannot(fake: FakeGitHub) -> None:
    pr = open_pr(fake, draft=False)
    unknown = graphql.set_draft(sansio.Slug.parse(SLUG), "PR_nope", 1, draft=True).json
    _, missing = call(fake, "POST", "/graphql", unknown)
    fake.read_only_tokens.add(TOKEN)
    mine = graphql.set_draft(sansio.Slug.parse(SLUG), pr["node_id"], 1, draft=True).json
    _, forbidden = call(fake, "POST", "/graphql", mine)
    no_query_status, no_query = call(fake, "POST", "/graphql", {"variables": {}})

    assert missing["data"] == {"convertPullRequestToDraft": None}
    assert [e["type"] for e in missing["errors"]] == ["NOT_FOUND"]
    assert "PR_nope" in missing["errors"][0]["message"]
    assert [e["type"] for e in forbidden["errors"]] == ["FORBIDDEN"]
    assert fake.pulls(SLUG)[0]["draft"] is False
    assert no_query_status == 200
    assert "query" in no_query["errors"][0]["message"]


def test_with_the_schema_the_fake_refuses_what_github_would(remote: Path, schema: Any) -> None:
    misspelt = graphql.CONVERT_TO_DRAFT.replace("pullRequestId", "pullRequestID")
    with running_fake(remote, schema) as fake:
        pr = open_pr(fake, draft=False)
        status, answer = call(
            fake, "POST", "/graphql", {"query": misspelt, "variables": {"id": pr["node_id"]}}
        )
        assert fake.pulls(SLUG)[0]["draft"] is False

    assert status == 200
    assert "data" not in answer
    assert any("pullRequestID" in e["message"] for e in answer["errors"])
