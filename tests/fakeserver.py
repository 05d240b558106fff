"""A fake model server for tests: it speaks the real HTTP APIs but is not a model.

``FakeModelServer`` is a test double. It listens on 127.0.0.1 and answers two
real wire formats closely enough that the official, unmodified ``openai`` and
``anthropic`` Python SDKs can talk to it:

* OpenAI Chat Completions: ``POST /v1/chat/completions`` (``/chat/completions``
  is accepted too). Point the SDK at ``server.openai_base_url``
  (``http://127.0.0.1:PORT/v1``).
* Anthropic Messages: ``POST /v1/messages``. Point the SDK at
  ``server.anthropic_base_url`` (``http://127.0.0.1:PORT``).
* OpenAI Responses: ``POST /v1/responses`` (what Codex CLI calls).
* Gemini: ``POST /v1beta/models/MODEL:generateContent`` and
  ``:streamGenerateContent?alt=sse`` (what Gemini CLI calls); point it at
  ``server.url``.

``"stream": true`` (Chat Completions, Messages, Responses) and
``streamGenerateContent`` are answered as Server-Sent Events in each API's
event shapes (the whole stream is sent at once, with a ``Content-Length``); the
text is split over several delta events. A request that asks for JSON output
with a schema (Gemini ``generationConfig.responseJsonSchema``/``responseSchema``,
Responses ``text.format`` of type ``json_schema``, Chat Completions
``response_format``) is answered, by default, with the smallest instance of the
schema (:func:`schema_instance`) instead of asking the responder: agent CLIs send
such side requests (e.g. Gemini CLI's model router) that name no module.
Requests to unknown routes are logged too (``api`` ``None``), so a test can
assert that a client sent nothing unexpected.

Nothing here generates text. Every answer comes from a *responder*, a callable
given the logged request that returns the assistant text (``str``) or a
``Reply``. A ``Reply`` can also override the token counts or inject faults: an
HTTP error status (shaped like each API's real error JSON), a ``Retry-After``
header, a hang (to exceed client timeouts), or a body that is not valid JSON.

Ready-made responders:

* ``ScriptedResponder([...])`` returns the given replies in order, then 500s
  with a clear message once it runs out.
* ``AnswersResponder(directory)`` finds ``Target module: generated.x.y`` in the
  request and answers with the contents of ``DIRECTORY/x/y.py`` in a fenced
  ``python`` block.

Token counts are rough stand-ins (about 4 characters per token), not real
tokenizer output.

OpenAI Chat Completions streaming (``"stream": true``): the
answer is sent as server-sent events (``chat.completion.chunk`` objects, a final
chunk with ``usage`` when ``stream_options.include_usage`` is set, then
``data: [DONE]``), ``stream_chunk_chars`` characters per chunk, with
``Reply.chunk_delay`` seconds between chunks (a slow model that is making
progress) and ``Reply.stall_after`` chunks before the server stops sending (a
model that hangs mid-answer).

Only the standard library is used. The module has no relative imports, so it
can be imported as ``tests.fakeserver``, as ``fakeserver`` (with ``tests/`` on
``sys.path``), or run directly::

    python tests/fakeserver.py --answers DIR [--latency S] [--port N]

which prints exactly one line, ``FAKE_MODEL_SERVER_URL=http://127.0.0.1:PORT``,
to stdout once it is listening and then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

__all__ = [
    "FakeModelServer",
    "Reply",
    "ScriptedResponder",
    "AnswersResponder",
    "request_text",
    "find_target_module",
    "request_schema",
    "schema_instance",
]


# ---------------------------------------------------------------------------
# Replies and responders
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Reply:
    """What the fake server should send back for one request.

    ``text`` is the assistant text on success, or the error message when
    ``status`` is not 2xx. ``prompt_tokens``/``completion_tokens`` override
    the estimated usage numbers. Faults:

    * ``status``: HTTP status (e.g. 400, 401, 404, 429, 500, 529). Non-2xx
      statuses send the API's real error JSON shape.
    * ``retry_after``: seconds; sent as the ``Retry-After`` header.
    * ``hang``: seconds to sleep before answering (added to the server's
      latency), to exceed a client's timeout.
    * ``malformed``: send a 200 ``application/json`` body that is not valid
      JSON.
    * ``error_type``: override the error ``type`` in the error body.
    * ``model`` / ``system_fingerprint``: what the success body says was served.
    * ``body``: a JSON value sent (``json.dumps``) as the 200 body instead of the
      API's success body, e.g. one whose content is an int or whose usage is garbage.
    * ``chunk_delay``: seconds between streamed chunks (``"stream": true`` only).
    * ``stall_after``: stop sending after this many streamed chunks and hang
      (until the client gives up or the server stops).
    """

    text: str = ""
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    status: int = 200
    retry_after: Optional[float] = None
    hang: float = 0.0
    malformed: bool = False
    error_type: Optional[str] = None
    body: Any = None
    chunk_delay: float = 0.0
    stall_after: Optional[int] = None
    model: Optional[str] = None  # the model the success body names (default: the requested one)
    system_fingerprint: Optional[str] = None  # Chat Completions ``system_fingerprint``
    truncated: bool = False  # the answer stopped at max_tokens: finish_reason "length" / stop_reason "max_tokens"

    @property
    def is_error(self) -> bool:
        return not (200 <= self.status < 300)


ReplyLike = Union[str, Reply]
Responder = Callable[[Dict[str, Any]], ReplyLike]


def _default_responder(request: Dict[str, Any]) -> ReplyLike:
    return "OK"


class ScriptedResponder:
    """Return the scripted replies (``str`` or ``Reply``) in order.

    Once exhausted, every further request gets a 500 whose message says the
    script ran out. Thread-safe.
    """

    def __init__(self, replies: Sequence[ReplyLike]):
        self._replies: List[ReplyLike] = list(replies)
        self._index = 0
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        """How many requests have asked for a reply (including exhausted ones)."""
        with self._lock:
            return self._index

    @property
    def remaining(self) -> int:
        with self._lock:
            return max(0, len(self._replies) - self._index)

    def __call__(self, request: Dict[str, Any]) -> ReplyLike:
        with self._lock:
            i = self._index
            self._index += 1
        if i < len(self._replies):
            return self._replies[i]
        return Reply(
            status=500,
            text=(
                f"ScriptedResponder exhausted: {len(self._replies)} replies were "
                f"scripted but this is request #{i + 1}"
            ),
        )


_TARGET_RE = re.compile(r"Target module: (generated(?:\.\w+)+)")


def _content_text(content: Any) -> str:
    """Text of a message ``content`` / Anthropic ``system`` value.

    Handles plain strings and lists of content blocks/parts (``{"type": "text",
    "text": ...}``); non-text blocks contribute nothing.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    parts.append(block["text"])
                elif "content" in block:  # e.g. Anthropic tool_result blocks
                    parts.append(_content_text(block["content"]))
        return "\n".join(parts)
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return content["text"]
    return ""


