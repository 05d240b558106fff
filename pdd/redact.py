"""Keeping secrets out of everything pdd writes.

API keys come only from the environment (product contract, "Model backends") and
must never reach a note, a run record, a cache entry, a log line or an error
message. Backends never put keys in messages on purpose; this module is the
safety net for text that comes from elsewhere (a service's error body, a tool's
stderr): every value of an environment variable that looks like a credential is
replaced by ``[redacted]``.

A variable looks like a credential (:func:`is_credential_name`) when its name ends
with one of :data:`SECRET_SUFFIXES` (``OPENAI_API_KEY``, ``ANTHROPIC_AUTH_TOKEN``,
``GITHUB_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``PGPASSWORD``...) or contains one of
:data:`SECRET_WORDS`. The password of any environment value that is a URL with
credentials (``DATABASE_URL=postgres://user:pw@host/db``) counts as a secret too.
Every non-empty value is redacted, whatever its length; a
value shorter than :data:`MIN_SECRET_LENGTH` characters is replaced only where it
stands as a whole word (not preceded or followed by a letter, digit or ``_``), so
a short key such as ``abc`` blanks ``key=abc`` but not ``abcdef`` or ``cabin``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

SECRET_SUFFIXES = ("_API_KEY", "_AUTH_TOKEN", "_TOKEN", "_SECRET", "_SECRET_KEY", "_PASSWORD", "PASSWORD", "_PASSWD",
                   "_ACCESS_KEY", "_PRIVATE_KEY", "_CREDENTIALS", "_AUTH")
SECRET_WORDS = ("SECRET", "PASSWORD", "CREDENTIAL")
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:([^/@\s]+)@")
MIN_SECRET_LENGTH = 8
REDACTED = "[redacted]"


def is_credential_name(name: str) -> bool:
    """True if environment variable ``name`` looks like it holds a credential
    (case-insensitive): it ends with one of :data:`SECRET_SUFFIXES` or contains one
    of :data:`SECRET_WORDS`."""
    upper = name.upper()
    return upper.endswith(SECRET_SUFFIXES) or any(w in upper for w in SECRET_WORDS)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Non-empty values of credential-like environment variables, and the password
    part of any value that is a URL with credentials; longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if is_credential_name(k) and isinstance(v, str) and v.strip()}
    for v in env.values():
        match = _URL_PASSWORD.match(v) if isinstance(v, str) else None
        if match:
            values.add(match.group(1))
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
