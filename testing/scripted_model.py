"""A scripted, OpenAI-compatible streaming model server for tests and the demo.

Why it exists: the agent runtime (OpenCode) is a real program that talks to a real LLM provider.
To test what macoder does with it (tool calls that write files and run commands, hangs,
provider errors, permission prompts) without a model, a key or a network, this server plays the
provider: `POST /v1/chat/completions` answers with `chat.completion.chunk` SSE deltas (text,
`tool_calls` with incremental arguments, `finish_reason`, `usage`), `GET /v1/models` lists the one
model. OpenCode talks to it through its bundled `@ai-sdk/openai-compatible` provider.

Stateless scripting: a `Scenario` is a list of `Step`s, and the step a request gets is the number
of assistant turns already in that request's messages. OpenCode resends the whole conversation
each turn, so the server needs no session state and parallel sessions cannot mix up.

Which scenario: the first `# Task <ID>:` header in the conversation's user messages picks
`scenarios[<ID>]`. A `macoder generate` conversation starts with `# Generate: <track>` (a
repair round with `# Generate: <track> (repair N of M)`) and picks `generate:<track>:repairN`,
else `generate:<track>`, else `generate`: each round is a new session (its step index starts
at 0 again), so a test scripts each round's answer under its own key. A `macoder rebase`
conversation starts with `# Rebase: <ID>` and picks `rebase:<ID>[:repairN]` the same way.
Anything else gets the default scenario. Requests that are not a task conversation
(OpenCode's title generation and summaries, recognisable by carrying no tools) get a short plain
answer and never consume a step.

`{worktree}` in a step's string arguments is replaced by the working directory OpenCode states in
its system prompt (`Working directory: /abs/path`), so a script can name absolute paths inside
a worktree it does not know in advance.

Every request is recorded (`ScriptedModel.requests`) so tests can assert what was asked and how big
the requests were.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import FrameType
from typing import Any, Final, Literal

import yaml

from multi_agent_coder.ids import is_task_id
from testing.loopback import LoopbackServer

PROVIDER_ID: Final = "scripted"
MODEL_ID: Final = "coder"
#: The model as OpenCode addresses it (`providerID/modelID`).
MODEL_REF: Final = f"{PROVIDER_ID}/{MODEL_ID}"
#: What an auxiliary request (title, summary) gets back.
AUX_ANSWER: Final = "Scripted task"
#: What a conversation gets once its script has run out (it must end, not loop).
FINAL_ANSWER: Final = "Done."

_TASK_HEADER: Final = re.compile(r"^# Task (\S+?):", re.MULTILINE)
_PLANNING_HEADER: Final = re.compile(r"^# Planning (SPEC|ARCHITECTURE|QA): ", re.MULTILINE)
_GENERATE_HEADER: Final = re.compile(r"# (Generate|Rebase): (\S+)(?: \(repair (\d+) of \d+\))?")
_WORKDIR: Final = re.compile(r"Working directory: (/[^\n<>]*)")
_CHUNK_CHARS: Final = 24

StepKind = Literal["tool", "text", "hang", "error"]


@dataclass(frozen=True)
class Step:
    """One assistant turn: a tool call, a text answer, a provider error or a hang.

    `delay_s` is slept before answering (a slow model); a hang never answers until the server
    stops (a stuck provider connection, which OpenCode does not time out on its own).
    """

    kind: StepKind
    tool: str = ""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""
    status: int = 200
    message: str = ""
    delay_s: float = 0.0
    #: An error step: `Retry-After` seconds to send with it (None: no header).
    retry_after: float | None = None
    #: An error step that clears up: after `times` errors for this turn, answer `then`.
    times: int | None = None
    then: Step | None = None

    def describe(self) -> str:
        """Short label for request records and logs."""
        if self.kind == "tool":
            return f"tool:{self.tool}"
        if self.kind == "error":
            return f"error:{self.status}"
        return self.kind


def write(file_path: str, content: str, *, delay_s: float = 0.0) -> Step:
    """OpenCode's `write` tool: create or overwrite a file."""
    return tool("write", {"filePath": file_path, "content": content}, delay_s=delay_s)


def edit(file_path: str, old: str, new: str, *, delay_s: float = 0.0) -> Step:
    """OpenCode's `edit` tool: replace one exact string in a file (it must have been read)."""
    args = {"filePath": file_path, "oldString": old, "newString": new}
    return tool("edit", args, delay_s=delay_s)


