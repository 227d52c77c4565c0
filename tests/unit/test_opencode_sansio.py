"""The pure OpenCode protocol layer, on payloads recorded from the real server (1.18.33).

`tests/unit/data/opencode/` holds raw SSE streams (`*.sse`) and `GET /session/{id}/message`
answers (`*.messages.json`) of real sessions driven by the scripted model; re-record them with
`tests/integration/record_opencode_payloads.py` when the pinned version moves.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from multi_agent_coder.agents.opencode import sansio
from multi_agent_coder.agents.opencode.sansio import Meaning, Signal

DATA = Path(__file__).parent / "data" / "opencode"


def load_json(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def events(name: str) -> list[sansio.Event]:
    found = [sansio.parse_event(m) for m in sansio.decode_sse((DATA / f"{name}.sse").read_text())]
    return [e for e in found if e is not None]


def session_of(name: str) -> str:
    """The recorded session: the one `session.created` announces."""
    return next(e.session_id for e in events(name) if e.type == "session.created" and e.session_id)


def signals(name: str) -> list[Meaning]:
    sid = session_of(name)
    meanings = [sansio.interpret(e, sid) for e in events(name)]
    return [m for m in meanings if m is not None and m.signal is not Signal.OTHER]


def first_decisive(name: str) -> Meaning:
    """What a waiting agent acts on: the first idle / permission / question."""
    decisive = {Signal.IDLE, Signal.PERMISSION, Signal.QUESTION}
    return next(m for m in signals(name) if m.signal in decisive)


# --- requests --------------------------------------------------------------------------------


def test_every_session_request_names_the_directory() -> None:
    d = "/work/wt/T001"
    requests = [
        sansio.create_session(d, "Task T001"),
        sansio.prompt_async("ses_1", d, "hi", "p/m"),
        sansio.abort("ses_1", d),
        sansio.delete_session("ses_1", d),
        sansio.get_session("ses_1", d),
        sansio.messages("ses_1", d),
        sansio.session_status(d),
        sansio.subscribe(d),
        sansio.reject_permission("per_1", d),
        sansio.reject_question("que_1", d),
    ]
    assert all(r.params == {"directory": d} for r in requests)


def test_relative_directory_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        sansio.create_session("wt/T001", "t")


def test_prompt_async_body() -> None:
    request = sansio.prompt_async("ses_1", "/wt", "do it", "openrouter/anthropic/claude-x")
    assert (request.method, request.path) == ("POST", "/session/ses_1/prompt_async")
    assert request.json == {
        "parts": [{"type": "text", "text": "do it"}],
        "model": {"providerID": "openrouter", "modelID": "anthropic/claude-x"},
        "agent": "build",
    }


def test_create_session_sends_a_title() -> None:
    request = sansio.create_session("/wt", "Task T001: x")
    assert (request.method, request.path, request.json) == (
        "POST",
        "/session",
        {"title": "Task T001: x"},
    )


def test_reject_permission_body() -> None:
    request = sansio.reject_permission("per_9", "/wt")
    assert (request.path, request.json) == ("/permission/per_9/reply", {"reply": "reject"})


@pytest.mark.parametrize("bad", ["", "model", "/model", "provider/", "provider"])
def test_split_model_refuses_incomplete_refs(bad: str) -> None:
    with pytest.raises(ValueError, match="providerID/modelID"):
        sansio.split_model(bad)


# --- SSE -------------------------------------------------------------------------------------


def test_sse_decoder_follows_the_spec() -> None:
    text = ": comment\r\nevent: custom\r\nid: 7\r\ndata: line one\r\ndata:line two\r\n\r\ndata: x\n"
    messages = sansio.decode_sse(text)
    assert messages == [
        sansio.SSEMessage("line one\nline two", "custom", "7"),
        sansio.SSEMessage("x", "message", "7"),
    ]


def test_sse_decoder_ignores_blank_runs() -> None:
    decoder = sansio.SSEDecoder()
    assert [decoder.feed(line) for line in ["", "", "data: {}", ""]][-1] == sansio.SSEMessage("{}")


def test_parse_event_skips_non_events() -> None:
    assert sansio.parse_event(sansio.SSEMessage("not json")) is None
    assert sansio.parse_event(sansio.SSEMessage('{"no": "type"}')) is None
    event = sansio.parse_event(sansio.SSEMessage('{"type": "x", "properties": []}'))
    assert event == sansio.Event("x", {}, None)


@pytest.mark.parametrize(
    "name",
    [
        "success",
        "unknown_model",
        "provider_400",
        "provider_retry",
        "hang_abort",
        "permission_asked",
        "question_asked",
        "bash_denied",
    ],
)
def test_recorded_streams_start_connected_and_parse_whole(name: str) -> None:
    raw = (DATA / f"{name}.sse").read_text()
    data_lines = [line for line in raw.splitlines() if line.startswith("data: ")]
    parsed = events(name)
    assert len(parsed) == len(data_lines)
    assert parsed[0].type == sansio.CONNECTED


# --- what events mean ------------------------------------------------------------------------


def test_success_goes_idle_without_errors() -> None:
    found = signals("success")
    assert first_decisive("success").signal is Signal.IDLE
    assert Signal.BUSY in {m.signal for m in found}
    assert not [m for m in found if m.signal in (Signal.ERROR, Signal.PERMISSION)]


def test_events_of_other_sessions_mean_nothing() -> None:
    assert all(sansio.interpret(e, "ses_someone_else") is None for e in events("success"))


def test_unknown_model_errors_before_idle() -> None:
    found = signals("unknown_model")
    kinds = [m.signal for m in found]
    assert kinds.index(Signal.ERROR) < kinds.index(Signal.IDLE)
    error = next(m for m in found if m.signal is Signal.ERROR)
    assert error.detail == "UnknownError: Model not found: scripted/nope."


def test_provider_400_is_an_error_then_idle_possibly_twice() -> None:
    found = signals("provider_400")
    error = next(m for m in found if m.signal is Signal.ERROR)
    assert error.detail == "APIError: bad request: scripted (HTTP 400)"
    assert [m.signal for m in found].count(Signal.IDLE) >= 1


def test_provider_500_is_retried_not_failed() -> None:
    found = signals("provider_retry")
    retries = [m for m in found if m.signal is Signal.RETRY]
    assert retries
    assert retries[0].detail == "scripted overload (retry attempt 1)"
    before_abort = found[: [m.signal for m in found].index(Signal.IDLE)]
    assert Signal.ERROR not in {m.signal for m in before_abort}


def test_hang_abort_reports_aborted_then_idle() -> None:
    found = signals("hang_abort")
    assert any(m.detail == "MessageAbortedError: Aborted" for m in found)
    assert found[-1].signal is Signal.IDLE


def test_permission_request_is_decisive() -> None:
    meaning = first_decisive("permission_asked")
    assert meaning.signal is Signal.PERMISSION
    assert meaning.detail == "external_directory (/etc/*)"
    assert meaning.request_id is not None
    assert meaning.request_id.startswith("per_")


def test_question_is_decisive() -> None:
    meaning = first_decisive("question_asked")
    assert meaning.signal is Signal.QUESTION
    assert meaning.detail == "Which one?"
    assert meaning.request_id is not None
    assert meaning.request_id.startswith("que_")


def test_v2_permission_events_count_too() -> None:
    event = sansio.Event(
        "permission.v2.asked",
        {"id": "per_1", "sessionID": "ses_1", "action": "bash", "resources": ["rm -rf /"]},
    )
    expected = Meaning(Signal.PERMISSION, "bash (rm -rf /)", "per_1")
    assert sansio.interpret(event, "ses_1") == expected


# --- GET /session/status ---------------------------------------------------------------------


def test_status_busy_and_retry() -> None:
    busy = load_json("status_busy.json")
    retry = load_json("status_retry.json")
    assert sansio.status_of(busy, next(iter(busy))).signal is Signal.BUSY
    meaning = sansio.status_of(retry, next(iter(retry)))
    assert meaning.signal is Signal.RETRY
    assert "scripted overload" in meaning.detail


def test_status_absent_means_idle() -> None:
    """Idle sessions are not listed at all (measured: `{}` after idle)."""
    assert sansio.status_of({}, "ses_1").signal is Signal.IDLE
    assert sansio.status_of(load_json("status_busy.json"), "ses_other").signal is Signal.IDLE


# --- GET /session/{id}/message ---------------------------------------------------------------


def test_success_transcript() -> None:
    transcript = sansio.parse_messages(load_json("success.messages.json"))
    assert transcript.ok
    assert transcript.reason == ""
    assert transcript.text == "All done."
    assert (transcript.assistant_messages, transcript.tool_calls) == (3, 2)
    assert transcript.tokens_in is not None
    assert transcript.tokens_in > 1000
    assert transcript.tokens_out is not None
    assert transcript.tokens_out > 0
    assert transcript.cost == 0.0


def test_unknown_model_leaves_no_assistant_message() -> None:
    transcript = sansio.parse_messages(load_json("unknown_model.messages.json"))
    assert not transcript.ok
    assert transcript.assistant_messages == 0
    assert "no assistant message" in transcript.reason
    assert (transcript.tokens_in, transcript.tokens_out, transcript.cost) == (None, None, None)


def test_provider_400_shows_as_info_error() -> None:
    transcript = sansio.parse_messages(load_json("provider_400.messages.json"))
    assert not transcript.ok
    assert transcript.error_name == "APIError"
    assert transcript.reason == "APIError: bad request: scripted (HTTP 400)"


def test_aborted_messages() -> None:
    transcript = sansio.parse_messages(load_json("hang_abort.messages.json"))
    assert not transcript.ok
    assert transcript.error_name == "MessageAbortedError"


def test_an_assistant_message_with_nothing_in_it_is_a_failure() -> None:
    """The retried-then-aborted provider leaves an empty assistant message without an error."""
    transcript = sansio.parse_messages(load_json("provider_retry.messages.json"))
    assert not transcript.ok
    assert transcript.reason == "the model answered with no text and no tool call"


def test_denied_command_is_a_tool_error_the_model_sees() -> None:
    messages = load_json("bash_denied.messages.json")
    transcript = sansio.parse_messages(messages)
    assert transcript.ok
    assert transcript.text == "ok"
    tools = [p for m in messages for p in m["parts"] if p["type"] == "tool"]
    push = next(p for p in tools if p["state"]["input"]["command"] == "git push origin main")
    assert push["state"]["status"] == "error"
    assert "prevents you from using this specific tool call" in push["state"]["error"]


def test_parse_messages_tolerates_junk() -> None:
    transcript = sansio.parse_messages({"not": "a list"})
    assert not transcript.ok
    assert transcript.assistant_messages == 0


def test_parse_session_id() -> None:
    assert sansio.parse_session_id(load_json("session_created.json")).startswith("ses_")
    with pytest.raises(ValueError, match="without a session id"):
        sansio.parse_session_id({"name": "BadRequest"})


def test_error_text_shapes() -> None:
    assert sansio.error_text(None) == "unknown error"
    assert sansio.error_text({"name": "X"}) == "X"
    assert sansio.error_text({"name": "X", "data": {"message": "a\nb"}}) == "X: a"


# --- configuration ---------------------------------------------------------------------------


def test_config_sets_every_permission_and_nothing_asks() -> None:
    config = json.loads(sansio.opencode_config_content({"p": {"npm": "x"}}))
    permission = config["permission"]
    for key, value in {
        "edit": "allow",
        "webfetch": "deny",
        "question": "deny",
        "doom_loop": "deny",
        "external_directory": "deny",
    }.items():
        assert permission[key] == value
    actions = [v for v in permission.values() if isinstance(v, str)]
    actions += [a for v in permission.values() if isinstance(v, dict) for a in v.values()]
    assert set(actions) == {"allow", "deny"}
    assert config["provider"] == {"p": {"npm": "x"}}
    assert (config["share"], config["autoupdate"], config["snapshot"]) == ("disabled", False, False)
    assert "model" not in config


def test_config_model() -> None:
    config = json.loads(sansio.opencode_config_content({}, model="p/m"))
    assert (config["model"], config["small_model"]) == ("p/m", "p/m")
    with pytest.raises(ValueError, match="providerID/modelID"):
        sansio.opencode_config_content({}, model="nope")


def test_the_lean_profile_defines_macoders_agent_and_the_other_opencodes_own() -> None:
    lean = json.loads(sansio.opencode_config_content({}, profile="lean"))
    agent = lean["agent"][sansio.agent_name("lean")]
    assert agent["prompt"] == sansio.LEAN_PROMPT
    assert agent["mode"] == "primary"
    assert set(agent["permission"].values()) == {"deny"}
    assert {"task", "todowrite"} <= set(agent["permission"])
    assert len(sansio.LEAN_PROMPT.encode()) < 1500  # the point of it: a short prompt
    plain = json.loads(sansio.opencode_config_content({}, profile="opencode"))
    assert "agent" not in plain
    assert sansio.agent_name("opencode") == "build"


def bash_decision(rules: dict[str, str], command: str) -> str:
    """OpenCode's rule: the last pattern that matches wins (`*` also spans spaces)."""
    decision = "ask"
    for pattern, action in rules.items():
        if fnmatch.fnmatchcase(command, pattern):
            decision = action
    return decision


