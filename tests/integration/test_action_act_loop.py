"""The GitHub loop under `act`, end to end: what people do to macoder's pull requests, and a
task job lost midway, through the repository's own workflow with real OpenCode.

The world is test_action_act.py's (`make_world`: the workflow file with `uses: ./` pointed at
a copy of this repository's action, `FakeGitHub` over a bare repository, a `ScriptedModel`
behind the real OpenCode binary); each step is one `act <event>` with the payload GitHub
would send (built from @octokit/webhooks-examples), and what a person does between the runs
is done to the fake as GitHub would do it. One story in one world, because each act run
costs CPU (from 20 s for a plan job alone to a minute and a half for two agents' jobs):

1. a push of the backlog: pull requests for T001 and T002;
2. a person closes T002's PR unmerged; a collaborator's review asks for changes on T001's
   (`pull_request_review`): one new commit on the same PR, the review's text in the prompt
   the model received;
3. someone without standing comments `/macoder retry T002` (`issue_comment`): a reply
   saying they may not command macoder, and nothing else — no model request, no ref moved,
   no pull request;
4. the schedule, then a push that adds T003: two plans that would have run T002 again (it
   has attempts left) but for the person's answer — no new pull request for it;
5. T003's task job is lost while its agent works (act's whole process group killed once the
   model got T003's first request, so the publish job never runs and the lease stays); two
   hours later (the ledger's timestamps moved back, see `age_ledger`) a collaborator's
   `/macoder status` is answered by the next plan job: T003 with one interrupted attempt.

Tokens: GitHub gives each job a GITHUB_TOKEN with that job's permissions; act gives every job
the one GITHUB_TOKEN secret. The plan job's may write comments and reactions on GitHub
(`pull-requests: write`, `issues: write`), and answering people is what this file tests, so
here the fake lets GITHUB_TOKEN write. That the task job's token is read-only, and that the
agent's job never holds the write token, is test_action_act.py's test.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest
from pygit2.enums import FileMode

from multi_agent_coder.config import Settings
from multi_agent_coder.context.review import INTRO
from multi_agent_coder.git.ledger import (
    LEDGER_FILE,
    LEDGER_IDENTITY,
    Attempt,
    live_leases,
    parse,
    settled,
)
from multi_agent_coder.run.session import job_lease_ttl
from testing import scripted_model as sm
from tests.integration.gitrepos import git
from tests.integration.runs import LEDGER_REF, MACODER, feature, kill_all, tasks, wait_for
from tests.integration.test_action_act import (
    ACT_TIMEOUT,
    SLUG,
    TOKEN,
    WEBHOOKS,
    World,
    ledger_records,
    make_world,
    remote_refs,
    run_act,
)

#: Six act runs; each ends by itself or is ended at ACT_TIMEOUT.
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(6 * ACT_TIMEOUT + 120)]

REVIEWED = "T001"
CLOSED = "T002"
#: Added to the backlog later; its task job is lost while the agent works.
LOST = "T003"

#: A person's token: what closes a pull request through the REST API as a person would.
PERSON_TOKEN = "ghp_PERSON0123456789abcdefFAKE"  # noqa: S105 - the fake's made-up token
REVIEW_BODY = "Please name the factor instead of writing a bare 3."
LINE_NOTE = "a magic number here"
STRANGER_ASKS = f"/macoder retry {CLOSED}"
REFUSED = "macoder: only the repository's owners, members and collaborators may command macoder."
#: How much later the plan after the lost job runs: past the plan's lease of the lost job
#: (queue, health job and task job bounds, run/budget.py; the world's task_timeout is 120 s),
#: with an hour to spare.
LATER_S = job_lease_ttl(Settings(task_timeout=120), queued=True) + 3600.0


def named_factor() -> sm.Scenario:
    """The revision the review asks for: the factor named, the behaviour and tests unchanged."""
    return sm.Scenario(
        [
            sm.write(
                "{worktree}/mathlib/ft001.py",
                "FACTOR = 3\n\n\ndef ft001(x: int) -> int:\n    return FACTOR * x\n",
            ),
            sm.text("Named the factor."),
        ]
    )


# --------------------------------------------------------------------------- events


def _example(name: str, action: str) -> dict[str, Any]:
    """GitHub's own payload of event `name` (webhooks-examples), the first with `action`."""
    examples = json.loads(WEBHOOKS.read_text(encoding="utf-8"))
    found = next(item for item in examples if item["name"] == name)
    event = next(e for e in found["examples"] if e.get("action", action) == action)
    copy: dict[str, Any] = json.loads(json.dumps(event))
    return copy


