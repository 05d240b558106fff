"""Run records: one JSON file per ``pdd build`` (and later ``fix``, ``check
--regenerate``) under ``.pdd/runs/``, named ``<UTC time>-<command>-<id>.json``.

Shape::

    {"command": "build", "argv": [...], "started": ISO-8601, "ended": ISO-8601,
     "pdd": version, "backend": ..., "model": ..., "exit_code": int,
     "interrupted": bool, "budget_usd": float | null,
     "modules": {<name>: {"status": "built"|"fresh"|"failed"|"error"|"blocked"|"skipped",
                          "output", "fingerprint", "model", "attempts", "requests",
                          "cache_hits", "tokens_in", "tokens_out", "cost_usd",
                          "tests", "error", "seconds"}},
     "totals": {"modules", "requests", "cache_hits", "tokens_in", "tokens_out",
                "cost_usd", "cost_unknown_modules"},
     "errors": ["<module>: <error>", ...]}

``totals``, ``errors`` and ``argv`` are filled in by :func:`write_run` when the
caller does not give them. ``cost_usd`` is ``null`` when unknown (no price, or no
token counts), never 0 for unknown; a module that made no request cost 0.

No secret is ever written: records hold names, counts and hashes, not settings,
and every string is passed through :func:`pdd.redact.redact_obj` on the way out.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pdd.atomicfile import write_atomic

RUNS_DIR = ".pdd/runs"


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def module_cost(entry: dict[str, Any]) -> tuple[float, bool]:
    """``(cost, known)`` of one module entry: a module that made no request cost 0."""
    if not entry.get("requests"):
        return 0.0, True
    cost = entry.get("cost_usd")
    return (float(cost), True) if isinstance(cost, (int, float)) else (0.0, False)


def run_totals(modules: dict[str, Any]) -> dict[str, Any]:
    """Sums over a run's module entries (``cost_usd`` ``None`` if any requesting module's cost is unknown)."""
    totals: dict[str, Any] = {"modules": len(modules), "requests": 0, "cache_hits": 0, "tokens_in": 0,
                              "tokens_out": 0, "cost_usd": 0.0, "cost_unknown_modules": 0}
    for entry in modules.values():
        if not isinstance(entry, dict):
            continue
        for key in ("requests", "cache_hits", "tokens_in", "tokens_out"):
            if isinstance(entry.get(key), int):
                totals[key] += entry[key]
        cost, known = module_cost(entry)
        totals["cost_usd"] += cost
        totals["cost_unknown_modules"] += 0 if known else 1
    if totals["cost_unknown_modules"]:
        totals["cost_usd"] = None
    return totals


class Spend:
    """Requests, tokens and cost of one command's model calls, tallied the same way
    for every command (build modules, fix, critique, probe).

    A cache hit is not a request and costs nothing; a request whose cost is unknown
    (no price for the model, no token counts) makes the total unknown, never 0.
    Token counts are ``None`` until a request reports them."""

    def __init__(self) -> None:
        self.requests = 0
        self.cache_hits = 0
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None
        self.cost_usd = 0.0
        self.cost_unknown = False

    def add(self, completion: Any, cache_hit: bool) -> None:
        """Count one answer (a :class:`pdd.backends.Completion`)."""
        if cache_hit:
            self.cache_hits += 1
            return
        self.requests += 1
        for attr in ("tokens_in", "tokens_out"):
            value = getattr(completion, attr, None)
            if value is not None:
                setattr(self, attr, (getattr(self, attr) or 0) + value)
        if completion.cost_usd is None:
            self.cost_unknown = True
        else:
            self.cost_usd += completion.cost_usd

    def merge(self, entry: dict[str, Any]) -> None:
        """Add a run-record module entry's (or another :meth:`entry`'s) counts."""
        self.requests += entry.get("requests") or 0
        self.cache_hits += entry.get("cache_hits") or 0
        for attr in ("tokens_in", "tokens_out"):
            if entry.get(attr) is not None:
                setattr(self, attr, (getattr(self, attr) or 0) + entry[attr])
        cost, known = module_cost(entry)
        self.cost_usd += cost
        self.cost_unknown = self.cost_unknown or not known

    def entry(self) -> dict[str, Any]:
        """The run-record keys ``requests``, ``cache_hits``, ``tokens_in``, ``tokens_out``, ``cost_usd``."""
        return {"requests": self.requests, "cache_hits": self.cache_hits, "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out, "cost_usd": None if self.cost_unknown else round(self.cost_usd, 10)}


def write_model_run(root: Path, command: str, module: str, status: str, spend: Spend, *, started: str,
                    model: str | None, backend: str, exit_code: int = 0, **extra: Any) -> Path:
    """The run record of a one-module model command (``critique``, ``probe``): the
    same ``modules``/``totals`` shape as a build, so ``pdd log`` and ``pdd cost``
    count its requests."""
    from pdd import __version__

    return write_run(root, command, {
        "started": started, "ended": now_iso(), "pdd": __version__, "backend": backend, "model": model,
        "exit_code": exit_code, "interrupted": False, "budget_usd": None,
        "modules": {module: {"status": status, "model": model, **spend.entry()}}, **extra})


def format_spend(totals: dict[str, Any]) -> str:
    """One line for people from run-record ``totals`` (or a :meth:`Spend.entry`):
    ``spend: 3 request(s), 1200 tokens in, 340 out, $0.0034`` (``cost unknown``
    when a price is missing; a run with no request costs $0)."""
    from pdd.spend import format_usd

    requests = totals.get("requests") or 0
    hits = totals.get("cache_hits") or 0
    parts = [f"{requests} request(s)" + (f" ({hits} answered from the cache)" if hits else "")]
    if requests:
        tin, tout = totals.get("tokens_in"), totals.get("tokens_out")
        parts.append(f"{tin if tin is not None else 'unknown'} tokens in, {tout if tout is not None else 'unknown'} out")
    cost = totals.get("cost_usd")
    parts.append("$0.00" if not requests else format_usd(cost) if cost is not None
                 else "cost unknown (add the model's prices to .pdd/config.yaml)")
    return "spend: " + ", ".join(parts)


def write_run(root: Path, command: str, record: dict[str, Any]) -> Path:
    """Write ``record`` as a new run file (secrets redacted); return its path."""
    from pdd.redact import redact_obj

    from pdd.repopath import require_inside

    require_inside(root, RUNS_DIR, "the run records folder")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = root / RUNS_DIR / f"{stamp}-{command}-{uuid.uuid4().hex[:6]}.json"
    data: dict[str, Any] = {"command": command, "argv": list(sys.argv[1:]), **record}
    modules = data.get("modules")
    if isinstance(modules, dict):
        data.setdefault("totals", run_totals(modules))
        data.setdefault("errors", [f"{name}: {entry['error']}" for name, entry in modules.items()
                                   if isinstance(entry, dict) and entry.get("error")])
    write_atomic(path, json.dumps(redact_obj(data), indent=1, sort_keys=True) + "\n")
    return path


def load_run(path: Path) -> dict[str, Any] | None:
    """The record in ``path`` (with ``file`` set to its name), or ``None`` if unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    data["file"] = path.name
    if isinstance(data.get("modules"), dict) and not isinstance(data.get("totals"), dict):
        data["totals"] = run_totals(data["modules"])
    return data


def load_runs(root: Path) -> list[dict[str, Any]]:
    """Every readable run record, oldest first."""
    return [r for r in (load_run(p) for p in list_runs(root)) if r is not None]


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

