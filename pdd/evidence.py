"""The evidence trail: what ``pdd log``, ``pdd explain`` and ``pdd cost`` compute.

* :func:`run_summary` / :func:`format_log_line`: one line per run record
  (:mod:`pdd.runs`).
* :func:`explain`: the provenance of one generated file from its note
  (:mod:`pdd.notes`): prompt path and blob and the commit that introduced that
  blob (``git log --find-object``), generator, tokens, cost, tests; and its state
  now (:mod:`pdd.freshness`): genuine or edited by hand, fresh or stale.
* :func:`cost_report`: spend from run records grouped by model, module or day.

Costs are ``None`` ("unknown") when a request's cost was unknown (no price in
``.pdd/config.yaml``, or no token counts), never silently 0.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from pdd.errors import UsageError
from pdd.runs import module_cost
from pdd.spend import format_usd

COST_GROUPS = ("model", "module", "day", "rung", "reviewer")


# -- log ------------------------------------------------------------------------------------------------------------


def _parse_time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None


def run_summary(run: dict[str, Any]) -> dict[str, Any]:
    """The fields ``pdd log`` shows for one run record."""
    modules = run.get("modules") if isinstance(run.get("modules"), dict) else {}
    statuses = Counter(str(e.get("status")) for e in modules.values() if isinstance(e, dict))
    start, end = _parse_time(run.get("started")), _parse_time(run.get("ended"))
    return {
        "file": run.get("file"),
        "command": run.get("command"),
        "argv": run.get("argv"),
        "started": run.get("started"),
        "ended": run.get("ended"),
        "seconds": round((end - start).total_seconds(), 1) if start and end else None,
        "exit_code": run.get("exit_code"),
        "backend": run.get("backend"),
        "model": run.get("model"),
        "budget_usd": run.get("budget_usd"),
        "statuses": dict(sorted(statuses.items())),
        "totals": run.get("totals") or {},
        "errors": run.get("errors") or [],
    }


def format_log_line(s: dict[str, Any]) -> str:
    """One line of ``pdd log``."""
    when = str(s.get("started") or "?").replace("T", " ").replace("+00:00", "Z")
    statuses = ", ".join(f"{n} {k}" for k, n in s["statuses"].items()) or "no modules"
    t = s["totals"]
    requests = t.get("requests", 0)
    hits = t.get("cache_hits", 0)
    parts = [
        when,
        f"{s.get('command') or '?':<7}",
        f"exit {s.get('exit_code')}",
        f"{s.get('backend') or '?'}/{s.get('model') or '?'}",
        statuses,
        f"{requests} request{'s' if requests != 1 else ''}" + (f" + {hits} cached" if hits else ""),
        f"tokens {t.get('tokens_in', 0):,} in / {t.get('tokens_out', 0):,} out",
        f"cost {format_usd(t.get('cost_usd')) if t else 'unknown'}",
    ]
    if s.get("seconds") is not None:
        parts.append(f"{s['seconds']:g}s")
    if s.get("budget_usd") is not None:
        parts.append(f"budget {format_usd(s['budget_usd'])}")
    parts.append(str(s.get("file") or ""))
    return "  ".join(parts)


# -- explain --------------------------------------------------------------------------------------------------------


def prompt_introduced(root: Path, prompt_path: str | None, prompt_blob: str | None) -> dict[str, str] | None:
    """The oldest commit that introduced blob ``prompt_blob`` (at ``prompt_path``, else anywhere),
    as ``{"commit", "date", "subject"}``; ``None`` if no commit has it."""
    from pdd.git import run

    if not prompt_blob:
        return None
    for pathspec in ([prompt_path] if prompt_path else []) + [None]:
        argv = ["log", "--reverse", "--format=%H%x1f%cI%x1f%s", f"--find-object={prompt_blob}"]
        if pathspec:
            argv += ["--", pathspec]
        proc = run(root, *argv, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()] if proc.returncode == 0 else []
        if lines:
            commit, date, subject = (lines[0].split("\x1f") + ["", ""])[:3]
            return {"commit": commit, "date": date, "subject": subject}
    return None


def _resolve_path(project: Any, raw: str, cwd: Path) -> str:
    """``raw`` (a file path, relative to ``cwd`` or absolute, or a module name / prompt path)
    as a repository-relative POSIX path."""
    root = project.root
    candidate = (cwd / raw).resolve()
    try:
        rel = candidate.relative_to(root).as_posix()
    except ValueError:
        rel = None
    if rel is not None and (root / rel).is_file():
        return rel
    try:
        name = project.select([raw])[0]
    except UsageError:
        name = None
    if name is not None:
        return project.specs()[name].output
    if rel is None:
        raise UsageError(f"{raw} is outside the repository {root}")
    return rel


def explain(project: Any, raw_path: str, cwd: Path | None = None) -> dict[str, Any]:
    """Provenance and current state of a generated file. Raises :class:`UsageError`
    if the file does not exist."""
    from pdd.freshness import file_state, latest_outcomes, worktree_source
    from pdd.provenance.record import FETCH_NOTES_HINT, NOTES_REF
    from pdd.provenance.source import Notes

    rel = _resolve_path(project, raw_path, cwd or Path.cwd())
    path = project.root / rel
    if not path.is_file():
        raise UsageError(f"no such file: {rel}", hint="give the path of a file under generated/ (or a module name)")
    notes = Notes(project.root)
    try:
        source = worktree_source(project, notes)
        blob = source.filtered_blob(rel)
        records = source.provenance(rel)[1]
        note = records[-1] if records else None
        spec = next((s for s in project.specs().values() if s.output == rel), None)
        if spec is not None:
            st = file_state(project, spec, notes, latest_outcomes(project))
            state, reason = st.state, st.reason
            current_prompt_blob = source.filtered_blob(spec.path)
        else:
            current_prompt_blob = None
            if not notes.exists:
                state, reason = "unknown", f"no notes ref {NOTES_REF}; fetch it: {FETCH_NOTES_HINT}"
            elif rel.startswith("generated/"):
                state, reason = "orphan", "no prompt generates this file"
            else:
                state, reason = "not-generated", "not a generated module: no prompt writes it"
    finally:
        notes.close()

    out: dict[str, Any] = {
        "path": rel,
        "blob": blob,
        "module": spec.name if spec else None,
        "genuine": note is not None,
        "state": state,
        "fresh": state == "fresh",
        "reason": reason,
        "notes_on_blob": len(records),
        "note": note.to_dict() if note is not None else None,
        "prompt": None,
    }
    if note is not None:
        prompt_path = note.prompt or (spec.path if spec else None)
        prompt_blob = note.prompt_blob
        out["prompt"] = {
            "path": prompt_path,
            "blob": prompt_blob,
            "introduced_in": prompt_introduced(project.root, prompt_path, prompt_blob),
            "current_blob": current_prompt_blob,
            "changed_since": bool(current_prompt_blob and prompt_blob and current_prompt_blob != prompt_blob),
        }
    elif spec is not None:
        out["prompt"] = {"path": spec.path, "blob": None, "introduced_in": None,
                         "current_blob": current_prompt_blob, "changed_since": None}
    return out


def format_explain(e: dict[str, Any]) -> list[str]:
    """The text lines of ``pdd explain``."""
    lines = [e["path"]]

    def row(label: str, value: Any) -> None:
        lines.append(f"  {label + ':':<13}{value}")

    row("state", f"{e['state']} — {e['reason']}")
    row("genuine", "yes (its blob has a pdd note)" if e["genuine"] else "no: its blob has no pdd note for this path")
    row("blob", e["blob"])
    if e.get("module"):
        row("module", e["module"])
    note = e.get("note")
    p = e.get("prompt")
    if p:
        intro = p.get("introduced_in")
        if p.get("blob"):
            where = (f"introduced in commit {intro['commit'][:12]} ({intro['date']}: {intro['subject']})" if intro
                     else "not in any commit (the prompt was not committed when this was built)")
            row("prompt", f"{p['path']} (blob {p['blob'][:12]}), {where}")
            if p.get("changed_since"):
                row("", f"the prompt has changed since (now blob {p['current_blob'][:12]})")
        else:
            row("prompt", p["path"])
    if note:
        gen = (note.get("inputs") or {}).get("generator") or {}
        params = ", ".join(f"{k} {gen[k]}" for k in ("temperature", "max_tokens", "template") if k in gen)
        row("generator", f"{note.get('backend')} / {note.get('model')}" + (f" ({params})" if params else ""))
        if note.get("served_model") and note.get("served_model") != note.get("model"):
            row("served", f"{note['served_model']} (the provider's answer named this model)"
                + (f", system_fingerprint {note['system_fingerprint']}" if note.get("system_fingerprint") else ""))
        if note.get("ladder"):
            row("ladder", f"rung {note.get('rung')} of {', '.join(map(str, note['ladder']))}")
        if isinstance(note.get("review"), dict):
            from pdd.policy import format_review

            row("review", format_review(note["review"]))
        ti, to = note.get("tokens_in"), note.get("tokens_out")
        row("tokens", f"{ti if ti is not None else 'unknown'} in / {to if to is not None else 'unknown'} out")
        row("cost", format_usd(note.get("cost_usd")))
        box = note.get("sandbox")
        confined = ("sandboxed (bwrap)" if box == "bwrap" else "UNSANDBOXED" if box == "none"
                    else "sandbox not recorded" if note.get("tests") in ("passed", "failed", "error", "timeout") else None)
        row("tests", f"{note.get('tests')} (attempt {note.get('attempts')})" + (f", {confined}" if confined else ""))
        reqs = note.get("requirements")
        if isinstance(reqs, dict) and reqs:
            row("verified", ", ".join(f"{k} {v}" for k, v in reqs.items()))
        row("built", f"{note.get('time')} by pdd {note.get('pdd')}")
        row("fingerprint", note.get("fingerprint"))
        deps = (note.get("inputs") or {}).get("deps") or {}
        if deps:
            row("depends on", ", ".join(sorted(deps)))
        if e.get("notes_on_blob", 0) > 1:
            row("", f"({e['notes_on_blob']} notes on this blob for this path; the newest is shown)")
    return lines


# -- cost -----------------------------------------------------------------------------------------------------------


def _valid_day(text: str) -> str:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise UsageError(f"--since must be a date YYYY-MM-DD, got {text!r}") from None


def cost_report(runs: list[dict[str, Any]], by: str = "model", since: str | None = None,
                prices: dict[str, Any] | None = None) -> dict[str, Any]:
    """Spend from run records grouped ``by`` model, module or day (runs started on or after ``since``).

    Returns ``{"by", "since", "rows": [...], "total": {...}}``; each row has ``key``,
    ``runs``, ``requests``, ``cache_hits``, ``tokens_in``, ``tokens_out``, ``cost_usd``
    (``None`` if every request's cost was unknown, else the sum of the known ones),
    ``unknown`` (how many modules' costs were unknown; when > 0 the real spend is
    more than ``cost_usd``) and, by model, ``price_date``.
    """
    if by not in COST_GROUPS:
        raise UsageError(f"--by must be one of {', '.join(COST_GROUPS)}, got {by!r}")
    since = _valid_day(since) if since else None
    from pdd.spend import parse_prices

    try:
        prices = parse_prices(prices)
    except UsageError:
        prices = {}
    saving = LadderSaving()
    groups: dict[str, dict[str, Any]] = {}
    total = {"key": "total", "runs": set(), "requests": 0, "cache_hits": 0, "tokens_in": 0, "tokens_out": 0,
             "known": 0.0, "unknown": 0}
    for run in runs:
        day = str(run.get("started") or "")[:10]
        if since and day < since:
            continue
        modules = run.get("modules") if isinstance(run.get("modules"), dict) else {}
        for name, entry in modules.items():
            if not isinstance(entry, dict):
                continue
            if not (entry.get("requests") or 0) and not (entry.get("cache_hits") or 0):
                continue
            if by == "model":
                saving.add(entry, prices)
            for key, part in spend_parts(entry, by, name, day, run):
                requests, hits = part.get("requests") or 0, part.get("cache_hits") or 0
                if not requests and not hits:
                    continue
                g = groups.setdefault(key, {"key": key, "runs": set(), "requests": 0, "cache_hits": 0, "tokens_in": 0,
                                              "tokens_out": 0, "known": 0.0, "unknown": 0})
                cost, known = module_cost(part)
                for acc in (g, total):
                    acc["runs"].add(run.get("file"))
                    acc["requests"] += requests
                    acc["cache_hits"] += hits
                    acc["tokens_in"] += part.get("tokens_in") or 0
                    acc["tokens_out"] += part.get("tokens_out") or 0
                    acc["known"] += cost
                    acc["unknown"] += 0 if known else 1

    def finish(acc: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in acc.items() if k not in ("known", "runs")}
        out["runs"] = len(acc["runs"])
        all_unknown = acc["unknown"] > 0 and acc["known"] == 0
        out["cost_usd"] = None if all_unknown else round(acc["known"], 10)
        return out

    rows = [finish(groups[k]) for k in sorted(groups)]
    report: dict[str, Any] = {"by": by, "since": since, "rows": rows, "total": finish(total)}
    if by == "model":
        for r in rows:
            price = prices.get(r["key"])
            r["price_date"] = price.date if price is not None else None
        report["ladder_saving"] = saving.to_json()
    return report


def spend_parts(entry: dict[str, Any], by: str, name: str, day: str, run: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The ``(group key, spend entry)`` parts of one run-record module entry for ``pdd cost --by``:
    by ``model`` and ``rung`` a laddered/reviewed module splits into its rungs (``by_rung``) and its
    reviews (``review_spend``); by ``reviewer`` only the reviews count."""
    rungs = entry.get("by_rung") if isinstance(entry.get("by_rung"), list) else None
    review = entry.get("review_spend") if isinstance(entry.get("review_spend"), dict) else None
    reviewer = (entry.get("review") or {}).get("model") if isinstance(entry.get("review"), dict) else None
    if by in ("module", "day"):
        return [(name if by == "module" else day or "?", entry)]
    if by == "reviewer":
        return [(reviewer or review.get("model") or "?", review)] if review else []
    parts: list[tuple[str, dict[str, Any]]] = []
    if rungs:
        parts += [((r.get("model") or "?") if by == "model" else f"rung {r.get('rung')}", r) for r in rungs
                  if isinstance(r, dict)]
    else:
        parts.append(((entry.get("model") or run.get("model") or "?") if by == "model" else "rung 1", entry))
    if review:
        parts.append(((reviewer or "?") if by == "model" else "review", review))
    return parts


class LadderSaving:
    """What the laddered modules' generation cost against "every request on the last rung":
    each rung's recorded tokens priced at the last rung's prices (an estimate: the last rung
    would have answered differently, in fewer or more attempts)."""

    def __init__(self) -> None:
        self.modules = 0
        self.actual = 0.0
        self.last_rung = 0.0
        self.unknown = 0

    def add(self, entry: dict[str, Any], prices: dict[str, Any]) -> None:
        from pdd.spend import compute_cost

        ladder, rungs = entry.get("ladder"), entry.get("by_rung")
        if not (isinstance(ladder, list) and len(ladder) > 1 and isinstance(rungs, list)):
            return
        last = prices.get(ladder[-1])
        for r in rungs:
            if not isinstance(r, dict) or not r.get("requests"):
                continue
            cost = r.get("cost_usd")
            alt = compute_cost(last, r.get("tokens_in"), r.get("tokens_out"))
            if not isinstance(cost, (int, float)) or alt is None:
                self.unknown += 1
                continue
            self.actual += cost
            self.last_rung += alt
        self.modules += 1

    def to_json(self) -> dict[str, Any] | None:
        if not self.modules:
            return None
        return {"estimate": True, "modules": self.modules, "actual_usd": round(self.actual, 10),
                "all_last_rung_usd": round(self.last_rung, 10), "saving_usd": round(self.last_rung - self.actual, 10),
                "unpriced_rungs": self.unknown}


def cost_text(row: dict[str, Any]) -> str:
    """A row's cost for people: ``$0.0123``, ``unknown``, or ``$0.0123 + unknown``."""
    if row["cost_usd"] is None:
        return "unknown"
    return format_usd(row["cost_usd"]) + (" + unknown" if row.get("unknown") else "")
