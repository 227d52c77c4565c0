"""The OpenCode server protocol as pure data: requests to send, and what answers mean.

Nothing here does I/O or reads a clock (DESIGN §3): `client.py` sends the `Request`s built here
and feeds what comes back into the parsers, so every decision about OpenCode's answers is tested
on payloads recorded from the real server (`tests/unit/data/opencode/`).

Facts this module encodes, measured on opencode-ai 1.18.33 (DESIGN §6):

- every call carries `directory=<abs worktree>`; without it the project root falls back to `/`;
- `session.idle {sessionID}` ends a run and may come twice; `session.error` comes before it;
- `permission.asked` / `question.asked` (and their `.v2.` twins) wait for a human forever;
- `GET /session/status` lists only sessions that are not idle: absent means idle;
- a retryable provider error (5xx, 429) shows as status `retry` and is retried without end;
- a provider error may leave the session idle with `info.error` on the assistant message, and an
  unknown model leaves no assistant message at all: the messages decide, not the idle event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal

# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One HTTP request to the OpenCode server, relative to its base URL."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None


def _dir(directory: str) -> dict[str, str]:
    if not directory.startswith("/"):
        raise ValueError(f"OpenCode needs an absolute directory, got {directory!r}")
    return {"directory": directory}


def health() -> Request:
    return Request("GET", "/global/health")


def create_session(directory: str, title: str) -> Request:
    """A session rooted at `directory`; a title spares OpenCode a title-generation model call."""
    return Request("POST", "/session", _dir(directory), {"title": title})


def prompt_async(
    session_id: str, directory: str, text: str, model: str, agent: str = "build"
) -> Request:
    """Start the agent loop and return at once (204); completion is `session.idle` on the stream.

    The blocking `POST /session/{id}/message` dies around 300 s (OpenCode #49044): not used.
    """
    provider_id, model_id = split_model(model)
    body = {
        "parts": [{"type": "text", "text": text}],
        "model": {"providerID": provider_id, "modelID": model_id},
        "agent": agent,
    }
    return Request("POST", f"/session/{session_id}/prompt_async", _dir(directory), body)


def abort(session_id: str, directory: str) -> Request:
    return Request("POST", f"/session/{session_id}/abort", _dir(directory))


def delete_session(session_id: str, directory: str) -> Request:
    return Request("DELETE", f"/session/{session_id}", _dir(directory))


def get_session(session_id: str, directory: str) -> Request:
    """200 while the session exists, 404 once it is deleted."""
    return Request("GET", f"/session/{session_id}", _dir(directory))


def messages(session_id: str, directory: str) -> Request:
    return Request("GET", f"/session/{session_id}/message", _dir(directory))


def session_status(directory: str) -> Request:
    return Request("GET", "/session/status", _dir(directory))


def subscribe(directory: str) -> Request:
    """The SSE event stream of the instance that serves `directory`."""
    return Request("GET", "/event", _dir(directory))


def reject_permission(request_id: str, directory: str) -> Request:
    """Answer a pending permission request with "reject" (it stays pending after an abort)."""
    return Request("POST", f"/permission/{request_id}/reply", _dir(directory), {"reply": "reject"})


def reject_question(request_id: str, directory: str) -> Request:
    return Request("POST", f"/question/{request_id}/reject", _dir(directory))


def split_model(model: str) -> tuple[str, str]:
    """`provider/model` → (providerID, modelID); model ids may contain more slashes."""
    provider_id, sep, model_id = model.partition("/")
    if not sep or not provider_id or not model_id:
        raise ValueError(f"a model is 'providerID/modelID', got {model!r}")
    return provider_id, model_id


# --- server-sent events ----------------------------------------------------------------------


@dataclass(frozen=True)
class SSEMessage:
    """One dispatched server-sent event (the `data` lines joined)."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Incremental SSE line decoder (WHATWG rules): feed lines, get messages at blank lines."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, line: str) -> SSEMessage | None:
        """Feed one line without its terminator; returns a message when one is complete."""
        line = line.rstrip("\r\n")
        if not line:
            if not self._data:
                self._event = ""
                return None
            message = SSEMessage("\n".join(self._data), self._event or "message", self._id)
            self._data, self._event = [], ""
            return message
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value:
            self._id = value
        return None


def decode_sse(text: str) -> list[SSEMessage]:
    """All complete messages in a chunk of SSE text (recorded streams, tests)."""
    decoder = SSEDecoder()
    found = [decoder.feed(line) for line in text.splitlines()]
    tail = decoder.feed("")
    return [m for m in [*found, tail] if m is not None]


@dataclass(frozen=True)
class Event:
    """One OpenCode bus event: `{"id", "type", "properties"}`."""

    type: str
    properties: Mapping[str, Any]
    id: str | None = None

    @property
    def session_id(self) -> str | None:
        value = self.properties.get("sessionID")
        return value if isinstance(value, str) else None


