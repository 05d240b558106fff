"""Canonical JSON and SHA-256 digests, the one hashing scheme of pdd's keys.

Canonical form: ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` encoded as UTF-8 (deterministic for dicts, lists, strings,
numbers, booleans and ``None``). Used for fingerprints, cache keys and replay keys.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    """``obj`` as canonical JSON bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(obj: Any) -> str:
    """SHA-256 hex digest (64 characters) of ``canonical_json(obj)``."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()
