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


LOCAL_PLACEHOLDER_KEY = "no-key-needed-for-local-server"


def sdk_client_settings(backend: str, env_prefix: str, settings: dict[str, Any], *,
                        default_timeout: float, default_retries: int) -> dict[str, Any]:
    """Keyword arguments for an official SDK client (``api_key``, ``base_url``,
    ``timeout``, ``max_retries``) from the environment and the backend's config section.

    ``{PREFIX}_BASE_URL`` wins over ``base_url`` in config; the key comes only from
    ``{PREFIX}_API_KEY``. A server named by a base URL (local, or a gateway) may need
    no key. Raises :class:`pdd.errors.ConfigError` (exit 2) when neither is given.
    """
    import os

    from pdd.errors import ConfigError

    base_url = os.environ.get(f"{env_prefix}_BASE_URL") or settings.get("base_url") or None
    api_key = os.environ.get(f"{env_prefix}_API_KEY")
    if not api_key:
        if base_url is None:
            raise ConfigError(
                f"the {backend} backend needs {env_prefix}_API_KEY in the environment",
                hint=f"export {env_prefix}_API_KEY=..., or set {backend}.base_url (or {env_prefix}_BASE_URL) "
                     "to a local server or gateway",
            )
        api_key = LOCAL_PLACEHOLDER_KEY
    retries = settings.get("max_retries")
    return {
        "api_key": api_key,
        "base_url": base_url,
        "timeout": float(settings.get("timeout") or default_timeout),
        "max_retries": int(retries if retries is not None else default_retries),
    }


def _count_ok(value: Any) -> bool:
    return value is None or isinstance(value, int) and not isinstance(value, bool) and value >= 0


def checked_answer(label: str, text: Any, tokens: "tuple[Any, ...]" = (), *, strict_usage: bool = True) -> str:
    """``text`` if it is usable answer text; else raise :class:`pdd.errors.BackendError` (exit 3).

    Usable: a ``str`` (not an int, list or ``null``) that encodes as UTF-8 (no lone
    surrogate such as a JSON ``"\\ud800"``). With ``strict_usage``, each of
    ``tokens`` (usage counts as the service sent them) must be ``None`` or an
    integer from 0 up; booleans, strings and floats are refused. ``label`` names the
    backend and module in the message."""
    from pdd.errors import BackendError

    if not isinstance(text, str):
        raise BackendError(f"{label}: the answer's content is {type(text).__name__}, not text",
                           hint="the server is not speaking the API correctly; check its base_url and version")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BackendError(f"{label}: the answer is not valid Unicode ({exc.reason} at character {exc.start})",
                           hint="the server sent a lone surrogate escape; try again, or check the server") from None
    if strict_usage:
        for value in tokens:
            if not _count_ok(value):
                raise BackendError(f"{label}: the answer's usage has a token count that is not a "
                                   f"non-negative integer: {truncate(repr(value), 80)}",
                                   hint="the server is not speaking the API correctly; check its base_url and version")
    return text
