"""``openai`` backend: any OpenAI-compatible Chat Completions endpoint.

Uses the official ``openai`` SDK, so OpenAI, Ollama, vLLM, llama.cpp server and LM
Studio all work through ``base_url``. Settings (``openai:`` in config):
``base_url`` (the ``OPENAI_BASE_URL`` environment variable wins over it),
``timeout`` (seconds, default 120: with streaming, the longest wait for the next
chunk of the answer, so a slow local model that keeps sending is never cut off;
without, the deadline of each read), ``stream`` (default true: the answer comes as
server-sent events and the tokens received are reported as they arrive),
``max_retries`` (default 4: connection errors, 408/409/429 and 5xx are retried with
exponential backoff, 0.5 s doubling up to 8 s, or the server's ``Retry-After``;
a **timeout is retried at most once**, since re-sending a long request to a slow
server only repeats the wait; 400/401/403/404 fail at once; a malformed JSON body
is a :class:`BackendError`, not retried). The key is read by the SDK from
``OPENAI_API_KEY`` and never stored or logged by pdd; a local server given by
``base_url`` needs none.

Every HTTP request made, failed ones included, is logged as
``{"outcome": "ok"|"timeout"|"http-<status>"|"connection"|"malformed", "seconds",
"tokens_in", "tokens_out"}``: on success in ``Completion.extra["http_requests"]``,
on failure in the raised :class:`BackendError`'s ``requests`` attribute, so the
run record counts every request.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Callable

from pdd.backends import Completion, Request
from pdd.backends._common import checked_answer, sdk_client_settings, sdk_error_message, status_hint
from pdd.errors import BackendError
from pdd.redact import redact

if TYPE_CHECKING:
    from pathlib import Path

    from pdd.config import Config


MAX_TIMEOUT_RETRIES = 1
BACKOFF_START, BACKOFF_MAX, RETRY_AFTER_MAX = 0.5, 8.0, 60.0
_RETRY_STATUSES = (408, 409, 429)


class OpenAIBackend:
    """Chat Completions through ``openai.OpenAI``. Raises :class:`BackendError`."""

    name = "openai"
    streams = True  # complete() accepts progress=

    def __init__(self, settings: dict[str, Any]) -> None:
        import openai

        self._openai = openai
        client_settings = sdk_client_settings("openai", "OPENAI", settings, default_timeout=120, default_retries=4)
        self.max_retries = client_settings.pop("max_retries")
        self.stream = bool(settings.get("stream", True))
        self.timeout = client_settings["timeout"]
        self._client = openai.OpenAI(max_retries=0, **client_settings)  # pdd retries (see the module docstring)

    def complete(self, request: Request, progress: Callable[[int], None] | None = None) -> Completion:
        """Send ``request``; return the first choice's text and the usage counts.
        ``progress(tokens_received)`` is called as streamed chunks arrive."""
        log: list[dict[str, Any]] = []
        timeouts = 0
        attempt = 0
        while True:
            t0 = time.monotonic()
            entry: dict[str, Any] = {"outcome": "ok", "seconds": 0.0, "tokens_in": None, "tokens_out": None}
            log.append(entry)
            try:
                completion = self._once(request, progress, entry)
                entry["seconds"] = round(time.monotonic() - t0, 3)
                completion.extra["http_requests"] = log
                return completion
            except _Retryable as exc:
                entry["seconds"] = round(time.monotonic() - t0, 3)
                entry["outcome"] = exc.outcome
                timeouts += exc.outcome == "timeout"
                if attempt >= self.max_retries or (exc.outcome == "timeout" and timeouts > MAX_TIMEOUT_RETRIES):
                    raise _with_log(exc.final, log) from None
                attempt += 1
                time.sleep(exc.retry_after if exc.retry_after is not None
                           else min(BACKOFF_MAX, BACKOFF_START * 2 ** (attempt - 1)))
            except BackendError as exc:
                entry["seconds"] = round(time.monotonic() - t0, 3)
                if entry["outcome"] == "ok":
                    entry["outcome"] = "failed"
                raise _with_log(exc, log) from None

    def _once(self, request: Request, progress: Callable[[int], None] | None, entry: dict[str, Any]) -> Completion:
        openai = self._openai
        what = request.module or "request"
        extra: dict[str, Any] = {}
        if request.seed is not None:
            extra["seed"] = request.seed
        try:
            if self.stream:
                return self._streamed(request, progress, entry, extra)
            response = self._client.chat.completions.create(
                model=request.model,
                messages=list(request.messages),  # type: ignore[arg-type]
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                **extra,
            )
        except openai.APIStatusError as exc:
            err = BackendError(f"openai backend: {what}: HTTP {exc.status_code}: {_error_message(exc)}",
                               hint=status_hint(exc.status_code, "OPENAI_API_KEY", "openai"))
            if exc.status_code in _RETRY_STATUSES or exc.status_code >= 500:
                raise _Retryable(f"http-{exc.status_code}", err, _retry_after(exc)) from None
            entry["outcome"] = f"http-{exc.status_code}"
            raise err from None
        except openai.APITimeoutError:
            raise _Retryable("timeout", BackendError(
                f"openai backend: {what}: the request timed out (no data for {self.timeout:g} s"
                + (" between chunks" if self.stream else "") + ")",
                hint="a slow local model: raise openai.timeout in .pdd/config.yaml; else check the server")) from None
        except openai.APIConnectionError as exc:
            raise _Retryable("connection", BackendError(
                f"openai backend: cannot reach the server: {redact(str(exc))}",
                hint="check openai.base_url / OPENAI_BASE_URL and that the server is running")) from None
        except openai.OpenAIError as exc:
            raise BackendError(f"openai backend: {redact(str(exc))}") from None
        except json.JSONDecodeError as exc:  # the SDK lets a malformed body escape
            entry["outcome"] = "malformed"
            raise BackendError(f"openai backend: {what}: the server's answer is not valid JSON ({exc})",
                               hint="check openai.base_url: is it an OpenAI-compatible /v1 endpoint?") from None
        except ValueError as exc:
            raise BackendError(f"openai backend: {what}: {redact(str(exc))}") from None
        try:
            if not response.choices or response.choices[0].message.content is None:
                raise BackendError(f"openai backend: {what}: the answer has no text")
        except (AttributeError, TypeError, IndexError):
            raise BackendError(f"openai backend: {what}: the server's answer is not a "
                               "Chat Completions response", hint="check openai.base_url") from None
        usage = response.usage
        entry["tokens_in"] = getattr(usage, "prompt_tokens", None)
        entry["tokens_out"] = getattr(usage, "completion_tokens", None)
        text = checked_answer(f"openai backend: {what}", response.choices[0].message.content,
                              (entry["tokens_in"], entry["tokens_out"]))
        extra_out = _fingerprint_extra(response)
        if getattr(response.choices[0], "finish_reason", None) == "length":
            extra_out["truncated"] = True
        return Completion(text=text, tokens_in=entry["tokens_in"], tokens_out=entry["tokens_out"],
                          model=_served_model(response, request), extra=extra_out)

    def _streamed(self, request: Request, progress: Callable[[int], None] | None, entry: dict[str, Any],
                  extra: dict[str, Any]) -> Completion:
        """One streamed request: the SDK's read timeout applies between chunks."""
        what = request.module or "request"
        stream = self._client.chat.completions.create(
            model=request.model,
            messages=list(request.messages),  # type: ignore[arg-type]
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            stream=True,
            stream_options={"include_usage": True},
            **extra,
        )
        parts: list[str] = []
        chunks = 0
        model = None
        usage = None
        served_config = None
        finish = None
        try:
            for chunk in stream:
                model = getattr(chunk, "model", None) or model
                served_config = served_config or _fingerprint_extra(chunk)
                usage = getattr(chunk, "usage", None) or usage
                choices = getattr(chunk, "choices", None) or []
                piece = getattr(getattr(choices[0], "delta", None), "content", None) if choices else None
                finish = (getattr(choices[0], "finish_reason", None) if choices else None) or finish
                if piece is not None and not isinstance(piece, str):
                    checked_answer(f"openai backend: {what}", piece)  # raises: the content is not text
                if piece:
                    parts.append(piece)
                    chunks += 1
                    entry["tokens_out"] = chunks
                    if progress is not None:
                        progress(chunks)
        except (AttributeError, TypeError, IndexError):
            raise BackendError(f"openai backend: {what}: the server's stream is not Chat Completions chunks",
                               hint="check openai.base_url, or set openai.stream: false") from None
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        if not parts and usage is None:
            headers = getattr(getattr(stream, "response", None), "headers", None) or {}
            if "text/event-stream" not in str(headers.get("content-type", "")):
                raise BackendError(f"openai backend: {what}: the server answered a streamed request with a whole "
                                   "(non-stream) body", hint="set `openai.stream: false` in .pdd/config.yaml")
            raise BackendError(f"openai backend: {what}: the answer has no text")
        entry["tokens_in"] = getattr(usage, "prompt_tokens", None)
        entry["tokens_out"] = getattr(usage, "completion_tokens", None)
        text = checked_answer(f"openai backend: {what}", "".join(parts), (entry["tokens_in"], entry["tokens_out"]))
        if entry["tokens_out"] is None:
            entry["tokens_out"] = chunks  # no usage chunk: about one token a chunk
        extra_out = dict(served_config or {})
        if finish == "length":
            extra_out["truncated"] = True
        return Completion(text=text, tokens_in=entry["tokens_in"], tokens_out=entry["tokens_out"],
                          model=model if isinstance(model, str) and model else request.model,
                          extra=extra_out)


