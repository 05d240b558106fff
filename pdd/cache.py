"""Content-addressed generation cache in ``.pdd/cache/``.

Key: SHA-256 of the canonical JSON of ``{"backend", "model", "params", "messages"}``
(see :mod:`pdd.canonical`). Entry: ``.pdd/cache/<key[:2]>/<key>.json`` holding the
completion. A hit makes no request and costs nothing. Entries are written
atomically; a corrupt entry is treated as a miss and overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path

from pdd.atomicfile import write_atomic
from pdd.backends import Completion, Request
from pdd.canonical import digest

CACHE_DIR = ".pdd/cache"


def cache_key(backend: str, request: Request) -> str:
    """The 64-hex-digit cache key of ``request`` sent to ``backend``."""
    return digest({"backend": backend, "model": request.model, "params": request.params(), "messages": list(request.messages)})


class GenerationCache:
    """Completions by cache key under ``root/.pdd/cache``."""

    def __init__(self, root: Path) -> None:
        self.dir = root / CACHE_DIR

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        """The cached completion for ``key``, or ``None``."""
        try:
            return Completion.from_json(json.loads(self._path(key).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, completion: Completion) -> None:
        """Store ``completion`` under ``key`` (atomic)."""
        write_atomic(self._path(key), json.dumps(completion.to_json(), indent=1, sort_keys=True))