def read(file_path: str, *, delay_s: float = 0.0) -> Step:
    """OpenCode's `read` tool."""
    return tool("read", {"filePath": file_path}, delay_s=delay_s)


def bash(command: str, description: str = "Run a command", *, delay_s: float = 0.0) -> Step:
    """OpenCode's `bash` tool; the command runs in the session's directory."""
    return tool("bash", {"command": command, "description": description}, delay_s=delay_s)


def tool(name: str, arguments: Mapping[str, Any], *, delay_s: float = 0.0) -> Step:
    """Any tool call by name, for tools without a helper here."""
    return Step(kind="tool", tool=name, arguments=dict(arguments), delay_s=delay_s)


def text(answer: str, *, delay_s: float = 0.0) -> Step:
    """A final text answer (`finish_reason: stop`): the session goes idle after it."""
    return Step(kind="text", text=answer, delay_s=delay_s)


def hang(*, delay_s: float = 0.0) -> Step:
    """Accept the request and never answer (until the server stops)."""
    return Step(kind="hang", delay_s=delay_s)


def flaky(status: int, times: int, then: Step, *, retry_after: float | None = None) -> Step:
    """A provider that fails this turn `times` times (with `Retry-After` when given), then
    answers `then`: a rate limit or an outage that passes."""
    return Step(
        kind="error",
        status=status,
        message=f"scripted {status}, {times} time(s)",
        retry_after=retry_after,
        times=times,
        then=then,
    )


def error(status: int, message: str = "scripted provider error", *, delay_s: float = 0.0) -> Step:
    """Answer with an HTTP error and an OpenAI-style error body.

    5xx and 429 are "retryable" to OpenCode (it retries them, without end); 400 is not.
    """
    return Step(kind="error", status=status, message=message, delay_s=delay_s)


def permission(outside_path: str = "/etc/hostname", *, delay_s: float = 0.0) -> Step:
    """A tool call that needs a permission decision: reading a file outside the worktree.

    That is OpenCode's `external_directory` permission, which defaults to "ask" and so would
    block a headless session forever; macoder's configuration denies it. A test that wants to
    see the request set `external_directory` to "ask" in its OpenCode configuration.
    """
    return read(outside_path, delay_s=delay_s)


@dataclass(frozen=True)
class Scenario:
    """The script of one conversation; step *i* answers the request with *i* assistant turns."""

    steps: tuple[Step, ...]

    def __init__(self, steps: Sequence[Step]) -> None:
        object.__setattr__(self, "steps", tuple(steps))

    def step(self, index: int) -> Step:
        """The step for turn `index`; past the end, a final answer so the session ends."""
        if index < len(self.steps):
            return self.steps[index]
        return text(FINAL_ANSWER)