@pytest.mark.parametrize(
    "command",
    [
        "git push",
        "git push origin main",
        "git push --force-with-lease origin macoder/T001",
        "GIT_DIR=.git git push",
        "bash -c 'git push'",
        "git -C . push origin",
        "git remote add evil https://example.invalid/x.git",
        "git remote set-url origin x",
        "gh pr create --fill",
        "gh",
        "/usr/bin/gh pr merge 1",
        "env gh api /user",
        "curl -s https://example.invalid",
        "wget https://example.invalid",
        "cd src && curl https://example.invalid",
    ],
)
def test_bash_denies_pushing_pr_and_network(command: str) -> None:
    rules = sansio.permissions()["bash"]
    assert next(iter(rules.items())) == ("*", "allow")
    assert bash_decision(rules, command) == "deny"


@pytest.mark.parametrize(
    "command",
    [
        "git status --short",
        "git diff",
        "git log --oneline",
        "python -m pytest -q",
        "ls -la",
        "echo ghost",
        "grep -r push src",
    ],
)
def test_bash_allows_the_rest(command: str) -> None:
    assert bash_decision(sansio.permissions()["bash"], command) == "allow"


def test_permission_overrides_replace_entries() -> None:
    assert sansio.permissions({"external_directory": "ask"})["external_directory"] == "ask"
    assert sansio.permissions(denied_bash=())["bash"] == "allow"