def _retargeted(event: dict[str, Any], login: str) -> dict[str, Any]:
    """`event` about the test's repository, sent by `login`."""
    owner, name = SLUG.split("/")
    repository = event["repository"]
    repository.update(
        name=name,
        full_name=SLUG,
        default_branch="main",
        html_url=f"https://github.com/{SLUG}",
        clone_url=f"https://github.com/{SLUG}.git",
    )
    repository["owner"]["login"] = owner
    event["sender"]["login"] = login
    event.pop("installation", None)
    event.pop("organization", None)
    return event


def pull(world: World, number: int) -> dict[str, Any]:
    [found] = [p for p in world.fake.pulls(SLUG) if p["number"] == number]
    return found


def comment_event(
    world: World, number: int, body: str, association: str, login: str
) -> tuple[int, dict[str, Any]]:
    """A person's new comment on PR `number`, stored in the fake (the plan job reacts to it
    by its id) and the `issue_comment` event GitHub sends about it."""
    comment_id = world.fake.add_comment_by(SLUG, number, body, association, login=login)
    event = _retargeted(_example("issue_comment", "created"), login)
    pr = pull(world, number)
    html = f"https://github.com/{SLUG}/pull/{number}"
    event["issue"].update(
        number=number,
        title=pr["title"],
        state=pr["state"],
        html_url=html,
        # What makes the issue a pull request's in GitHub's payload.
        pull_request={
            "url": f"https://api.github.com/repos/{SLUG}/pulls/{number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": None,
        },
    )
    event["comment"].update(
        id=comment_id,
        body=body,
        author_association=association,
        html_url=f"{html}#issuecomment-{comment_id}",
        issue_url=f"https://api.github.com/repos/{SLUG}/issues/{number}",
    )
    event["comment"]["user"]["login"] = login
    return comment_id, event


def review_event(
    world: World, number: int, body: str, comments: tuple[tuple[str, int | None, str], ...]
) -> tuple[int, dict[str, Any]]:
    """A collaborator's review asking for changes on PR `number`, stored in the fake (the
    task job reads it back by its id) and the `pull_request_review` event GitHub sends."""
    login = "alice"
    review_id = world.fake.add_review(
        SLUG, number, body, association="COLLABORATOR", comments=comments, login=login
    )
    event = _retargeted(_example("pull_request_review", "submitted"), login)
    pr = pull(world, number)
    event["review"].update(
        id=review_id,
        body=body,
        state="changes_requested",
        author_association="COLLABORATOR",
        commit_id=pr["head"]["sha"],
        pull_request_url=f"https://api.github.com/repos/{SLUG}/pulls/{number}",
    )
    event["review"]["user"]["login"] = login
    event["pull_request"].update(number=number, state="open", title=pr["title"])
    event["pull_request"]["head"].update(
        ref=pr["head"]["ref"], sha=pr["head"]["sha"], label=f"octo:{pr['head']['ref']}"
    )
    event["pull_request"]["base"].update(ref="main", sha=pr["base"]["sha"], label="octo:main")
    return review_id, event


def schedule_event() -> dict[str, Any]:
    """What a scheduled run's event holds (not a webhook, so not among the examples)."""
    event = _retargeted(_example("push", "push"), "octo")
    return {
        "schedule": "17 */6 * * *",
        "workflow": ".github/workflows/macoder.yml",
        "repository": event["repository"],
    }


# --------------------------------------------------------------------------- people, time