def parse_event(message: SSEMessage) -> Event | None:
    """The event in an SSE message, or None for anything that is not an OpenCode event."""
    try:
        payload = json.loads(message.data)
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return None
    properties = payload.get("properties")
    event_id = payload.get("id")
    return Event(
        payload["type"],
        properties if isinstance(properties, dict) else {},
        event_id if isinstance(event_id, str) else None,
    )


class Signal(StrEnum):
    """What an event means for the one session being watched."""

    IDLE = "idle"
    ERROR = "error"
    PERMISSION = "permission"
    QUESTION = "question"
    RETRY = "retry"
    BUSY = "busy"
    OTHER = "other"


@dataclass(frozen=True)
class Meaning:
    """The signal plus what a report needs: a human-readable detail and the request to answer."""

    signal: Signal
    detail: str = ""
    request_id: str | None = None


_PERMISSION_EVENTS: Final = frozenset({"permission.asked", "permission.v2.asked"})
_QUESTION_EVENTS: Final = frozenset({"question.asked", "question.v2.asked"})
#: Server-wide events that concern no session (stream keep-alive and bookkeeping).
HEARTBEAT: Final = "server.heartbeat"
CONNECTED: Final = "server.connected"


def interpret(event: Event, session_id: str) -> Meaning | None:
    """What `event` means for `session_id`; None when it is about something else."""
    if event.session_id != session_id:
        return None
    props = event.properties
    if event.type == "session.idle":
        return Meaning(Signal.IDLE)
    if event.type == "session.error":
        return Meaning(Signal.ERROR, error_text(props.get("error")))
    if event.type in _PERMISSION_EVENTS:
        what = props.get("permission") or props.get("action") or "permission"
        patterns = props.get("patterns") or props.get("resources") or []
        shown = ", ".join(str(p) for p in patterns) if isinstance(patterns, list) else ""
        detail = f"{what} ({shown})" if shown else str(what)
        return Meaning(Signal.PERMISSION, detail, _str_or_none(props.get("id")))
    if event.type in _QUESTION_EVENTS:
        questions = props.get("questions")
        texts = [str(q.get("question", "")) for q in questions or [] if isinstance(q, dict)]
        return Meaning(
            Signal.QUESTION, "; ".join(t for t in texts if t), _str_or_none(props.get("id"))
        )
    if event.type == "session.status":
        return status_meaning(props.get("status"))
    return Meaning(Signal.OTHER)


def status_meaning(status: Any) -> Meaning:
    """One `SessionStatus` object (`{"type": "idle"|"busy"|"retry", ...}`) as a signal."""
    if not isinstance(status, dict):
        return Meaning(Signal.OTHER)
    kind = status.get("type")
    if kind == "idle":
        return Meaning(Signal.IDLE)
    if kind == "busy":
        return Meaning(Signal.BUSY)
    if kind == "retry":
        attempt = status.get("attempt")
        message = str(status.get("message") or "provider error")
        return Meaning(Signal.RETRY, f"{message} (retry attempt {attempt})")
    return Meaning(Signal.OTHER)


def status_of(payload: Any, session_id: str) -> Meaning:
    """The session's state from `GET /session/status`; a session not listed is idle."""
    if isinstance(payload, dict) and session_id in payload:
        return status_meaning(payload[session_id])
    return Meaning(Signal.IDLE)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def error_text(error: Any) -> str:
    """`{"name": "APIError", "data": {"message": ...}}` → "APIError: message" (first line)."""
    if not isinstance(error, dict):
        return str(error) if error else "unknown error"
    name = str(error.get("name") or "Error")
    data = error.get("data")
    message = data.get("message") if isinstance(data, dict) else None
    if not message:
        return name
    first = str(message).strip().splitlines()[0] if str(message).strip() else name
    status = data.get("statusCode") if isinstance(data, dict) else None
    suffix = f" (HTTP {status})" if isinstance(status, int) else ""
    return f"{name}: {first}{suffix}"


# --- messages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transcript:
    """What `GET /session/{id}/message` says about a finished run.

    `ok` is False when the last assistant message carries `info.error` or no assistant message
    produced anything (text or a tool call): OpenCode can go idle without any error event.
    Tokens and cost are summed over assistant messages (each message's input counts the whole
    conversation so far, which is what a provider bills).
    """

    ok: bool
    reason: str
    text: str
    assistant_messages: int
    tool_calls: int
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    error_name: str | None = None
    #: The texts the session received as user messages (what drift checks read back).
    received: tuple[str, ...] = ()


