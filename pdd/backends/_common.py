"""Helpers shared by the backends: error text from SDK exceptions, hints, redaction."""

from __future__ import annotations

from typing import Any

from pdd.redact import redact

MAX_ERROR_CHARS = 2000


def sdk_error_message(exc: Any) -> str:
    """The service's own error message from an SDK ``APIStatusError`` (OpenAI and
    Anthropic bodies: ``{"error": {"message": ...}}``), redacted and truncated."""
    body = getattr(exc, "body", None)
    text = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            text = str(inner["message"])
        elif isinstance(inner, str):
            text = inner
    if text is None:
        text = str(getattr(exc, "message", None) or exc)
    return truncate(redact(text))


def truncate(text: str, limit: int = MAX_ERROR_CHARS, *, keep: str = "head") -> str:
    """``text`` cut to ``limit`` characters, saying so; ``keep='tail'`` keeps the end."""
    if len(text) <= limit:
        return text
    if keep == "tail":
        return "[... cut ...]" + text[-limit:]
    return text[:limit] + "[... cut ...]"


def status_hint(status: int, key_var: str, settings: str) -> str | None:
    """What to do about an HTTP error status that was not (or no longer) retried."""
    if status in (401, 403):
        return f"check {key_var} (the key is read from the environment only)"
    if status == 404:
        return f"check the model name (model in .pdd/config.yaml, PDD_MODEL or the prompt's model:) and {settings}.base_url"
    if status == 400:
        return "the service refused the request; check model, temperature and max_tokens in .pdd/config.yaml"
    if status == 429:
        return f"rate limited after retries: try again later, lower --jobs, or raise {settings}.max_retries"
    if status >= 500:
        return f"the service kept failing after retries: try again later, or raise {settings}.max_retries"
    return None