def _fingerprint_extra(response: Any) -> dict[str, Any]:
    """``{"system_fingerprint": ...}`` when the response (or a streamed chunk) gives the
    served configuration's fingerprint, else ``{}``."""
    fingerprint = getattr(response, "system_fingerprint", None)
    return {"system_fingerprint": fingerprint} if isinstance(fingerprint, str) and fingerprint else {}


def _served_model(response: Any, request: Request) -> str:
    """The model the server says it used (``model`` of the response), else the one requested."""
    model = getattr(response, "model", None)
    return model if isinstance(model, str) and model else request.model


class _Retryable(Exception):
    """A failure worth another try; ``final`` is raised when the tries are used up."""

    def __init__(self, outcome: str, final: BackendError, retry_after: float | None = None) -> None:
        super().__init__(outcome)
        self.outcome, self.final, self.retry_after = outcome, final, retry_after


def _with_log(exc: BackendError, log: list[dict[str, Any]]) -> BackendError:
    exc.requests = log  # type: ignore[attr-defined]
    return exc


def _retry_after(exc: Any) -> float | None:
    """Seconds from the response's ``retry-after-ms`` or ``retry-after`` header (capped)."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if 0 <= seconds <= RETRY_AFTER_MAX:
            return seconds
    return None


def _error_message(exc: Any) -> str:
    return sdk_error_message(exc)  # the service's message, redacted and truncated


def create(config: "Config", root: Path) -> OpenAIBackend:
    """The registry's factory (:data:`pdd.backends.REGISTRY`): settings from the ``openai`` section."""
    return OpenAIBackend(config.section("openai"))
