"""``anthropic`` backend: the Anthropic Messages API through the official SDK.

Settings (``anthropic:`` in ``.pdd/config.yaml``):

* ``base_url``: the API address (default the SDK's, ``https://api.anthropic.com``);
  the ``ANTHROPIC_BASE_URL`` environment variable wins over it.
* ``timeout``: seconds per request (default 120).
* ``max_retries``: retries after the first try (default 4). The SDK retries
  connection errors, timeouts, 408, 409, 429 and 5xx (including 529 "overloaded")
  with exponential backoff and jitter (0.5 s doubling up to 8 s), honouring the
  service's ``Retry-After``; 400, 401, 403 and 404 fail at once.

The key is read from ``ANTHROPIC_API_KEY`` only; pdd never stores or logs it. A
``base_url`` pointing at a local gateway may do without one.

Translation from pdd's Chat Completions-shaped messages: ``system`` messages
become the ``system`` parameter (joined by a blank line), the others are sent as
``messages`` (consecutive messages of one role merged, as the API wants turns to
alternate). ``temperature`` is not sent: the current SDK's ``messages.create()``
has no sampling parameters (newer Claude models reject them), so it is only part
of pdd's generator identity. The answer is the concatenation of the text content blocks; tokens
in are ``input_tokens`` plus cache creation and cache read input tokens.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pdd.backends import Completion, Request
from pdd.backends._common import checked_answer, sdk_client_settings, sdk_error_message, status_hint
from pdd.errors import BackendError
from pdd.redact import redact

if TYPE_CHECKING:
    from pathlib import Path

    from pdd.config import Config

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 4


def to_messages_api(messages: tuple[dict[str, str], ...] | list[dict[str, str]]) -> tuple[str | None, list[dict[str, str]]]:
    """``(system, messages)`` for the Messages API from Chat Completions-style messages."""
    system_parts = [m["content"] for m in messages if m.get("role") == "system"]
    turns: list[dict[str, str]] = []
    for m in messages:
        role = m.get("role")
        if role == "system":
            continue
        role = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1] = {"role": role, "content": turns[-1]["content"] + "\n\n" + m["content"]}
        else:
            turns.append({"role": role, "content": m["content"]})
    return ("\n\n".join(system_parts) if system_parts else None), turns


class AnthropicBackend:
    """Messages API through ``anthropic.Anthropic``. Raises :class:`BackendError`."""

    name = "anthropic"

    def __init__(self, settings: dict[str, Any]) -> None:
        import anthropic

        self._anthropic = anthropic
        self._client = anthropic.Anthropic(**sdk_client_settings("anthropic", "ANTHROPIC", settings,
                                                                  default_timeout=DEFAULT_TIMEOUT,
                                                                  default_retries=DEFAULT_MAX_RETRIES))

    def complete(self, request: Request) -> Completion:
        """Send ``request``; return the text blocks of the answer and the usage counts."""
        anthropic = self._anthropic
        what = request.module or "request"
        system, messages = to_messages_api(request.messages)
        # No temperature: the SDK's Messages.create() no longer takes sampling parameters
        # (current models reject them); it stays part of pdd's generator identity only.
        kwargs: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens, "messages": messages}
        if system:
            kwargs["system"] = system
        try:
            response = self._client.messages.create(**kwargs)
        except anthropic.APIStatusError as exc:
            raise BackendError(f"anthropic backend: {what}: HTTP {exc.status_code}: {sdk_error_message(exc)}",
                               hint=status_hint(exc.status_code, "ANTHROPIC_API_KEY", "anthropic")) from None
        except anthropic.APITimeoutError:
            raise BackendError(f"anthropic backend: {what}: the request timed out (after retries)",
                               hint="raise anthropic.timeout in .pdd/config.yaml, or check the service") from None
        except anthropic.APIConnectionError as exc:
            raise BackendError(f"anthropic backend: cannot reach the service: {redact(str(exc))}",
                               hint="check anthropic.base_url / ANTHROPIC_BASE_URL and the network") from None
        except anthropic.AnthropicError as exc:
            raise BackendError(f"anthropic backend: {what}: {redact(str(exc))}") from None
        except json.JSONDecodeError as exc:  # the SDK lets a malformed body escape
            raise BackendError(f"anthropic backend: {what}: the service's answer is not valid JSON ({exc})",
                               hint="a proxy or gateway in between may be mangling responses") from None
        except ValueError as exc:  # e.g. the SDK refusing a request it considers too long for non-streaming
            raise BackendError(f"anthropic backend: {what}: {redact(str(exc))}",
                               hint="lower max_tokens in .pdd/config.yaml") from None
        content = response.content if isinstance(response.content, list) else checked_answer(f"anthropic backend: {what}", response.content)
        texts = [checked_answer(f"anthropic backend: {what}", getattr(block, "text", "") or "") for block in content
                 if getattr(block, "type", None) == "text"]
        text = "".join(texts)
        if not text:
            raise BackendError(f"anthropic backend: {what}: the answer has no text "
                               f"(stop_reason {getattr(response, 'stop_reason', None)!r})")
        usage = getattr(response, "usage", None)
        names = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
        checked_answer(f"anthropic backend: {what}", text, tuple(getattr(usage, n, None) for n in names))
        tokens_in = _sum_tokens(usage, "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        tokens_out = getattr(usage, "output_tokens", None)
        return Completion(text=text, tokens_in=tokens_in, tokens_out=tokens_out,
                          model=response.model if isinstance(getattr(response, "model", None), str) and response.model
                          else request.model,
                          extra={"stop_reason": getattr(response, "stop_reason", None),
                                 **({"truncated": True} if getattr(response, "stop_reason", None) == "max_tokens" else {})})


def _sum_tokens(usage: Any, first: str, *more: str) -> int | None:
    base = getattr(usage, first, None)
    if base is None:
        return None
    return int(base) + sum(int(getattr(usage, name, None) or 0) for name in more)


def create(config: "Config", root: Path) -> AnthropicBackend:
    """The registry's factory (:data:`pdd.backends.REGISTRY`): settings from the ``anthropic`` section."""
    return AnthropicBackend(config.section("anthropic"))
