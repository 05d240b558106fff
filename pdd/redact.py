"""Keeping secrets out of everything pdd writes.

API keys come only from the environment (product contract, "Model backends") and
must never reach a note, a run record, a cache entry, a log line or an error
message. Backends never put keys in messages on purpose; this module is the
safety net for text that comes from elsewhere (a service's error body, a tool's
stderr): every value of an environment variable that looks like a credential is
replaced by ``[redacted]``.

A variable looks like a credential when its name ends with one of
:data:`SECRET_SUFFIXES` (``OPENAI_API_KEY``, ``ANTHROPIC_AUTH_TOKEN``,
``GITHUB_TOKEN``...) and its value has at least :data:`MIN_SECRET_LENGTH`
characters (shorter values would blank out ordinary words).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

SECRET_SUFFIXES = ("_API_KEY", "_AUTH_TOKEN", "_TOKEN", "_SECRET", "_SECRET_KEY", "_PASSWORD")
MIN_SECRET_LENGTH = 8
REDACTED = "[redacted]"


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of credential-like environment variables, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items()
              if k.upper().endswith(SECRET_SUFFIXES) and isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every credential value from the environment replaced by ``[redacted]``."""
    if not text:
        return text
    for value in secret_values(environ):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_obj(obj: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings) with :func:`redact` applied to every string."""
    secrets = secret_values(environ)
    if not secrets:
        return obj

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            for value in secrets:
                if value in node:
                    node = node.replace(value, REDACTED)
            return node
        if isinstance(node, dict):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(v) for v in node]
        return node

    return walk(obj)