def parse_messages(payload: Any) -> Transcript:
    """Read a session's messages (`[{"info": {...}, "parts": [...]}, ...]`)."""
    items = payload if isinstance(payload, list) else []
    assistants = [
        item
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get("info"), dict)
        and item["info"].get("role") == "assistant"
    ]
    texts: list[str] = []
    tool_calls = 0
    tokens_in = tokens_out = 0
    cost = 0.0
    saw_tokens = saw_cost = False
    for item in assistants:
        info = item["info"]
        tokens = info.get("tokens")
        if isinstance(tokens, dict):
            saw_tokens = True
            tokens_in += _int(tokens.get("input"))
            tokens_out += _int(tokens.get("output")) + _int(tokens.get("reasoning"))
        if isinstance(info.get("cost"), int | float):
            saw_cost = True
            cost += float(info["cost"])
        for part in item.get("parts") or []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and not part.get("synthetic"):
                if str(part.get("text") or "").strip():
                    texts.append(str(part["text"]))
            elif part.get("type") == "tool":
                tool_calls += 1
    received = tuple(
        str(part["text"])
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get("info"), dict)
        and item["info"].get("role") == "user"
        for part in item.get("parts") or []
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    )
    last_error = assistants[-1]["info"].get("error") if assistants else None
    error_name: str | None = None
    if last_error:
        reason = error_text(last_error)
        name = last_error.get("name") if isinstance(last_error, dict) else None
        error_name = str(name) if name else None
    elif not assistants:
        reason = "no assistant message: the model never answered"
    elif not texts and not tool_calls:
        reason = "the model answered with no text and no tool call"
    else:
        reason = ""
    return Transcript(
        ok=not reason,
        reason=reason,
        text="\n\n".join(texts),
        assistant_messages=len(assistants),
        tool_calls=tool_calls,
        tokens_in=tokens_in if saw_tokens else None,
        tokens_out=tokens_out if saw_tokens else None,
        cost=cost if saw_cost else None,
        error_name=error_name,
        received=received,
    )


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def parse_session_id(payload: Any) -> str:
    """The id in a `POST /session` answer."""
    if isinstance(payload, dict) and isinstance(payload.get("id"), str) and payload["id"]:
        return str(payload["id"])
    raise ValueError(f"OpenCode answered POST /session without a session id: {payload!r:.200}")


# --- configuration ---------------------------------------------------------------------------

#: Commands the agent may not run: only macoder pushes, opens PRs, or reaches the network.
#: OpenCode matches each simple command of a bash line (it splits `a && b`) against these globs;
#: the `*`-prefixed forms also catch `VAR=x git push` and `bash -c 'git push'`. Patterns are a
#: speed bump, not the guarantee: the guarantee is that no token is in the agent's environment.
DENIED_BASH_PATTERNS: Final[tuple[str, ...]] = (
    "git push*",
    "*git push*",
    "*git -C * push*",
    "git remote*",
    "*git remote*",
    "gh",
    "gh *",
    "*/gh *",
    "* gh *",
    "*'gh *",
    '*"gh *',
    "curl*",
    "*curl *",
    "wget*",
    "*wget *",
)

#: Every permission set explicitly, none left at "ask" (DESIGN §6): "ask" waits for a human
#: forever in a headless session (`doom_loop` and `external_directory` default to it).
BASE_PERMISSIONS: Final[Mapping[str, str]] = {
    "read": "allow",
    "edit": "allow",
    "glob": "allow",
    "grep": "allow",
    "list": "allow",
    "task": "allow",
    "todowrite": "allow",
    "skill": "allow",
    "lsp": "allow",
    "bash": "allow",
    "webfetch": "deny",
    "websearch": "deny",
    "question": "deny",
    "doom_loop": "deny",
    "external_directory": "deny",
}


def permissions(
    overrides: Mapping[str, Any] | None = None,
    *,
    denied_bash: Sequence[str] = DENIED_BASH_PATTERNS,
) -> dict[str, Any]:
    """The permission block: `BASE_PERMISSIONS`, bash as allow-all minus `denied_bash`.

    The bash rules are ordered: OpenCode uses the last rule that matches, so "*": "allow" comes
    first. `overrides` replaces whole entries (tests use it to set something to "ask").
    """
    result: dict[str, Any] = dict(BASE_PERMISSIONS)
    if denied_bash:
        result["bash"] = {"*": "allow", **dict.fromkeys(denied_bash, "deny")}
    result.update(overrides or {})
    return result


#: Which OpenCode agent runs a task (`agent_profile`): macoder's lean one, or OpenCode's own
#: `build` agent with its full system prompt and every tool.
AgentProfile = Literal["lean", "opencode"]

#: The name of macoder's own agent in the server's config.
LEAN_AGENT: Final = "macoder"

