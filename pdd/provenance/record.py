"""The note record: one line of a note on a generated file's blob in ``refs/notes/pdd``.

Format (product contract, "Provenance in git notes"; keys listed in
``docs/formats.md``): a note body is one compact JSON object per line, keys sorted,
lines sorted and unique, so two branches' notes merge with git's ``cat_sort_uniq``
strategy. :meth:`NoteRecord.to_line` is the one serializer and
:meth:`NoteRecord.from_line` / :func:`parse_note` the one reader.

Schema versions (key ``schema``): a line without the key is version 1 (every note
written before the key existed); :data:`SCHEMA_VERSION` (2) is version 1 plus the
key itself. A line of a newer schema is read by the keys this version knows (later
versions only add keys); its other keys are kept in :attr:`NoteRecord.extra`.

Also here, defined once: :data:`NOTES_REF`, the remote-tracking notes ref of a
remote (:func:`tracking_ref`, :func:`is_tracking_ref`) and the hint that fetches the
notes (:data:`FETCH_NOTES`, :data:`FETCH_NOTES_HINT`). Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

NOTES_REF = "refs/notes/pdd"
TRACKING_PREFIX = "refs/notes/remotes/"
SCHEMA_VERSION = 2

# Works whether or not the remote has notes yet (a plain `git fetch` of refs/notes/pdd fails when it has none).
FETCH_NOTES = "pdd notes sync"
FETCH_NOTES_HINT = f"{FETCH_NOTES}   (fetches and merges the remote's notes, if it has any)"


def tracking_ref(remote: str) -> str:
    """The remote-tracking notes ref of ``remote``: ``refs/notes/remotes/<remote>/pdd``,
    where ``git fetch`` (with the refspec ``pdd init`` adds) puts its notes."""
    return f"{TRACKING_PREFIX}{remote}/pdd"


def is_tracking_ref(ref: str) -> bool:
    """True if ``ref`` is a remote-tracking notes ref (see :func:`tracking_ref`)."""
    return ref.startswith(TRACKING_PREFIX) and ref.endswith("/pdd")


def notes_refs(existing: "list[str] | set[str]", ref: str = NOTES_REF) -> list[str]:
    """Of the ref names ``existing``, those read for ``ref``: ``ref`` itself and, for
    :data:`NOTES_REF`, the remote-tracking notes refs (sorted) — notes fetched but not
    yet merged by ``pdd notes sync`` must neither make a genuine file look edited nor a
    fresh one stale."""
    return [r for r in existing if r == ref] + sorted(r for r in existing if ref == NOTES_REF and is_tracking_ref(r))


_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))
_OPT_NUM = (int, float, type(None))
# The JSON type of each validated key; keys not listed are read as they are.
RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "path": (str,), "prompt": _OPT_STR, "prompt_blob": _OPT_STR, "fingerprint": _OPT_STR,
    "backend": _OPT_STR, "model": _OPT_STR, "tokens_in": _OPT_INT, "tokens_out": _OPT_INT,
    "cost_usd": _OPT_NUM, "tests": _OPT_STR, "attempts": _OPT_INT, "time": _OPT_STR, "pdd": _OPT_STR,
    "inputs": (dict, type(None)), "schema": (int,),
}
INPUTS_FIELDS: dict[str, tuple[type, ...]] = {"includes": (dict, type(None)), "deps": (dict, type(None)),
                                               "generator": (dict, type(None))}
# (key, exact type) pairs of a valid record's known keys: one set comparison decides a
# valid line whose keys are all known, in C (most lines); others take the general check.
_VALID_PAIRS = frozenset((k, t) for k, types in RECORD_FIELDS.items() for t in types)
_FIELD_NAMES = frozenset(RECORD_FIELDS)
_TYPE_WORDS = {"str": "a string", "int": "an integer", "float": "a number", "dict": "an object", "NoneType": "null"}


def record_problem(obj: Any) -> str | None:
    """Why the decoded JSON value ``obj`` of a note line is not a valid record, or ``None``.

    A record is a JSON object with a string ``path`` whose known keys have the types of
    :data:`RECORD_FIELDS` (``inputs.includes`` and ``inputs.deps`` map strings to
    strings; ``schema`` is a positive integer); booleans are not numbers."""
    if not isinstance(obj, dict):
        return f"not a JSON object but {type(obj).__name__}"
    if "path" not in obj:
        return "it has no 'path'"

    def bad(name: str, value: Any, types: tuple[type, ...]) -> str | None:
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            want = " or ".join(_TYPE_WORDS.get(t.__name__, t.__name__) for t in types)
            return f"{name!r} must be {want}, got {json.dumps(value)[:60]}"
        return None

    # Exact types (JSON values are of exact types): a valid record, all but always, is
    # decided by one set difference, without the general check, which (in the order of
    # RECORD_FIELDS, so the first bad key is named) also rejects booleans.
    rest = set(zip(obj, map(type, obj.values()))) - _VALID_PAIRS  # unknown keys, and known ones of a wrong type
    if not _FIELD_NAMES.isdisjoint(k for k, _ in rest):
        for name, types in RECORD_FIELDS.items():
            if name in obj and (why := bad(name, obj[name], types)):
                return why
    if isinstance(obj.get("tokens_in"), int) and obj["tokens_in"] < 0 or \
            isinstance(obj.get("tokens_out"), int) and obj["tokens_out"] < 0:
        return "token counts must not be negative"
    if "schema" in obj and obj["schema"] < 1:
        return "'schema' must be 1 or more"
    inputs = obj.get("inputs") or {}
    for name, types in INPUTS_FIELDS.items():
        if name in inputs and (why := bad(f"inputs.{name}", inputs[name], types)):
            return why
    for name in ("includes", "deps"):
        table = inputs.get(name) or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
            return f"'inputs.{name}' must map strings to strings"
    return None


@dataclass(frozen=True)
class NoteRecord:
    """One note line, parsed. Fields are the line's JSON keys (``docs/formats.md``);
    ``None`` is JSON ``null`` or an absent key. ``extra``: keys this version does not
    know (written by a later one), kept as they are. ``schema``: the line's schema
    version (1 for a line without the key; a record made here has :data:`SCHEMA_VERSION`).

    Construct with keywords; :meth:`to_line` / :meth:`from_line` convert to and from
    the line. Not hashable (``inputs`` is a dict)."""

    path: str
    prompt: str | None = None
    prompt_blob: str | None = None
    fingerprint: str | None = None
    backend: str | None = None
    model: str | None = None
    rung: Any = None
    served_model: Any = None
    spend: Any = None  # {requests, tokens_in, tokens_out, cost_usd} of the module's whole build
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    tests: str | None = None
    sandbox: Any = None
    attempts: int | None = None
    time: str | None = None
    pdd: str | None = None
    inputs: dict[str, Any] | None = None  # {includes, deps, generator[, uses]}
    # Written only when present:
    ladder: Any = None
    system_fingerprint: Any = None
    review: Any = None
    backend_info: Any = None
    requirements: Any = None
    adopted: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    __hash__ = None  # type: ignore[assignment]

    # -- the input manifest (``inputs``) ------------------------------------------------
    @property
    def includes(self) -> Any:
        """``inputs.includes``: {fragment path: blob id}, or ``None`` (computed includes)."""
        return (self.inputs or {}).get("includes")

    @property
    def deps(self) -> Any:
        """``inputs.deps``: {module: interface digest}, or ``None``."""
        return (self.inputs or {}).get("deps")

    @property
    def generator(self) -> Any:
        """``inputs.generator``: the generator identity (:meth:`pdd.fingerprint.Generator.to_json`), or ``None``."""
        return (self.inputs or {}).get("generator")

    @property
    def uses(self) -> dict[str, Any]:
        """``inputs.uses``: {path: interface digest} (empty when the prompt has no ``uses``)."""
        return (self.inputs or {}).get("uses") or {}

    # -- the line -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The line's JSON object: the always-written keys (``null`` when ``None``), the
        optional ones when set, ``extra``, and ``schema``."""
        out = dict(self.extra)
        for name in _ALWAYS:
            out[name] = getattr(self, name)
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out["schema"] = self.schema
        return out

    def to_line(self) -> str:
        """The note line: compact JSON, keys sorted (stable under ``cat_sort_uniq``), no newline."""
        return format_record(self.to_dict())

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "NoteRecord":
        """The record of a decoded line that :func:`record_problem` accepts."""
        values = dict(_DEFAULTS)
        values["schema"] = 1
        extra = {}
        for k, v in obj.items():
            if k in _KNOWN:
                values[k] = v
            else:
                extra[k] = v
        values["extra"] = extra
        # The fields set directly, as the frozen dataclass's __init__ would (its
        # per-field object.__setattr__ dominates parsing thousands of notes).
        record = object.__new__(cls)
        record.__dict__.update(values)
        return record

    @classmethod
    def from_line(cls, line: str) -> "NoteRecord | str":
        """The record of one note line, or why it is not one (a string). Never raises."""
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            return "not a JSON object (malformed)"
        why = record_problem(obj)
        return cls.from_dict(obj) if why is None else why


