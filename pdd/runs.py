"""Run records: one JSON file per ``pdd build`` (and later ``fix``, ``check
--regenerate``) under ``.pdd/runs/``, named ``<UTC time>-<command>-<id>.json``.

Shape::

    {"command": "build", "argv": [...], "started": ISO-8601, "ended": ISO-8601,
     "backend": ..., "model": ..., "exit_code": int,
     "modules": {<name>: {"status": "built"|"fresh"|"failed"|"error"|"blocked"|"skipped",
                          "fingerprint", "attempts", "requests", "cache_hits",
                          "tokens_in", "tokens_out", "cost_usd", "tests", "error"}}}

No secret is ever written: records hold names, counts and hashes, not settings.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pdd.atomicfile import write_atomic

RUNS_DIR = ".pdd/runs"


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_run(root: Path, command: str, record: dict[str, Any]) -> Path:
    """Write ``record`` as a new run file; return its path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = root / RUNS_DIR / f"{stamp}-{command}-{uuid.uuid4().hex[:6]}.json"
    write_atomic(path, json.dumps({"command": command, **record}, indent=1, sort_keys=True) + "\n")
    return path


def list_runs(root: Path) -> list[Path]:
    """Run files, oldest first."""
    d = root / RUNS_DIR
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.suffix == ".json")


def latest_module_outcomes(root: Path, limit: int = 50) -> dict[str, dict[str, Any]]:
    """For each module, its entry in the newest of the last ``limit`` runs that mention it."""
    result: dict[str, dict[str, Any]] = {}
    for path in reversed(list_runs(root)[-limit:]):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for name, entry in (data.get("modules") or {}).items():
            if name not in result and isinstance(entry, dict) and entry.get("status") in ("built", "fresh", "failed"):
                result[name] = entry
    return result