def test_provider_env_names() -> None:
    provider = {
        "anthropic": {"env": ["ANTHROPIC_API_KEY"]},
        "mine": {"options": {"apiKey": "{env:MY_KEY}", "baseURL": "{env:MY_URL}"}},
        "odd": "not a mapping",
    }
    assert sansio.provider_env_names(provider) == {"ANTHROPIC_API_KEY", "MY_KEY", "MY_URL"}


def test_server_environment_is_an_allowlist() -> None:
    source = {
        "PATH": "/bin",
        "LANG": "C.UTF-8",
        "HOME": "/root",
        "GITHUB_TOKEN": "secret-xyz",
        "GH_TOKEN": "secret-gh",
        "NPM_TOKEN": "secret-npm",
        "GIT_DIR": "/repo/.git",
        "GIT_TOKEN": "secret-git",
        "ANTHROPIC_API_KEY": "sk-1",
        "OPENAI_API_KEY": "sk-2",
    }
    env = sansio.server_environment(
        source,
        home="/tmp/h",
        config_content="{}",
        allowed={"ANTHROPIC_API_KEY", "GIT_TOKEN"},
        password="pw",  # noqa: S106
    )
    assert "secret" not in json.dumps(env)
    assert not any(name.startswith("GIT_") for name in env)
    assert env["ANTHROPIC_API_KEY"] == "sk-1"
    assert "OPENAI_API_KEY" not in env
    assert (env["PATH"], env["LANG"], env["HOME"]) == ("/bin", "C.UTF-8", "/tmp/h")
    assert env["XDG_DATA_HOME"] == "/tmp/h/data"
    assert env["OPENCODE_CONFIG_CONTENT"] == "{}"
    assert env["OPENCODE_SERVER_PASSWORD"] == "pw"  # noqa: S105
    assert all(env[flag] == "1" for flag in sansio.SERVER_FLAGS)


def test_server_environment_has_a_path_even_without_one() -> None:
    env = sansio.server_environment({}, home="/h", config_content="{}")
    assert env["PATH"]
    assert "OPENCODE_SERVER_PASSWORD" not in env
