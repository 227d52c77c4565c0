"""The model gateway in a real `macoder run`: the real OpenCode in the sandbox reaches the
scripted model only through the gateway, which holds the key, counts every token and stops a
task or a run at its cap."""

from __future__ import annotations

import json

import pytest

from testing import scripted_model as sm
from tests.conftest import MakeTarget
from tests.integration import runs
from tests.integration.runs import Target

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "sk-scripted-2c6f0d9a"


@pytest.fixture(autouse=True)
def fresh_records(model: sm.ScriptedModel) -> None:
    """The model serves the whole module; each test counts only its own requests."""
    model.clear_requests()


def keyed(target: Target, model: sm.ScriptedModel) -> None:
    """The provider block refers to its key as `{env:SCRIPTED_KEY}`, as a user's would."""
    provider = model.provider_config()
    provider[sm.PROVIDER_ID]["options"]["apiKey"] = "{env:SCRIPTED_KEY}"
    path = target.root.parent / "opencode.json"
    path.write_text(json.dumps({"provider": provider}))


def task_usage(model: sm.ScriptedModel, task_id: str) -> tuple[int, int, int]:
    """What the scripted provider reported for a task: (input, output, requests)."""
    answered = [r.usage for r in model.task_requests(task_id) if r.usage]
    return (
        sum(u["prompt_tokens"] for u in answered),
        sum(u["completion_tokens"] for u in answered),
        len(answered),
    )