#: Its system prompt, in place of OpenCode's ~10 KB one (written for an interactive CLI with a
#: person at it): what matters for one well-specified task run headless, and nothing else.
#: OpenCode still appends its environment block (working directory, platform, date).
LEAN_PROMPT: Final = """\
You are macoder's coding agent. You do one task, described in the user's message, in the git \
worktree that is your working directory. Nobody answers questions: decide, and state your \
assumptions at the end.

- Read the files that matter before changing anything; follow the code's existing style, \
names and structure.
- Make the smallest change that does the whole task; leave alone what it does not touch.
- Add or update tests for the behaviour you change. Never weaken, delete or skip an existing \
test: macoder runs the original tests against your work and rejects it otherwise.
- Run the project's tests with bash and fix what fails before you finish.
- Use the tools directly: read, edit and write files; glob and grep to find them; bash for \
commands. Stay inside the working directory.
- Do not commit, push, open pull requests or change git settings: macoder verifies and \
commits your work.

Finish with a short summary: what you changed, in which files, and how you verified it.
"""

#: Tools the lean agent goes without: sub-agents, to-do lists, skills and the language server
#: serve long interactive sessions; their definitions cost ~7 KB in every request.
LEAN_WITHOUT: Final = ("task", "todowrite", "todoread", "skill", "lsp")


def agent_name(profile: AgentProfile) -> str:
    """The agent a session is prompted with under `profile`."""
    return LEAN_AGENT if profile == "lean" else "build"


def opencode_config_content(
    provider: Mapping[str, Any],
    permission: Mapping[str, Any] | None = None,
    *,
    model: str | None = None,
    profile: AgentProfile = "opencode",
) -> str:
    """The JSON for `OPENCODE_CONFIG_CONTENT`: providers, permissions, nothing interactive.

    `snapshot: false` skips OpenCode's per-step git snapshot of the worktree (macoder diffs the
    worktree itself); sharing and autoupdate are off.
    """
    config: dict[str, Any] = {
        "provider": dict(provider),
        "permission": dict(permission) if permission is not None else permissions(),
        "share": "disabled",
        "autoupdate": False,
        "snapshot": False,
    }
    if profile == "lean":
        config["agent"] = {
            LEAN_AGENT: {
                "mode": "primary",
                "description": "macoder: one task, headless, tests run before it ends",
                "prompt": LEAN_PROMPT,
                "permission": dict.fromkeys(LEAN_WITHOUT, "deny"),
            }
        }
    if model is not None:
        split_model(model)
        config["model"] = model
        config["small_model"] = model
    return json.dumps(config, sort_keys=True)


_ENV_REF: Final = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


def provider_env_names(provider: Mapping[str, Any]) -> frozenset[str]:
    """Environment variables the provider block declares: `env: [...]` lists and `{env:NAME}`."""
    names: set[str] = set()
    for entry in provider.values():
        if not isinstance(entry, Mapping):
            continue
        declared = entry.get("env")
        if isinstance(declared, list):
            names.update(str(n) for n in declared if isinstance(n, str))
    names.update(_ENV_REF.findall(json.dumps(provider)))
    return frozenset(names)


#: Set on every server (DESIGN §6): no update checks, no model-list download, no LSP download,
#: no sharing, no repository-level opencode.json (the target repo must not reconfigure the agent).
SERVER_FLAGS: Final[Mapping[str, str]] = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_PROJECT_CONFIG": "1",
}

#: The only variables copied from macoder's environment (plus declared provider keys).
PASSED_ENV: Final[tuple[str, ...]] = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR")


def server_environment(
    source: Mapping[str, str],
    *,
    home: str,
    config_content: str,
    allowed: Iterable[str] = (),
    password: str | None = None,
) -> dict[str, str]:
    """The complete environment of `opencode serve`, built from an allowlist.

    Everything the server has, the agent's bash commands have too (measured: `env` in a bash
    step shows the server's environment, `OPENCODE_CONFIG_CONTENT` included). So nothing is
    inherited by default: `GITHUB_TOKEN`, `GH_TOKEN`, any other token and every `GIT_*`
    variable stay out; only `PASSED_ENV` and the provider keys named in `allowed` pass.
    HOME and the XDG dirs point into `home`, so no user config, auth file or session store is
    shared with the person running macoder.
    """
    env: dict[str, str] = {}
    for name in (*PASSED_ENV, *sorted(set(allowed))):
        if name.startswith("GIT_"):
            continue
        if name in source:
            env[name] = source[name]
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        {
            "HOME": home,
            "XDG_CONFIG_HOME": f"{home}/config",
            "XDG_DATA_HOME": f"{home}/data",
            "XDG_CACHE_HOME": f"{home}/cache",
            "XDG_STATE_HOME": f"{home}/state",
            "OPENCODE_CONFIG_CONTENT": config_content,
            **SERVER_FLAGS,
        }
    )
    if password:
        env["OPENCODE_SERVER_PASSWORD"] = password
    return env