def close_as_a_person(world: World, number: int) -> None:
    """PR `number` closed unmerged by a person, through the REST API as GitHub's page does."""
    headers = {"Authorization": f"Bearer {PERSON_TOKEN}", "Accept": "application/vnd.github+json"}
    body = json.dumps({"state": "closed"}).encode()
    status, _, _ = world.fake.handle("PATCH", f"/repos/{SLUG}/pulls/{number}", headers, body)
    assert status == 200
    closed = pull(world, number)
    assert (closed["state"], closed["merged"]) == ("closed", False)


def age_ledger(world: World, seconds: float) -> None:
    """The ledger on "GitHub" as a plan `seconds` later finds it: every record's time moved
    back by `seconds`, in a new commit on the tip (moved by compare-and-swap, as every ledger
    write is). Leases last as long as run/budget.py bounds a task job (tens of minutes); a
    test does not wait for that, and no test hook in macoder fakes its clock."""
    tip = git(world.bare, "rev-parse", LEDGER_REF)
    lines = []
    for record in ledger_records(world):
        for key in ("at", "acquired_at", "expires_at"):
            if key in record:
                record[key] = float(record[key]) - seconds
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    repo = pygit2.Repository(str(world.bare))
    tree = repo.TreeBuilder()
    blob = repo.create_blob("".join(lines).encode("utf-8"))
    tree.insert(LEDGER_FILE, blob, FileMode.BLOB)
    signature = pygit2.Signature(*LEDGER_IDENTITY)
    message = f"test: the ledger as {seconds:.0f} s later"
    new = repo.create_commit(None, signature, signature, message, tree.write(), [tip])
    git(world.bare, "update-ref", LEDGER_REF, str(new), tip)


def _under(pid: int, base: Path) -> bool:
    """The process works in `base` or has its HOME there (every process an act run starts has
    the world's HOME, or an OpenCode server's own home under its TMPDIR)."""
    try:
        if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(base):
            return True
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(item.startswith(f"HOME={base}/".encode()) for item in environ)


def left_behind(world: World) -> list[int]:
    """Processes of this world still alive: what a lost runner's jobs started in sessions of
    their own (OpenCode's server, its commands), which killing act's group does not reach."""
    own = os.getpid()
    pids = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [pid for pid in pids if pid != own and _under(pid, world.base)]


# --------------------------------------------------------------------------- reading


def replies(world: World, number: int) -> list[str]:
    return [c for c in world.fake.comments(SLUG, number) if c.startswith("macoder")]


def prompt_of(request: sm.RecordedRequest) -> str:
    """The user messages of a chat request: the task's prompt as the model received it."""
    messages = (request.body or {}).get("messages", [])
    return "\n".join(sm.message_text(m) for m in messages if m.get("role") == "user")


def writes(world: World) -> list[str]:
    return [f"{e.method} {e.path}" for e in world.fake.exchanges if e.method != "GET"]


def ledger_of(world: World) -> list[Any]:
    return parse(git(world.bare, "show", f"{LEDGER_REF}:{LEDGER_FILE}"))


def attempts_of(world: World, task_id: str, now: float) -> list[Attempt]:
    """`task_id`'s attempts as every plan derives them at `now` (an attempt that began and
    whose lease ran out counts as interrupted)."""
    return [
        r for r in settled(ledger_of(world), now) if isinstance(r, Attempt) and r.task == task_id
    ]


# --------------------------------------------------------------------------- the story


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    scenarios = {task_id: feature(f"f{task_id.lower()}") for task_id in (REVIEWED, CLOSED)}
    # The agent of the lost job: its first request is never answered, so the job is midway.
    scenarios[LOST] = sm.Scenario([sm.hang()])
    # Attempts left for every task (the default, 3): only a person's answer holds a task
    # whose PR was closed. The config and the binary arrive as in test_action_act.py.
    settings: dict[str, Any] = {"opencode_config": None, "opencode_bin": None}
    with make_world(tmp_path, scenarios, (REVIEWED, CLOSED), settings) as made:
        made.fake.read_only_tokens.discard(TOKEN)
        made.fake.tokens |= {TOKEN, PERSON_TOKEN}
        yield made