def test_the_key_stays_outside_and_every_token_is_counted(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    look = (
        "import glob, os, pathlib\n"
        "seen = [repr(dict(os.environ))]\n"
        "for p in glob.glob('/proc/*/environ') + glob.glob('/proc/*/cmdline'):\n"
        "    try: seen.append(pathlib.Path(p).read_bytes().decode(errors='replace'))\n"
        "    except OSError: pass\n"
        "for root in (os.path.expanduser('~'), '/tmp'):\n"
        "    for d, _, files in os.walk(root):\n"
        "        for f in files:\n"
        "            try: data = pathlib.Path(d, f).read_bytes()[:200000]\n"
        "            except OSError: continue\n"
        "            seen.append(data.decode(errors='replace'))\n"
        # The key is looked for in two halves: this script's own command line must not match.
        f"key = {KEY[:6]!r} + {KEY[6:]!r}\n"
        "pathlib.Path('found.txt').write_text(str(sum(key in s for s in seen)))\n"
    )
    model.set_scenario(
        "T001",
        sm.Scenario(
            [
                sm.write("{worktree}/mathlib/triple.py", "def triple(x):\n    return 3 * x\n"),
                sm.bash(f'python3 -c "{look}"', "Look for the key"),
                sm.text("Done."),
            ]
        ),
    )
    target = make_target(runs.tasks("T001"))
    keyed(target, model)

    result = target.macoder("run", "--json", extra_env={"SCRIPTED_KEY": KEY})

    assert result.code == 0, result
    report = result.json()
    [task] = report["tasks"]
    assert target.git("show", "macoder/T001:found.txt") == "0"  # nowhere in the sandbox
    requests = model.task_requests("T001")
    assert requests
    assert all(r.headers.get("Authorization") == f"Bearer {KEY}" for r in requests)
    tokens_in, tokens_out, calls = task_usage(model, "T001")
    assert (task["tokens_in"], task["tokens_out"], task["requests"]) == (
        tokens_in,
        tokens_out,
        calls,
    )
    assert report["totals"]["tokens_in"] == tokens_in
    [pr] = target.pulls()
    assert f"tokens in/out: {tokens_in}/{tokens_out}" in pr["body"]
    attempt = next(r for r in target.records("T001") if r["type"] == "attempt")
    assert (attempt["tokens_in"], attempt["requests"]) == (tokens_in, calls)


def test_a_task_at_its_token_cap_is_stopped_and_its_partial_work_kept(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", runs.feature("triple", 3))
    target = make_target(runs.tasks("T001"), settings={"max_tokens_per_task": 1})

    result = target.macoder("run", "--json")

    assert result.code == 1, result
    [task] = result.json()["tasks"]
    assert task["status"] == "failed", task
    assert task["reason"].startswith("cap:tokens-per-task")
    assert len(model.task_requests("T001")) == 1  # stopped within one request of the cap
    [pr] = target.pulls()  # the partial work is kept, as a draft that says why it stopped
    assert pr["draft"] is True
    assert "macoder:failed" in pr["labels"]
    assert "cap:tokens-per-task" in pr["body"]
    assert target.git("show", "macoder/T001:mathlib/triple.py").startswith("def triple")


def test_the_run_cap_stops_the_second_task_before_its_first_model_call(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", runs.feature("triple", 3))
    model.set_scenario("T002", runs.feature("quadruple", 4))
    target = make_target(
        runs.tasks("T001", "T002"), settings={"max_tokens_per_run": 1, "workers": 1}
    )

    result = target.macoder("run", "--json")

    reasons = {t["id"]: t["reason"] for t in result.json()["tasks"]}
    assert reasons["T002"].startswith("cap:tokens-per-run"), reasons
    assert model.task_requests("T002") == []


def test_a_rate_limited_provider_is_waited_out_and_the_task_still_lands(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    good = runs.feature("triple", 3)
    first, *rest = good.steps
    model.set_scenario("T001", sm.Scenario([sm.flaky(429, 1, first, retry_after=1), *rest]))
    target = make_target(runs.tasks("T001"), settings={"retry": {"max_retries": 2}})

    result = target.macoder("run", "--json")

    assert result.code == 0, result
    [task] = result.json()["tasks"]
    assert task["status"] == "succeeded", task
    first_turn = [r for r in model.task_requests("T001") if r.step_index == 0]
    assert len(first_turn) == 2  # the 429, then the answer: the gateway asked again
    assert task["requests"] == len([r for r in model.task_requests("T001") if r.usage])


def test_a_provider_that_stays_down_fails_the_task_with_its_message_not_a_timeout(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", sm.Scenario([sm.error(503, "The engine is currently overloaded")]))
    target = make_target(
        runs.tasks("T001"),
        settings={"retry": {"max_retries": 1, "delay": 0}, "task_timeout": 900},
    )

    result = target.macoder("run", "--json")

    assert result.code == 1, result
    [task] = result.json()["tasks"]
    assert task["status"] == "failed", task
    assert task["reason"].startswith("agent error: model provider: "), task
    assert "HTTP 503: The engine is currently overloaded" in task["reason"], task
    assert "gave up after 2 attempts (POST http://127.0.0.1:" in task["reason"], task
    # OpenCode did not ask again (the error is final): the model saw the gateway's two tries
    # only — one fewer when a try never reached it, which the reason then says.
    reached = 2 - ("; before that: the model endpoint did not answer" in task["reason"])
    assert len(model.task_requests("T001")) == reached, task["reason"]
    # The provider's outage is recorded with its reason, and costs the task no attempt.
    [attempt] = [r for r in target.records("T001") if r["type"] == "attempt"]
    assert attempt["outcome"] == "infrastructure"
    assert attempt["reason"] == task["reason"]
    ready = target.macoder("ready", "--json")
    assert [t["id"] for t in ready.json()] == ["T001"], ready


def test_continue_starts_from_the_drafts_partial_work_and_verifies_the_whole(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    model.set_scenario("T001", runs.feature("triple", 3))
    target = make_target(runs.tasks("T001"), settings={"max_tokens_per_task": 1})
    stopped = target.macoder("run", "--json")
    assert stopped.json()["tasks"][0]["reason"].startswith("cap:tokens-per-task"), stopped
    [draft] = target.pulls()
    assert target.git("show", "macoder/T001:mathlib/triple.py").startswith("def triple")

    # The second attempt only writes the test: the module must come from the first one.
    model.clear_requests()
    model.set_scenario("T001", sm.Scenario(runs.feature("triple", 3).steps[1:]))
    no_cap = {"MACODER_MAX_TOKENS_PER_TASK": "100000000"}
    result = target.macoder("run", "--continue", "T001", "--json", extra_env=no_cap)

    assert result.code == 0, result
    [task] = result.json()["tasks"]
    assert task["status"] == "succeeded", task
    prompt = json.dumps(model.task_requests("T001")[0].body["messages"])
    assert "## Earlier attempt" in prompt
    [pr] = target.pulls()
    assert pr["number"] == draft["number"]  # the same PR, now verified
    assert pr["draft"] is False
    assert "macoder:failed" not in pr["labels"]
    files = target.files_changed("main", "macoder/T001")
    assert {"mathlib/triple.py", "tests/test_triple.py"} <= set(files)


def test_continue_without_a_partial_draft_is_refused_before_anything_starts(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    target = make_target(runs.tasks("T001"))

    result = target.macoder("run", "--continue", "T001")

    assert result.code == 2, result
    assert "--continue T001: no open draft with partial work" in result.stderr
    assert model.task_requests("T001") == []
    assert target.pulls() == []


def test_a_provider_that_does_not_know_the_model_fails_the_task_with_its_words(
    make_target: MakeTarget, model: sm.ScriptedModel
) -> None:
    """A 404 is the provider's final word: passed through untouched, not retried, and its
    message is the task's reason (it does not go idle without an answer)."""
    model.set_scenario("T001", sm.Scenario([sm.error(404, "The model `coder` does not exist")]))
    target = make_target(runs.tasks("T001"), settings={"task_timeout": 900})

    result = target.macoder("run", "--json")

    assert result.code == 1, result
    [task] = result.json()["tasks"]
    assert "The model `coder` does not exist (HTTP 404)" in task["reason"], task
    assert len(model.task_requests("T001")) == 1
    assert target.pulls() == []