_ALWAYS = ("path", "prompt", "prompt_blob", "fingerprint", "backend", "model", "rung", "served_model", "spend",
           "tokens_in", "tokens_out", "cost_usd", "tests", "sandbox", "attempts", "time", "pdd", "inputs")
_OPTIONAL = ("ladder", "system_fingerprint", "review", "backend_info", "requirements", "adopted")
_KNOWN = frozenset(f.name for f in fields(NoteRecord)) - {"extra"}
_DEFAULTS = {f.name: f.default for f in fields(NoteRecord) if f.name != "extra"}


def format_record(obj: dict[str, Any]) -> str:
    """One note line of a JSON object: compact, keys sorted (stable under ``cat_sort_uniq``)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_reported: set[tuple[str, int, str]] = set()


def _warn_bad_line(where: str, number: int, why: str) -> None:
    import sys

    key = (where, number, why)
    if key in _reported:
        return
    _reported.add(key)
    print(f"pdd: warning: {where}, line {number}: {why}; the line is ignored\n"
          "  hint: a note line is written by `pdd build`; rebuild the module with `pdd build --force NAME` "
          "(or remove the line with `git notes --ref pdd edit BLOB`)", file=sys.stderr)


def parse_note(text: str, where: str = "a note in refs/notes/pdd") -> list[NoteRecord]:
    """The valid records of a note body (one JSON object per line).

    A line that is not JSON, or not a valid record (:func:`record_problem`), is
    skipped and reported once on stderr, naming ``where`` and the 1-based line
    (product contract: "a malformed line is reported and skipped, never a crash").
    Never raises."""
    records = []
    # Split on "\n" only, as git does: str.splitlines() also splits on U+0085, U+2028...,
    # which a record may hold unescaped (the line is JSON with ensure_ascii=False).
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        got = NoteRecord.from_line(line)
        if isinstance(got, str):
            _warn_bad_line(where, number, got)
        else:
            records.append(got)
    return records


def records_for_path(records: "list[NoteRecord]", path: str) -> list[NoteRecord]:
    """The records naming ``path``, newest ``time`` last."""
    return sorted((r for r in records if r.path == path), key=lambda r: str(r.time or ""))


def merge_note_text(existing: str, new_lines: "list[str] | set[str] | tuple[str, ...]") -> str:
    """Existing note text plus ``new_lines``, sorted and de-duplicated (``cat_sort_uniq``)."""
    lines = {ln.rstrip("\r") for ln in existing.split("\n") if ln.strip()}  # "\n" only: see parse_note
    lines.update(new_lines)
    return "\n".join(sorted(lines)) + "\n"