def test_people_answer_the_prs_and_a_lost_job_counts_as_one_interrupted_attempt(
    world: World,
) -> None:
    seconds: dict[str, float] = {}

    # 1. The backlog pushed: one pull request per task.
    first = run_act(world, "push")
    seconds["push"] = first.seconds
    assert first.code == 0, str(first)
    pulls = {p["head"]["ref"]: p["number"] for p in world.fake.pulls(SLUG)}
    assert sorted(pulls) == [f"macoder/{REVIEWED}", f"macoder/{CLOSED}"], str(first)
    reviewed, closed = pulls[f"macoder/{REVIEWED}"], pulls[f"macoder/{CLOSED}"]
    refs = remote_refs(world)
    head = refs[f"refs/heads/macoder/{REVIEWED}"]
    closed_head = refs[f"refs/heads/macoder/{CLOSED}"]

    # 2. A person closes T002's PR unmerged; a collaborator asks for changes on T001's.
    close_as_a_person(world, closed)
    world.model.set_scenario(REVIEWED, named_factor())
    asked = len(world.model.task_requests(REVIEWED))
    closed_asked = len(world.model.task_requests(CLOSED))
    review_id, event = review_event(
        world, reviewed, REVIEW_BODY, comments=(("mathlib/ft001.py", 2, LINE_NOTE),)
    )
    world.fake.clear_exchanges()
    review = run_act(world, "review", "pull_request_review", event)
    seconds["review"] = review.seconds
    assert review.code == 0, str(review)
    [said] = replies(world, reviewed)
    assert said.startswith(f"macoder: {REVIEWED} is revised on PR #{reviewed}"), said
    assert said.endswith(f"/actions/runs/{review.run_id}"), said
    # The same PR, one commit on top of the head the reviewer saw: nothing rewritten.
    assert len(world.fake.pulls(SLUG)) == 2
    now_open = pull(world, reviewed)
    assert now_open["state"] == "open"
    new_head = remote_refs(world)[f"refs/heads/macoder/{REVIEWED}"]
    assert now_open["head"]["sha"] == new_head != head
    assert git(world.bare, "rev-parse", f"{new_head}~1") == head
    assert git(world.bare, "log", "-1", "--format=%ae", new_head) == MACODER[1]
    assert "FACTOR = 3" in git(world.bare, "show", f"{new_head}:mathlib/ft001.py")
    # The review's words reached the agent, inside the Review section of its prompt; they
    # went there from GitHub's API (read by the review's id by the plan and the task job).
    read = [e for e in world.fake.exchanges if e.method == "GET"]
    assert len([e for e in read if e.path.endswith(f"/reviews/{review_id}")]) >= 2
    sent = world.model.task_requests(REVIEWED)[asked:]
    assert sent, str(review)
    prompt = prompt_of(sent[0])
    assert INTRO.splitlines()[0] in prompt
    assert REVIEW_BODY in prompt
    assert f"mathlib/ft001.py:2: {LINE_NOTE}" in prompt
    run_id = f"gha-{review.run_id}"
    revised = [r for r in ledger_records(world) if r["task"] == REVIEWED and r["run_id"] == run_id]
    assert [r["outcome"] for r in revised if r["type"] == "attempt"] == ["success"]
    assert any(r["type"] == "release" for r in revised)
    assert len(world.model.task_requests(CLOSED)) == closed_asked  # T002: nothing run

    # 3. A stranger asks for the closed task again: told no, nothing else happens.
    before = (remote_refs(world), len(world.model.requests), len(world.fake.pulls(SLUG)))
    world.fake.clear_exchanges()
    comment_id, event = comment_event(world, closed, STRANGER_ASKS, "NONE", "mallory")
    stranger = run_act(world, "stranger", "issue_comment", event)
    seconds["stranger"] = stranger.seconds
    assert stranger.code == 0, str(stranger)
    assert replies(world, closed) == [REFUSED], str(stranger)
    assert world.fake.reactions(SLUG, comment_id) == ["eyes", "confused"]
    base = f"/repos/{SLUG}/issues"
    assert writes(world) == [
        f"POST {base}/comments/{comment_id}/reactions",
        f"POST {base}/{closed}/comments",
        f"POST {base}/comments/{comment_id}/reactions",
    ], str(stranger)
    after = (remote_refs(world), len(world.model.requests), len(world.fake.pulls(SLUG)))
    assert after == before  # no ledger record, no branch, no model request, no PR
    assert pull(world, closed)["state"] == "closed"

    # 4. Two plans that would run T002 again but for the person's answer: the schedule, and
    # a push that adds T003 — whose task job is lost while its agent works.
    requests = len(world.model.task_requests(CLOSED))
    scheduled = run_act(world, "schedule", "schedule", schedule_event())
    seconds["schedule"] = scheduled.seconds
    assert scheduled.code == 0, str(scheduled)
    assert "ready: none" in scheduled.output, str(scheduled)
    held = f"{CLOSED}: rejected: PR #{closed} was closed unmerged"
    assert held in scheduled.output, str(scheduled)

    backlog = world.source / "BACKLOG.yaml"
    backlog.write_text(tasks(REVIEWED, CLOSED, LOST), encoding="utf-8")
    git(world.source, "commit", "-q", "-am", f"add {LOST}")
    git(world.source, "push", "-q", "origin", "main")
    lost = run_act(world, "lost", stop_when=lambda: bool(world.model.task_requests(LOST)))
    seconds["lost"] = lost.seconds
    kill_all(left_behind(world))
    # Killed midway (the agent had asked the model), not ended by itself.
    assert world.model.task_requests(LOST), str(lost)
    assert lost.output.endswith("act's process group killed: what the test waited for happened")
    assert re.search(rf"^.*ready: {LOST}\s*$", lost.output, re.MULTILINE), str(lost)
    assert held in lost.output, str(lost)
    assert wait_for(lambda: not left_behind(world), 10), left_behind(world)

    assert len(world.model.task_requests(CLOSED)) == requests
    assert sorted(p["number"] for p in world.fake.pulls(SLUG)) == sorted((reviewed, closed))
    assert remote_refs(world)[f"refs/heads/macoder/{CLOSED}"] == closed_head
    # The lost job's lease and the start of its attempt stay; it never said how it ended.
    lost_run = f"gha-{lost.run_id}"
    kinds = [r["type"] for r in ledger_records(world) if r["run_id"] == lost_run]
    assert kinds == ["lease", "start"], ledger_records(world)
    now = time.time()
    assert live_leases(ledger_of(world), now)[LOST].run_id == lost_run
    assert attempts_of(world, LOST, now) == []  # still under way, as far as anyone can tell

    # 5. Two hours later, a collaborator asks for the status: the plan job's answer shows
    # the lost job as one interrupted attempt.
    age_ledger(world, LATER_S)
    comment_id, event = comment_event(world, reviewed, "/macoder status", "MEMBER", "bob")
    status = run_act(world, "status", "issue_comment", event)
    seconds["status"] = status.seconds
    assert status.code == 0, str(status)
    table = replies(world, reviewed)[-1]
    assert table.startswith("macoder status:\n\n| task | state | attempts | why |"), table
    row = re.search(
        rf"^\| `{LOST}` \| ready \| (\d+) \| last attempt failed: (.*) \|$", table, re.M
    )
    assert row is not None, table
    assert row[1] == "1", table
    assert row[2].startswith(f"interrupted: the lease of run {lost_run} "), table
    assert re.search(rf"^\| `{CLOSED}` \| rejected \| 1 \| PR #{closed} was closed", table, re.M)
    assert re.search(rf"^\| `{REVIEWED}` \| pr-open \| \d+ \| PR #{reviewed} \|$", table, re.M)
    assert world.fake.reactions(SLUG, comment_id) == ["eyes", "rocket"]
    # The ledger says the same to any plan: one attempt, interrupted, of the lost run.
    [attempt] = attempts_of(world, LOST, time.time())
    assert (attempt.outcome, attempt.run_id) == ("interrupted", lost_run)
    assert len(world.fake.pulls(SLUG)) == 2

    print("\nact runs: " + ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items()))
