"""Keeping secrets out of everything pdd writes.

API keys come only from the environment (product contract, "Model backends") and
must never reach a note, a run record, a cache entry, a log line or an error
message. Backends never put keys in messages on purpose; this module is the
safety net for text that comes from elsewhere (a service's error body, a tool's
stderr): every value of an environment variable that looks like a credential is
replaced by ``[redacted]``.

A variable looks like a credential when its name ends with one of
:data:`SECRET_SUFFIXES` (``OPENAI_API_KEY``, ``ANTHROPIC_AUTH_TOKEN``,
``GITHUB_TOKEN``...). Every non-empty value is redacted, whatever its length; a
value shorter than :data:`MIN_SECRET_LENGTH` characters is replaced only where it
stands as a whole word (not preceded or followed by a letter, digit or ``_``), so
a short key such as ``abc`` blanks ``key=abc`` but not ``abcdef`` or ``cabin``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

SECRET_SUFFIXES = ("_API_KEY", "_AUTH_TOKEN", "_TOKEN", "_SECRET", "_SECRET_KEY", "_PASSWORD")
MIN_SECRET_LENGTH = 8
REDACTED = "[redacted]"


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Non-empty values of credential-like environment variables, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if k.upper().endswith(SECRET_SUFFIXES) and isinstance(v, str) and v.strip()}
    return sorted(values, key=lambda v: (-len(v), v))


def _pattern(secrets: list[str]) -> "re.Pattern[str] | None":
    """One regular expression matching every secret, longest first; short ones
    (under :data:`MIN_SECRET_LENGTH`) only between word boundaries."""
    if not secrets:
        return None
    parts = [re.escape(v) if len(v) >= MIN_SECRET_LENGTH else rf"(?<![\w]){re.escape(v)}(?![\w])" for v in secrets]
    return re.compile("|".join(parts))


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every credential value from the environment replaced by ``[redacted]``."""
    if not text:
        return text
    pattern = _pattern(secret_values(environ))
    return text if pattern is None else pattern.sub(REDACTED, text)


def redact_obj(obj: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings) with :func:`redact` applied to every string."""
    pattern = _pattern(secret_values(environ))
    if pattern is None:
        return obj

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return pattern.sub(REDACTED, node)
        if isinstance(node, dict):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(v) for v in node]
        return node

    return walk(obj)
