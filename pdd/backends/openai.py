"""``openai`` backend: any OpenAI-compatible Chat Completions endpoint.

Uses the official ``openai`` SDK, so OpenAI, Ollama, vLLM, llama.cpp server and LM
Studio all work through ``base_url``. Settings (``openai:`` in config):
``base_url`` (the ``OPENAI_BASE_URL`` environment variable wins over it),
``timeout`` (seconds per request, default 120), ``max_retries`` (default 4; the SDK
retries connection errors, timeouts, 429 and 5xx with exponential backoff and
honours ``Retry-After``; 400/401/403/404 fail at once; a malformed JSON body is
a :class:`BackendError`, not retried). The key is read by the SDK from ``OPENAI_API_KEY`` and
never stored or logged by pdd; a local server given by ``base_url`` needs none.
"""

from __future__ import annotations

import json
from typing import Any

from pdd.backends import Completion, Request
from pdd.backends._common import checked_answer, sdk_client_settings, sdk_error_message
from pdd.errors import BackendError
from pdd.redact import redact



class OpenAIBackend:
    """Chat Completions through ``openai.OpenAI``. Raises :class:`BackendError`."""

    name = "openai"

    def __init__(self, settings: dict[str, Any]) -> None:
        import openai

        self._openai = openai
        self._client = openai.OpenAI(**sdk_client_settings("openai", "OPENAI", settings,
                                                            default_timeout=120, default_retries=4))

    def complete(self, request: Request) -> Completion:
        """Send ``request``; return the first choice's text and the usage counts."""
        openai = self._openai
        try:
            response = self._client.chat.completions.create(
                model=request.model,
                messages=list(request.messages),  # type: ignore[arg-type]
                temperature=request.temperature,
                max_tokens=request.max_tokens,
            )
        except openai.APIStatusError as exc:
            raise BackendError(
                f"openai backend: {request.module or 'request'}: HTTP {exc.status_code}: {_error_message(exc)}",
                hint=_hint_for_status(exc.status_code),
            ) from None
        except openai.APITimeoutError:
            raise BackendError(f"openai backend: {request.module or 'request'}: the request timed out after retries",
                               hint="raise openai.timeout in .pdd/config.yaml, or check the server") from None
        except openai.APIConnectionError as exc:
            raise BackendError(f"openai backend: cannot reach the server: {redact(str(exc))}",
                               hint="check openai.base_url / OPENAI_BASE_URL and that the server is running") from None
        except openai.OpenAIError as exc:
            raise BackendError(f"openai backend: {redact(str(exc))}") from None
        except json.JSONDecodeError as exc:  # the SDK lets a malformed body escape
            raise BackendError(f"openai backend: {request.module or 'request'}: the server's answer is not valid JSON ({exc})",
                               hint="check openai.base_url: is it an OpenAI-compatible /v1 endpoint?") from None
        except ValueError as exc:
            raise BackendError(f"openai backend: {request.module or 'request'}: {redact(str(exc))}") from None
        try:
            if not response.choices or response.choices[0].message.content is None:
                raise BackendError(f"openai backend: {request.module or 'request'}: the answer has no text")
        except (AttributeError, TypeError, IndexError):
            raise BackendError(f"openai backend: {request.module or 'request'}: the server's answer is not a "
                               "Chat Completions response", hint="check openai.base_url") from None
        usage = response.usage
        tokens_in, tokens_out = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
        text = checked_answer(f"openai backend: {request.module or 'request'}", response.choices[0].message.content,
                              (tokens_in, tokens_out))
        model = response.model if isinstance(response.model, str) and response.model else request.model
        fingerprint = getattr(response, "system_fingerprint", None)  # the served configuration, where given
        return Completion(text=text, tokens_in=tokens_in, tokens_out=tokens_out, model=model,
                          extra={"system_fingerprint": fingerprint} if isinstance(fingerprint, str) and fingerprint else {})


def _error_message(exc: Any) -> str:
    return sdk_error_message(exc)  # the service's message, redacted and truncated


def _hint_for_status(status: int) -> str | None:
    if status in (401, 403):
        return "check OPENAI_API_KEY"
    if status == 404:
        return "check the model name (model in .pdd/config.yaml or PDD_MODEL) and the base_url"
    if status == 429:
        return "rate limited after retries: try again later or lower --jobs"
    return None