DEFAULT_SCENARIO: Final = Scenario([text("Nothing scripted for this task.")])


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received and what it answered (for assertions in tests)."""

    method: str
    path: str
    size: int
    body: Mapping[str, Any] | None
    kind: Literal["task", "aux", "models", "other"]
    scenario: str = ""
    step_index: int = -1
    answer: str = ""
    worktree: str | None = None
    received_at: float = 0.0
    #: The request's headers (what reached the "provider": its key among them).
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The usage the answer reported (`prompt_tokens`, `completion_tokens`), once answered.
    usage: dict[str, int] = field(default_factory=dict)


# --- reading a chat request ------------------------------------------------------------------


def message_text(message: Mapping[str, Any]) -> str:
    """The text of one chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def task_marker(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The task id of the first `# Task <ID>:` header in the user messages, if valid; for a
    planning agent's session (`# Planning SPEC: <track>`), `planning:spec`."""
    for message in messages:
        if message.get("role") != "user":
            continue
        text = message_text(message)
        for match in _TASK_HEADER.finditer(text):
            if is_task_id(match.group(1)):
                return match.group(1)
        planning = _PLANNING_HEADER.search(text)
        if planning is not None:
            return f"planning:{planning.group(1).lower()}"
    return None


def generate_markers(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The scenario keys of a `macoder generate` or `macoder rebase` conversation, most
    specific first (empty for any other): its first user message's first line names the
    track (or the task) and the round."""
    for message in messages:
        if message.get("role") != "user":
            continue
        first_line = message_text(message).split("\n", 1)[0]
        match = _GENERATE_HEADER.fullmatch(first_line)
        if match is None:
            return []
        kind, subject, repair = match.group(1).lower(), match.group(2), match.group(3)
        keys = [f"{kind}:{subject}", kind]
        return [f"{kind}:{subject}:repair{repair}", *keys] if repair else keys
    return []


def conversation_markers(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The scenario keys a conversation may be scripted under, most specific first."""
    generate = generate_markers(messages)
    if generate:
        return generate
    task = task_marker(messages)
    return [] if task is None else [task]


def working_directory(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The absolute working directory OpenCode announces in its system prompt."""
    for message in messages:
        if message.get("role") != "system":
            continue
        match = _WORKDIR.search(message_text(message))
        if match:
            return match.group(1).strip()
    return None


def assistant_turns(messages: Sequence[Mapping[str, Any]]) -> int:
    """How many assistant turns the conversation already has: the index of the next step."""
    return sum(1 for message in messages if message.get("role") == "assistant")


def substitute(value: Any, worktree: str | None) -> Any:
    """Replace `{worktree}` in every string of `value`; without one, paths become relative."""
    if isinstance(value, str):
        if worktree is None:
            return value.replace("{worktree}/", "").replace("{worktree}", ".")
        return value.replace("{worktree}", worktree)
    if isinstance(value, Mapping):
        return {key: substitute(item, worktree) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, worktree) for item in value]
    return value


# --- writing a chat response -----------------------------------------------------------------


def _pieces(value: str, size: int = _CHUNK_CHARS) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def completion_chunks(
    step: Step, *, model: str, call_id: str, prompt_tokens: int, worktree: str | None
) -> Iterator[dict[str, Any]]:
    """The `chat.completion.chunk` objects for a text or tool-call step, usage last.

    Tool arguments arrive in several pieces, as real providers send them, so the client's
    incremental JSON assembly is exercised.
    """
    base: dict[str, Any] = {
        "id": f"chatcmpl-{call_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: Mapping[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": dict(delta), "finish_reason": finish}
        return {**base, "choices": [choice]}

    yield chunk({"role": "assistant", "content": ""})
    completion = 0
    if step.kind == "tool":
        arguments = json.dumps(substitute(dict(step.arguments), worktree))
        completion = len(arguments) // 4 + 1
        head = {"index": 0, "id": f"call_{call_id}", "type": "function"}
        yield chunk({"tool_calls": [{**head, "function": {"name": step.tool, "arguments": ""}}]})
        for piece in _pieces(arguments):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        finish = "tool_calls"
    else:
        completion = len(step.text) // 4 + 1
        for piece in _pieces(step.text):
            yield chunk({"content": piece})
        finish = "stop"
    yield chunk({}, finish)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }
    yield {**base, "choices": [], "usage": usage}


def completion_object(
    step: Step, *, model: str, call_id: str, prompt_tokens: int
) -> dict[str, Any]:
    """A non-streaming `chat.completion` with a text answer (for `stream: false` callers)."""
    completion = len(step.text) // 4 + 1
    return {
        "id": f"chatcmpl-{call_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": step.text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
    }


# --- the server ------------------------------------------------------------------------------


class ScriptedModel(LoopbackServer):
    """The server: start it, point OpenCode at `base_url`, read `requests` afterwards.

    Scenarios can be added while it runs (`set_scenario`), so one server can serve a whole test
    module. Thread-safe: each request is handled on its own thread.
    """

    thread_name = "scripted-model"

    def __init__(
        self,
        scenarios: Mapping[str, Scenario] | None = None,
        *,
        default: Scenario = DEFAULT_SCENARIO,
        host: str = "127.0.0.1",
        port: int = 0,
        model_id: str = MODEL_ID,
    ) -> None:
        super().__init__(host, port)
        self._scenarios: dict[str, Scenario] = dict(scenarios or {})
        self._default = default
        self.model_id = model_id
        self._lock = threading.Lock()
        self._records: list[RecordedRequest] = []
        self._counter = 0
        self._flaky: dict[tuple[str, int], int] = {}
        self._stopping = threading.Event()

    # lifecycle

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        self._stopping.clear()
        return _make_handler(self)

    def _before_stop(self) -> None:
        """Hung and sleeping requests are released before their sockets close."""
        self._stopping.set()

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (ends in `/v1`)."""
        return f"http://{self._host}:{self.port}/v1"

    def provider_config(self, provider_id: str = PROVIDER_ID) -> dict[str, Any]:
        """The opencode.json `provider` block that points OpenCode at this server."""
        return provider_config(self.base_url, provider_id=provider_id, model_id=self.model_id)

    # scripting

    def set_scenario(self, task_id: str, scenario: Scenario) -> None:
        with self._lock:
            self._scenarios[task_id] = scenario

    def set_default(self, scenario: Scenario) -> None:
        with self._lock:
            self._default = scenario

    def scenario_for(self, marker: str | Sequence[str] | None) -> tuple[str, Scenario]:
        """The scenario of the first known key (a task id, or generate keys most specific
        first), else the default."""
        keys = [marker] if isinstance(marker, str) else list(marker or ())
        with self._lock:
            for key in keys:
                if key in self._scenarios:
                    return key, self._scenarios[key]
            return "default", self._default

    # records

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._records)

    def task_requests(self, task_id: str | None = None) -> list[RecordedRequest]:
        """Recorded task-conversation requests, optionally of one scenario."""
        return [
            r
            for r in self.requests
            if r.kind == "task" and (task_id is None or r.scenario == task_id)
        ]

    def _served(self, key: tuple[str, int]) -> int:
        """How many times a flaky turn has now been asked for (this time included)."""
        with self._lock:
            self._flaky[key] = self._flaky.get(key, 0) + 1
            return self._flaky[key]

    def clear_requests(self) -> None:
        with self._lock:
            self._records.clear()

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._records.append(record)

    def _next_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"{self._counter:06d}"

    def _wait(self, seconds: float | None) -> bool:
        """Sleep, but wake when the server stops; True if it is stopping."""
        return self._stopping.wait(seconds)


def provider_config(
    base_url: str, *, provider_id: str = PROVIDER_ID, model_id: str = MODEL_ID
) -> dict[str, Any]:
    """The opencode.json `provider` block for an OpenAI-compatible server at `base_url`.

    The API key is given inline (any value works here), so no key variable has to reach the
    agent's environment.
    """
    return {
        provider_id: {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Scripted model",
            "options": {"baseURL": base_url, "apiKey": "scripted-not-a-secret"},
            "models": {
                model_id: {
                    "name": "Scripted coder",
                    "tool_call": True,
                    "limit": {"context": 128000, "output": 8192},
                }
            },
        }
    }


def _make_handler(model: ScriptedModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ScriptedModel/1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `requests`, not a log."""

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                model._record(
                    RecordedRequest("GET", self.path, 0, None, "models", received_at=time.time())
                )
                owned = {"id": model.model_id, "object": "model", "owned_by": PROVIDER_ID}
                self._json(200, {"object": "list", "data": [owned]})
                return
            model._record(RecordedRequest("GET", self.path, 0, None, "other"))
            self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                model._record(RecordedRequest("POST", self.path, len(raw), None, "other"))
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._json(400, {"error": {"message": "request body is not JSON"}})
                return
            self._chat(body, len(raw))

        def _chat(self, body: dict[str, Any], size: int) -> None:
            messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
            call_id = model._next_id()
            prompt_tokens = size // 4
            stream = bool(body.get("stream"))
            worktree = working_directory(messages)
            if not body.get("tools"):
                step = text(AUX_ANSWER)
                record = RecordedRequest(
                    "POST",
                    self.path,
                    size,
                    body,
                    "aux",
                    answer="text",
                    received_at=time.time(),
                    headers=dict(self.headers),
                )
                model._record(record)
            else:
                name, scenario = model.scenario_for(conversation_markers(messages))
                index = assistant_turns(messages)
                step = scenario.step(index)
                record = RecordedRequest(
                    "POST",
                    self.path,
                    size,
                    body,
                    "task",
                    scenario=name,
                    step_index=index,
                    answer=step.describe(),
                    worktree=worktree,
                    received_at=time.time(),
                    headers=dict(self.headers),
                )
                model._record(record)
            if step.delay_s and model._wait(step.delay_s):
                return
            if step.kind == "hang":
                model._wait(None)
                return
            if step.times is not None and step.then is not None:
                marker = next(iter(conversation_markers(messages)), "")
                turn = (marker, assistant_turns(messages))
                step = step.then if model._served(turn) > step.times else step
            if step.kind == "error":
                error_body = {
                    "error": {
                        "message": step.message,
                        "type": "scripted_error",
                        "code": step.status,
                    }
                }
                extra = {} if step.retry_after is None else {"Retry-After": f"{step.retry_after:g}"}
                self._json(step.status, error_body, extra)
                return
            model_name = str(body.get("model") or model.model_id)
            if not stream:
                answer = completion_object(
                    step, model=model_name, call_id=call_id, prompt_tokens=prompt_tokens
                )
                record.usage.update(answer["usage"])
                self._json(200, answer)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            chunks = completion_chunks(
                step,
                model=model_name,
                call_id=call_id,
                prompt_tokens=prompt_tokens,
                worktree=worktree,
            )
            try:
                for item in chunks:
                    if "usage" in item:
                        record.usage.update(item["usage"])
                    self.wfile.write(b"data: " + json.dumps(item).encode() + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return

        def _json(
            self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


# --- scenario files --------------------------------------------------------------------------


class ScenarioFileError(ValueError):
    """A scenario file does not have the expected shape; the message says where."""


_STEP_KEYS: Final = ("write", "edit", "read", "bash", "tool", "text", "hang", "error", "permission")


def parse_step(raw: Any, where: str) -> Step:
    """One step from its YAML form, e.g. `{bash: {command: ls}, sleep: 1}`."""
    if not isinstance(raw, Mapping):
        raise ScenarioFileError(f"{where}: a step is a mapping, got {type(raw).__name__}")
    delay = float(raw.get("sleep", 0) or 0)
    kinds = [key for key in _STEP_KEYS if key in raw]
    unknown = sorted(set(raw) - {*_STEP_KEYS, "sleep"})
    if unknown or len(kinds) != 1:
        raise ScenarioFileError(
            f"{where}: a step has exactly one of {', '.join(_STEP_KEYS)} (plus optional sleep); "
            f"got {sorted(raw)}"
        )
    kind, value = kinds[0], raw[kinds[0]]
    try:
        if kind in ("write", "edit", "read", "bash"):
            return tool(kind, dict(value), delay_s=delay)
        if kind == "tool":
            return tool(str(value["name"]), dict(value.get("arguments", {})), delay_s=delay)
        if kind == "text":
            return text(str(value), delay_s=delay)
        if kind == "hang":
            return hang(delay_s=delay)
        if kind == "error":
            return error(int(value["status"]), str(value.get("message", "scripted")), delay_s=delay)
        return permission(str(value) if isinstance(value, str) else "/etc/hostname", delay_s=delay)
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioFileError(f"{where}: bad {kind} step: {exc}") from exc


def parse_scenarios(data: Any, source: str = "<scenarios>") -> dict[str, Scenario]:
    """`{name: [step, ...]}`; a step alone as `{sleep: N}` delays the next step."""
    if not isinstance(data, Mapping):
        raise ScenarioFileError(f"{source}: the top level is a mapping of scenario names")
    scenarios: dict[str, Scenario] = {}
    for name, raw_steps in data.items():
        if not isinstance(raw_steps, list):
            raise ScenarioFileError(f"{source}: {name}: a scenario is a list of steps")
        steps: list[Step] = []
        pending = 0.0
        for i, raw in enumerate(raw_steps):
            where = f"{source}: {name}[{i}]"
            if isinstance(raw, Mapping) and set(raw) == {"sleep"}:
                pending += float(raw["sleep"])
                continue
            step = parse_step(raw, where)
            if pending:
                step = Step(**{**step.__dict__, "delay_s": step.delay_s + pending})
                pending = 0.0
            steps.append(step)
        scenarios[str(name)] = Scenario(steps)
    return scenarios


def load_scenarios(path: Path) -> dict[str, Scenario]:
    """Scenarios from a YAML file (see `parse_scenarios`); key `default` is the fallback."""
    return parse_scenarios(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))


def main(argv: Sequence[str] | None = None) -> int:
    """Serve scenarios from a file until interrupted; prints one JSON line describing itself."""
    parser = argparse.ArgumentParser(prog="python -m testing.scripted_model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--scenarios", type=Path, help="YAML: {scenario: [steps]}")
    args = parser.parse_args(argv)
    try:
        scenarios = load_scenarios(args.scenarios) if args.scenarios else {}
    except (OSError, ScenarioFileError, yaml.YAMLError) as exc:
        print(f"scripted_model: {exc}", file=sys.stderr)
        return 2
    default = scenarios.pop("default", DEFAULT_SCENARIO)
    server = ScriptedModel(scenarios, default=default, host=args.host, port=args.port)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with server:
        info = {
            "base_url": server.base_url,
            "model": MODEL_REF,
            "provider": server.provider_config(),
        }
        print(json.dumps(info), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