def request_text(request: Dict[str, Any]) -> str:
    """All prompt text of a logged request: Anthropic ``system`` then messages."""
    body = request.get("body")
    if not isinstance(body, dict):
        return ""
    parts = []
    if "system" in body:
        parts.append(_content_text(body.get("system")))
    if isinstance(body.get("instructions"), str):  # Responses API
        parts.append(body["instructions"])
    if isinstance(body.get("systemInstruction"), dict):  # Gemini
        parts.append(_content_text(body["systemInstruction"].get("parts")))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            parts.append(_content_text(message.get("content")))
    items = body.get("input")  # Responses API: a string or a list of items
    if isinstance(items, str):
        parts.append(items)
    elif isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get("type", "message") == "message":
                parts.append(_content_text(item.get("content")))
    for content in body.get("contents") or []:  # Gemini
        if isinstance(content, dict):
            parts.append(_content_text(content.get("parts")))
    return "\n".join(p for p in parts if p)


def request_schema(request: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The JSON schema a request asks the answer to follow, or None.

    Gemini ``generationConfig.responseJsonSchema`` / ``responseSchema``; Responses
    ``text.format`` ``{"type": "json_schema", "schema": ...}``; Chat Completions
    ``response_format`` ``{"type": "json_schema", "json_schema": {"schema": ...}}``.
    """
    body = request.get("body")
    if not isinstance(body, dict):
        return None
    config = body.get("generationConfig")
    if isinstance(config, dict):
        for key in ("responseJsonSchema", "responseSchema"):
            if isinstance(config.get(key), dict):
                return config[key]
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema" and isinstance(rf.get("json_schema"), dict):
        inner = rf["json_schema"].get("schema")
        return inner if isinstance(inner, dict) else None
    return None


def schema_instance(schema: Any) -> Any:
    """The smallest value valid under a JSON schema (the subset agent CLIs use).

    ``enum``/``const``: the first value; ``anyOf``/``oneOf``: the first branch;
    ``object``: only the ``required`` properties; ``array``: ``minItems`` items;
    ``string``: ``minLength`` x's; numbers: ``minimum`` or 0; ``boolean``: false.
    Gemini's upper-case type names (``OBJECT``, ``STRING``) are accepted.
    """
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema_instance(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    kind = str(kind or ("object" if "properties" in schema else "null")).lower()
    if kind == "object":
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        return {name: schema_instance(props.get(name, {})) for name in schema.get("required") or []}
    if kind == "array":
        return [schema_instance(schema.get("items", {})) for _ in range(int(schema.get("minItems") or 0))]
    if kind == "string":
        return "x" * int(schema.get("minLength") or 0)
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        return int(low) if kind == "integer" else low
    if kind == "boolean":
        return False
    return None


def find_target_module(request: Dict[str, Any]) -> Optional[str]:
    """First ``Target module: generated.x.y`` named in the request, or None.

    Searches the Anthropic top-level ``system`` field first, then every
    message in order.
    """
    match = _TARGET_RE.search(request_text(request))
    return match.group(1) if match else None


class AnswersResponder:
    """Answer with a prepared module file chosen by the request's target module.

    ``generated.billing.money`` maps to ``DIRECTORY/billing/money.py`` (and,
    if that does not exist, ``DIRECTORY/billing/money/__init__.py``). The file
    is read on every request and returned inside a ```python fenced block
    after one line of prose. A missing file gives a 404 naming the expected
    path; a request naming no target module gives a 400.
    """

    PROSE = "Here is the module."

    def __init__(self, directory: Union[str, "os.PathLike[str]"]):
        self.directory = os.path.abspath(os.fspath(directory))

    def path_for(self, module: str) -> str:
        parts = module.split(".")
        if parts and parts[0] == "generated":
            parts = parts[1:]
        return os.path.join(self.directory, *parts) + ".py"

    def __call__(self, request: Dict[str, Any]) -> ReplyLike:
        module = find_target_module(request)
        if module is None:
            return Reply(
                status=400,
                text=(
                    "AnswersResponder: no 'Target module: generated.<name>' line "
                    "found in the request's system prompt or messages"
                ),
            )
        path = self.path_for(module)
        candidates = [path, os.path.join(path[: -len(".py")], "__init__.py")]
        for candidate in candidates:
            if os.path.isfile(candidate):
                with open(candidate, "r", encoding="utf-8") as fh:
                    code = fh.read()
                break
        else:
            return Reply(
                status=404,
                text=(
                    f"AnswersResponder: no answer file for target module {module}: "
                    f"expected {path}"
                ),
            )
        if not code.endswith("\n"):
            code += "\n"
        return f"{self.PROSE}\n\n```python\n{code}```\n"


# ---------------------------------------------------------------------------
# Wire formats
# ---------------------------------------------------------------------------

_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("server_error", "timeout"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}

_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _openai_error_body(status: int, message: str, error_type: Optional[str]) -> Dict[str, Any]:
    default_type, code = _OPENAI_ERRORS.get(
        status, ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    )
    return {
        "error": {
            "message": message,
            "type": error_type or default_type,
            "param": None,
            "code": code,
        }
    }


def _anthropic_error_body(status: int, message: str, error_type: Optional[str]) -> Dict[str, Any]:
    default_type = _ANTHROPIC_ERRORS.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    return {"type": "error", "error": {"type": error_type or default_type, "message": message}}


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _openai_success_body(request: Dict[str, Any], reply: Reply) -> Dict[str, Any]:
    body = request["body"]
    prompt = reply.prompt_tokens if reply.prompt_tokens is not None else _estimate_tokens(request_text(request))
    completion = (
        reply.completion_tokens if reply.completion_tokens is not None else _estimate_tokens(reply.text)
    )
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model or body.get("model") or "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text, "refusal": None},
                "finish_reason": "length" if reply.truncated else "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
        "system_fingerprint": reply.system_fingerprint,
    }


def _anthropic_success_body(request: Dict[str, Any], reply: Reply) -> Dict[str, Any]:
    body = request["body"]
    prompt = reply.prompt_tokens if reply.prompt_tokens is not None else _estimate_tokens(request_text(request))
    completion = (
        reply.completion_tokens if reply.completion_tokens is not None else _estimate_tokens(reply.text)
    )
    return {
        "id": "msg_" + uuid.uuid4().hex[:24],
        "type": "message",
        "role": "assistant",
        "model": reply.model or body.get("model") or "fake-model",
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": "max_tokens" if reply.truncated else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt,
            "output_tokens": completion,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _usage_numbers(request: Dict[str, Any], reply: Reply) -> "tuple[int, int]":
    prompt = reply.prompt_tokens if reply.prompt_tokens is not None else _estimate_tokens(request_text(request))
    completion = (
        reply.completion_tokens if reply.completion_tokens is not None else _estimate_tokens(reply.text)
    )
    return prompt, completion


def _responses_success_body(request: Dict[str, Any], reply: Reply) -> Dict[str, Any]:
    """An OpenAI Responses API ``response`` object (status ``completed``)."""
    prompt, completion = _usage_numbers(request, reply)
    return {
        "id": "resp_" + uuid.uuid4().hex[:24],
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": request["body"].get("model") or "fake-model",
        "output": [{
            "type": "message", "id": "msg_" + uuid.uuid4().hex[:24], "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
        }],
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        },
    }


def _gemini_success_body(request: Dict[str, Any], reply: Reply, text: Optional[str] = None,
                         final: bool = True) -> Dict[str, Any]:
    """A Gemini ``GenerateContentResponse`` (one chunk of a stream when ``final`` is false)."""
    prompt, completion = _usage_numbers(request, reply)
    candidate: Dict[str, Any] = {"content": {"role": "model", "parts": [{"text": reply.text if text is None else text}]},
                                 "index": 0}
    if final:
        candidate["finishReason"] = "STOP"
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": completion,
                          "totalTokenCount": prompt + completion},
        "modelVersion": request.get("model") or "fake-model",
        "responseId": uuid.uuid4().hex[:24],
    }


def _gemini_error_body(status: int, message: str, error_type: Optional[str]) -> Dict[str, Any]:
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
             429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
    return {"error": {"code": status, "message": message,
                      "status": error_type or names.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")}}


def _chunks(text: str, size: int = 200) -> List[str]:
    """``text`` in pieces of ``size`` characters (at least one piece), for delta events."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _sse(events: List["tuple[Optional[str], Any]"]) -> bytes:
    """Server-Sent Events: ``event: NAME`` (when named) and ``data: JSON`` per event."""
    out = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        payload = data if isinstance(data, str) else json.dumps(data)
        out.append(f"{head}data: {payload}\n\n")
    return "".join(out).encode("utf-8")


def _anthropic_stream(request: Dict[str, Any], reply: Reply) -> bytes:
    """Messages streaming events: message_start, content_block_start/delta/stop, message_delta, message_stop."""
    body = _anthropic_success_body(request, reply)
    usage = body["usage"]
    start = dict(body, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
    events: List[Any] = [("message_start", {"type": "message_start", "message": start}),
                         ("content_block_start", {"type": "content_block_start", "index": 0,
                                                  "content_block": {"type": "text", "text": ""}}),
                         ("ping", {"type": "ping"})]
    for piece in _chunks(reply.text):
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": piece}}))
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": body["stop_reason"], "stop_sequence": None},
                                  "usage": {"output_tokens": usage["output_tokens"]}}),
               ("message_stop", {"type": "message_stop"})]
    return _sse(events)


def _responses_stream(request: Dict[str, Any], reply: Reply) -> bytes:
    """Responses API events: response.created, output_item.added, output_text.delta/done,
    output_item.done, response.completed (with usage); each with a ``sequence_number``."""
    final = _responses_success_body(request, reply)
    item = final["output"][0]
    pending = dict(final, status="in_progress", output=[], usage=None)
    events: List[Any] = [
        ("response.created", {"type": "response.created", "response": pending}),
        ("response.in_progress", {"type": "response.in_progress", "response": pending}),
        ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0,
                                        "item": dict(item, status="in_progress", content=[])}),
        ("response.content_part.added", {"type": "response.content_part.added", "item_id": item["id"],
                                         "output_index": 0, "content_index": 0,
                                         "part": {"type": "output_text", "text": "", "annotations": []}}),
    ]
    for piece in _chunks(reply.text):
        events.append(("response.output_text.delta", {"type": "response.output_text.delta", "item_id": item["id"],
                                                      "output_index": 0, "content_index": 0, "delta": piece}))
    events += [
        ("response.output_text.done", {"type": "response.output_text.done", "item_id": item["id"],
                                       "output_index": 0, "content_index": 0, "text": reply.text}),
        ("response.content_part.done", {"type": "response.content_part.done", "item_id": item["id"],
                                        "output_index": 0, "content_index": 0, "part": item["content"][0]}),
        ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
        ("response.completed", {"type": "response.completed", "response": final}),
    ]
    for n, (_, data) in enumerate(events):
        data["sequence_number"] = n
    return _sse(events)


def _gemini_stream(request: Dict[str, Any], reply: Reply) -> bytes:
    """``streamGenerateContent?alt=sse``: one ``data:`` GenerateContentResponse per piece, the last with
    ``finishReason``."""
    pieces = _chunks(reply.text)
    return _sse([(None, _gemini_success_body(request, reply, piece, final=i == len(pieces) - 1))
                 for i, piece in enumerate(pieces)])


_ROUTES = {
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/v1/messages": "anthropic",
    "/v1/responses": "responses",
    "/responses": "responses",
}
_GEMINI_ROUTE = re.compile(r"^/(?:v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")


# ---------------------------------------------------------------------------
# HTTP server
# ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    fake: "FakeModelServer"

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, OSError)):
            return  # client went away (e.g. it timed out); expected in tests
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: headers and body are two writes; Nagle + delayed ACK added ~40 ms per reply
    server_version = "FakeModelServer/1.0"
    server: _Server

    # -- plumbing -----------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.fake.verbose:
            sys.stderr.write("fakeserver: " + (format % args) + "\n")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # consume trailers up to the blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, payload: bytes, api: Optional[str], extra: Optional[Dict[str, str]] = None,
              content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            if api == "anthropic":
                self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
            else:
                self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:24])
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.close_connection = True

    def _send_error(self, api: Optional[str], status: int, message: str,
                    error_type: Optional[str] = None, extra: Optional[Dict[str, str]] = None) -> None:
        if api == "anthropic":
            body = _anthropic_error_body(status, message, error_type)
        elif api == "gemini":
            body = _gemini_error_body(status, message, error_type)
        else:
            body = _openai_error_body(status, message, error_type)
        self._send(status, json.dumps(body).encode("utf-8"), api, extra)

    # -- methods ------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        self.server.fake._log({"api": None, "path": self.path, "method": "GET",
                               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": None})
        api = "anthropic" if "anthropic-version" in self.headers else None
        self._send_error(api, 404, f"Unknown route: GET {self.path} (fake model server)")

    def do_POST(self) -> None:  # noqa: N802
        fake = self.server.fake
        raw = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        api = _ROUTES.get(path)
        gemini = _GEMINI_ROUTE.match(path)
        if gemini:
            api = "gemini"
        try:
            body: Any = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        request = {
            "api": api,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        }
        if gemini:
            request["model"] = gemini.group("model")
        request["stream"] = bool(gemini.group("method") == "streamGenerateContent" if gemini
                                 else isinstance(body, dict) and body.get("stream"))
        fake._log(request)
        if api is None:
            guess = "anthropic" if "anthropic-version" in self.headers else None
            self._send_error(guess, 404, f"Unknown route: POST {self.path} (fake model server)")
            return

        if not isinstance(body, dict):
            self._send_error(api, 400, "Request body must be a JSON object (fake model server)")
            return

        schema = request_schema(request)
        try:
            if schema is not None and fake.schema_answers:
                result: ReplyLike = json.dumps(schema_instance(schema))
            else:
                result = fake.responder(request)
        except Exception as exc:  # a bug in the responder: make it loud
            self._send_error(api, 500, f"Fake model server responder raised {type(exc).__name__}: {exc}")
            return
        reply = result if isinstance(result, Reply) else Reply(text=str(result))

        delay = max(0.0, float(fake.latency or 0.0)) + max(0.0, float(reply.hang or 0.0))
        if delay and fake._stopping.wait(delay):
            self.close_connection = True  # server stopping: drop the request
            return

        extra: Dict[str, str] = {}
        if reply.retry_after is not None:
            ra = float(reply.retry_after)
            extra["Retry-After"] = str(int(ra)) if ra.is_integer() else repr(ra)

        if reply.is_error:
            self._send_error(api, reply.status, reply.text or f"Injected HTTP {reply.status}",
                             reply.error_type, extra)
            return
        if reply.malformed and api == "openai" and body.get("stream"):
            self._send(reply.status, b'data: {"id": "chatcmpl-broken", "choices": [\n\n', api, extra)
            return
        if reply.malformed:
            prefix = '{"id": "chatcmpl-broken", "choices": [' if api == "openai" else '{"id": "msg_broken", "content": ['
            self._send(reply.status, (prefix + '{"index": 0, "message": ').encode("utf-8"), api, extra)
            return

        if reply.body is not None:
            self._send(reply.status, json.dumps(reply.body).encode("utf-8"), api, extra)
            return
        if api == "openai" and request["stream"]:
            self._stream_openai(request, reply)  # chunk by chunk, with Reply.chunk_delay / stall_after
            return
        if request["stream"]:
            stream = { "anthropic": _anthropic_stream, "responses": _responses_stream,
                      "gemini": _gemini_stream}[api]
            self._send(reply.status, stream(request, reply), api, extra, content_type="text/event-stream")
            return
        build = {"openai": _openai_success_body, "anthropic": _anthropic_success_body,
                 "responses": _responses_success_body, "gemini": _gemini_success_body}[api]
        self._send(reply.status, json.dumps(build(request, reply)).encode("utf-8"), api, extra)


    def _stream_openai(self, request: Dict[str, Any], reply: Reply) -> None:
        """Send ``reply`` as Chat Completions server-sent events, chunk by chunk."""
        fake = self.server.fake
        full = _openai_success_body(request, reply)
        size = max(1, int(fake.stream_chunk_chars))
        pieces = [reply.text[i:i + size] for i in range(0, len(reply.text), size)] or [""]
        base = {"id": full["id"], "object": "chat.completion.chunk", "created": full["created"],
                "model": full["model"], "system_fingerprint": full.get("system_fingerprint")}
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": p} if i == 0
                                        else {"content": p}, "finish_reason": None, "logprobs": None}]}
                  for i, p in enumerate(pieces)]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": full["choices"][0]["finish_reason"],
                                            "logprobs": None}]})
        if (request["body"].get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": full["usage"]})
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:24])
            self.end_headers()
            self.close_connection = True
            for i, event in enumerate(events):
                if reply.stall_after is not None and i >= reply.stall_after:
                    fake._stopping.wait(3600)
                    return
                if i and reply.chunk_delay and fake._stopping.wait(reply.chunk_delay):
                    return
                self.wfile.write(b"data: " + json.dumps(event).encode("utf-8") + b"\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.close_connection = True


class FakeModelServer:
    """An HTTP server on 127.0.0.1 speaking OpenAI Chat Completions and Responses, Anthropic
    Messages and Gemini generateContent (see the module docstring).

    Each request is logged, given to ``responder`` and answered after
    ``latency`` seconds (sleeping in the request's own thread, so concurrent
    requests overlap).
    """

    def __init__(self, responder: Optional[Responder] = None, latency: float = 0.0,
                 *, port: int = 0, verbose: bool = False, schema_answers: bool = True):
        self.responder: Responder = responder or _default_responder
        self.schema_answers = schema_answers  # answer JSON-schema requests with schema_instance()
        self.latency = latency
        self.verbose = verbose
        self.stream_chunk_chars = 16  # characters of the answer per streamed chunk
        self._port_wanted = port
        self._lock = threading.Lock()
        self._requests: List[Dict[str, Any]] = []
        self._connections: set = set()
        self._stopping = threading.Event()
        self._httpd: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> "FakeModelServer":
        if self._httpd is not None:
            raise RuntimeError("FakeModelServer already started")
        self._stopping.clear()
        httpd = _Server(("127.0.0.1", self._port_wanted), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"FakeModelServer:{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping on latency/hang
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeModelServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeModelServer is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # -- request log --------------------------------------------------------

    def _log(self, request: Dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(request)

    def _track(self, conn: Any, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    @property
    def requests(self) -> List[Dict[str, Any]]:
        """A snapshot (copy) of the request log, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def last_request(self) -> Optional[Dict[str, Any]]:
        with self._lock:
            return self._requests[-1] if self._requests else None

    def reset(self) -> None:
        """Clear the request log."""
        with self._lock:
            self._requests.clear()


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fake OpenAI/Anthropic model server answering from a directory of module files.")
    parser.add_argument("--answers", required=True, help="directory of answer files (generated.a.b -> DIR/a/b.py)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to sleep per request")
    parser.add_argument("--port", type=int, default=0, help="port to bind on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    if not os.path.isdir(args.answers):
        parser.error(f"--answers directory does not exist: {args.answers}")

    done = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    server = FakeModelServer(AnswersResponder(args.answers), latency=args.latency,
                             port=args.port, verbose=args.verbose)
    server.start()
    try:
        sys.stdout.write(f"FAKE_MODEL_SERVER_URL={server.url}\n")
        sys.stdout.flush()
        while not done.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
