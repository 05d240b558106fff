"""Parsed YAML by content: a cache of plain data keyed by the SHA-256 of the text
(and other values derived from content alone, such as a module's interface digest
keyed by its blob id).

ruamel.yaml parses in pure Python: about a millisecond for a short front matter
and tens of milliseconds for a commented config file, plus its import. That would
dominate a no-op build of a thousand modules and the pre-commit hook, so parsed
results are kept in ``.pdd/cache/yaml.sqlite`` (SQLite, from the standard
library: single lookups without loading the whole cache, and safe when several
pdd processes write at once), the way git's index keeps stat data.

The cache is advisory: only JSON-representable values are stored, any SQLite
error turns it off for the process, and a hit is exactly what the parser returned
for the same text (errors are never cached).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

RELPATH = ".pdd/cache/yaml.sqlite"
_MISS = object()


def text_key(kind: str, text: str) -> str:
    """Cache key of ``text`` parsed as ``kind`` (e.g. ``front-matter``, ``config``).
    It names pdd's version: an upgrade (a stricter schema, say) never trusts entries
    an older version validated."""
    from pdd import __version__

    return f"{kind}:{__version__}:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class YamlCache:
    """Plain data by :func:`text_key`. ``root`` ``None``: a cache that never hits.

    :meth:`preload` reads every row at once (for commands that parse many files);
    otherwise :meth:`get` looks keys up one by one. New values are buffered and
    written by :meth:`save` in one transaction.
    """

    def __init__(self, root: Path | None) -> None:
        self.path = None if root is None else root / RELPATH
        self._db = None
        self._rows: dict[str, Any] = {}
        self._new: dict[str, str] = {}
        self._lock = threading.Lock()
        self._broken = self.path is None

    def _conn(self):
        if self._db is None and not self._broken:
            import sqlite3

            for attempt in (1, 2):
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
                    # A short busy timeout: a cache must never stall a command (or the hook).
                    db = sqlite3.connect(str(self.path), timeout=0.2, check_same_thread=False)
                    db.execute("CREATE TABLE IF NOT EXISTS parsed (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                    self._db = db
                    break
                except sqlite3.DatabaseError as exc:
                    if attempt == 1 and "not a database" in str(exc):
                        try:  # a corrupt cache file: start a new one
                            self.path.unlink()  # type: ignore[union-attr]
                            continue
                        except OSError:
                            pass
                    self._broken = True
                    break
                except OSError:
                    self._broken = True
                    break
        return self._db

    def preload(self) -> None:
        """Read all cached rows into memory."""
        with self._lock:
            db = self._conn()
            if db is None:
                return
            try:
                self._rows.update((k, v) for k, v in db.execute("SELECT key, value FROM parsed"))
            except Exception:
                self._broken = True

    def get(self, key: str) -> Any:
        """The cached value (a fresh copy) or :data:`MISS`."""
        with self._lock:
            raw = self._rows.get(key)
            if raw is None and key in self._new:
                raw = self._new[key]
            if raw is None:
                db = self._conn()
                if db is None:
                    return _MISS
                try:
                    row = db.execute("SELECT value FROM parsed WHERE key = ?", (key,)).fetchone()
                except Exception:
                    self._broken = True
                    return _MISS
                if row is None:
                    return _MISS
                raw = self._rows[key] = row[0]
        return json.loads(raw)

    def put(self, key: str, value: Any) -> None:
        """Buffer ``value`` for ``key`` if it is JSON-representable."""
        try:
            encoded = json.dumps(value, separators=(",", ":"))
        except (TypeError, ValueError):
            return
        with self._lock:
            self._new[key] = encoded

    def save(self) -> None:
        """Write buffered values (one transaction; errors ignored: it is a cache)."""
        with self._lock:
            if not self._new:
                return
            db = self._conn()
            if db is None:
                return
            try:
                with db:
                    db.executemany("INSERT OR REPLACE INTO parsed (key, value) VALUES (?, ?)", self._new.items())
                self._rows.update(self._new)
                self._new.clear()
            except Exception:
                self._broken = True

    def close(self) -> None:
        """Save and close the connection."""
        self.save()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


MISS = _MISS


def yaml_error_line(exc: BaseException, text: str) -> int | None:
    """0-based line of a ruamel.yaml error in ``text``: its problem (or context) mark,
    or for a reader error (a NUL or other forbidden character, which has no mark)
    the line of its character ``position``; ``None`` if unknown."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        return text.count("\n", 0, position)
    return None
