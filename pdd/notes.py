"""Provenance notes on generated blobs, in ``refs/notes/pdd``.

Layout (product contract, "Provenance in git notes"): a note is attached to the
**blob** of a generated file; its body is one JSON object per line (a
:class:`NoteRecord`), lines sorted and unique, so two branches' notes merge with
git's ``cat_sort_uniq`` strategy. A file is *genuine* iff its blob's note has a line
whose ``path`` is the file's path.

Writes are batched: :class:`NotesWriter` collects records and :meth:`flush`
writes one notes commit for the batch. The ref is moved with ``git update-ref
<ref> <new> <old>``, a compare-and-swap, so a concurrent writer is never
overwritten: on a lost race the batch is re-applied on the new tip (bounded
retries). A crash before the ref moves leaves the old ref intact.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pdd.errors import PddError

if TYPE_CHECKING:
    import pygit2

NOTES_REF = "refs/notes/pdd"
_ZERO = "0" * 40
_MAX_CAS_TRIES = 8
_BLOB_MODE = 0o100644
_TREE_MODE = 0o040000


_NUM = (int, float)
_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))
_OPT_NUM = (int, float, type(None))
# The type of each field of a note line (the record ``pdd build`` writes, pdd/build.py);
# fields not listed (added by later versions) are accepted as they are.
RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "path": (str,), "prompt": _OPT_STR, "prompt_blob": _OPT_STR, "fingerprint": _OPT_STR,
    "backend": _OPT_STR, "model": _OPT_STR, "tokens_in": _OPT_INT, "tokens_out": _OPT_INT,
    "cost_usd": _OPT_NUM, "tests": _OPT_STR, "attempts": _OPT_INT, "time": _OPT_STR, "pdd": _OPT_STR,
    "inputs": (dict, type(None)),
}
INPUTS_FIELDS: dict[str, tuple[type, ...]] = {"includes": (dict, type(None)), "deps": (dict, type(None)),
                                               "generator": (dict, type(None))}


def record_problem(obj: Any) -> str | None:
    """Why the decoded JSON value ``obj`` of a note line is not a valid record, or ``None``.

    A record is a JSON object whose known fields have the types of :data:`RECORD_FIELDS` (``inputs.includes`` and ``inputs.deps`` map
    strings to strings); booleans are not numbers."""
    if not isinstance(obj, dict):
        return f"not a JSON object but {type(obj).__name__}"

    def bad(name: str, value: Any, types: tuple[type, ...]) -> str | None:
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            want = " or ".join("null" if t is type(None) else {"str": "a string", "int": "an integer",
                               "float": "a number", "dict": "an object"}.get(t.__name__, t.__name__) for t in types)
            return f"{name!r} must be {want}, got {json.dumps(value)[:60]}"
        return None

    for name, types in RECORD_FIELDS.items():
        if name in obj and (why := bad(name, obj[name], types)):
            return why
    if isinstance(obj.get("tokens_in"), int) and obj["tokens_in"] < 0 or \
            isinstance(obj.get("tokens_out"), int) and obj["tokens_out"] < 0:
        return "token counts must not be negative"
    inputs = obj.get("inputs") or {}
    for name, types in INPUTS_FIELDS.items():
        if name in inputs and (why := bad(f"inputs.{name}", inputs[name], types)):
            return why
    for name in ("includes", "deps"):
        table = inputs.get(name) or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
            return f"'inputs.{name}' must map strings to strings"
    return None


def _warn_bad_line(where: str, number: int, why: str) -> None:
    import sys

    key = (where, number, why)
    if key in _reported:
        return
    _reported.add(key)
    print(f"pdd: warning: {where}, line {number}: {why}; the line is ignored\n"
          "  hint: a note line is written by `pdd build`; rebuild the module with `pdd build --force NAME` "
          "(or remove the line with `git notes --ref pdd edit BLOB`)", file=sys.stderr)


_reported: set[tuple[str, int, str]] = set()


def parse_note(text: str, where: str = "a note in refs/notes/pdd") -> list[dict[str, Any]]:
    """The valid records of a note body (one JSON object per line).

    A line that is not JSON, or is JSON but not a valid record (see
    :func:`record_problem`), is skipped and reported once on stderr, naming
    ``where`` and the 1-based line (product contract: "a malformed line is
    reported and skipped, never a crash"). Never raises."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            _warn_bad_line(where, number, "not a JSON object (malformed)")
            continue
        why = record_problem(obj)
        if why is None:
            records.append(obj)
        else:
            _warn_bad_line(where, number, why)
    return records


def format_record(record: dict[str, Any]) -> str:
    """One note line: compact JSON with sorted keys (stable under ``cat_sort_uniq``)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def merge_note_text(existing: str, new_lines: Iterable[str]) -> str:
    """Existing note text plus ``new_lines``, sorted and de-duplicated (``cat_sort_uniq``)."""
    lines = {ln for ln in existing.splitlines() if ln.strip()}
    lines.update(new_lines)
    return "\n".join(sorted(lines)) + "\n"


def tracking_notes_refs(repo: "pygit2.Repository") -> list[str]:
    """The remote-tracking notes refs ``refs/notes/remotes/<remote>/pdd`` (where a plain
    ``git fetch`` puts a remote's notes, see :mod:`pdd.notesync`), sorted."""
    return sorted(r for r in repo.references if r.startswith("refs/notes/remotes/") and r.endswith("/pdd"))


def notes_ref_exists(repo: "pygit2.Repository", ref: str = NOTES_REF) -> bool:
    """True if ``ref`` exists locally (for :data:`NOTES_REF`: or a remote-tracking notes ref)."""
    return ref in repo.references or (ref == NOTES_REF and bool(tracking_notes_refs(repo)))


def notes_commit(repo: "pygit2.Repository", ref: str) -> "pygit2.Commit | None":
    """The notes commit ``ref`` points at, or ``None`` if the ref does not exist.
    Raises :class:`pdd.gitsource.NotesRefError` (exit 2) if it points at a blob, a
    tree, a tag of one, or a commit whose tree is not a notes tree."""
    import pygit2

    from pdd.gitsource import not_a_notes_commit, notes_tree_problem

    try:
        reference = repo.references[ref]
    except KeyError:
        return None
    try:
        obj = reference.peel()
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise not_a_notes_commit(ref, f"it cannot be read ({exc})") from None
    if not isinstance(obj, pygit2.Commit):
        raise not_a_notes_commit(ref, f"it points at a {obj.type_str}")
    why = notes_tree_problem([(e.name, e.type_str) for e in obj.tree])
    if why:
        raise not_a_notes_commit(ref, why)
    return obj


def _lookup(repo: "pygit2.Repository", blob_hex: str, ref: str) -> str | None:
    try:
        return repo.lookup_note(blob_hex, ref).message
    except (KeyError, ValueError):
        return None
    except Exception as exc:  # pygit2.GitError: e.g. the ref does not exist
        if "not found" in str(exc).lower() or "reference" in str(exc).lower():
            return None
        raise


def read_notes(repo: "pygit2.Repository", blob_hex: str, ref: str = NOTES_REF) -> list[dict[str, Any]]:
    """The records noted on blob ``blob_hex`` (empty if none or no notes ref).

    For :data:`NOTES_REF`, the records in the remote-tracking notes refs are
    added: notes fetched by ``git fetch`` but not yet merged by ``pdd notes sync``
    must neither make a genuine file look edited nor a fresh one stale."""
    refs = [r for r in [ref] + (tracking_notes_refs(repo) if ref == NOTES_REF else []) if notes_commit(repo, r)]
    texts = [t for t in (_lookup(repo, blob_hex, r) for r in refs) if t is not None]
    return parse_note("\n".join(texts), f"the note on blob {blob_hex[:12]}")


def records_for_path(records: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """The records naming ``path``, newest ``time`` last."""
    return sorted((r for r in records if r.get("path") == path), key=lambda r: str(r.get("time", "")))


class NotesIndex:
    """The notes of one notes ref, indexed once: annotated object id -> note blob id.

    Reading the notes tree once (flat or fanout) makes each lookup a dict access;
    ``repo.lookup_note`` scans the tree per call, which is quadratic over a build.
    A snapshot: notes written after it was made are not seen.
    """

    def __init__(self, repo: "pygit2.Repository", ref: str = NOTES_REF) -> None:
        import pygit2

        self.repo = repo
        self.map: dict[str, list["pygit2.Oid"]] = {}
        self.exists = False
        # For NOTES_REF, the remote-tracking notes refs (fetched, not yet merged by
        # `pdd notes sync`) are read too and their records merged, as in read_notes.
        for name in [ref] + (tracking_notes_refs(repo) if ref == NOTES_REF else []):
            commit = notes_commit(repo, name)
            if commit is None:
                continue
            tree = commit.tree
            self.exists = True
            stack = [(tree, "")]
            while stack:
                node, prefix = stack.pop()
                for entry in node:
                    if entry.type_str == "tree":
                        stack.append((repo[entry.id], prefix + entry.name))
                    elif entry.type_str == "blob":
                        self.map.setdefault(prefix + entry.name, []).append(entry.id)

    def records(self, blob_hex: str) -> list[dict[str, Any]]:
        """The records noted on ``blob_hex`` (empty if none)."""
        notes = self.map.get(blob_hex)
        if not notes:
            return []
        return parse_note("\n".join(self.repo[n].data.decode("utf-8", "replace") for n in notes),
                          f"the note on blob {blob_hex[:12]}")


class NotesError(PddError):
    """Writing the notes ref failed (exit 2); the ref is left as it was."""


class NotesWriter:
    """Batches note records and writes them as one notes commit per :meth:`flush`.

    Thread-safe. ``add`` may be called from worker threads; ``flush`` writes.
    """

    def __init__(self, repo: "pygit2.Repository", ref: str = NOTES_REF, message: str = "Notes added by 'pdd build'") -> None:
        self.repo = repo
        self.ref = ref
        self.message = message
        self._pending: dict[str, list[str]] = {}
        self._lock = threading.Lock()  # guards _pending
        self._commit_lock = threading.Lock()  # one notes commit at a time

    def add(self, blob_hex: str, record: dict[str, Any]) -> None:
        """Queue ``record`` for blob ``blob_hex``."""
        with self._lock:
            self._pending.setdefault(blob_hex, []).append(format_record(record))

    def flush(self) -> int:
        """Write all queued records in one commit; return how many blobs were noted.

        When it returns, every record queued before the call is in the notes ref:
        flushes are serialised, so a caller never returns while another thread's
        commit holding its record is still in flight. Raises :class:`NotesError`
        (records kept for a later flush) if the ref could not be updated."""
        with self._commit_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
            if not pending:
                return 0
            try:
                for _ in range(_MAX_CAS_TRIES):
                    if self._try_commit(pending):
                        return len(pending)
                raise NotesError(f"could not update {self.ref}: other writers kept moving it", hint="run the command again")
            except BaseException:
                with self._lock:  # keep them for a later flush
                    for k, v in pending.items():
                        self._pending.setdefault(k, []).extend(v)
                raise

    def _signature(self):
        import pygit2

        try:
            return self.repo.default_signature
        except (KeyError, pygit2.GitError):
            return pygit2.Signature("pdd", "pdd@localhost")

    def _try_commit(self, pending: dict[str, list[str]]) -> bool:
        import pygit2

        repo = self.repo
        old_commit = notes_commit(repo, self.ref)
        old_tree = old_commit.tree if old_commit is not None else None
        blobs: dict[str, pygit2.Oid] = {}
        for blob_hex, lines in pending.items():
            existing = ""
            if old_tree is not None:
                existing = _note_text_in_tree(repo, old_tree, blob_hex)
            blobs[blob_hex] = repo.create_blob(merge_note_text(existing, lines).encode("utf-8"))
        tree_id = _update_tree(repo, old_tree, blobs)
        sig = self._signature()
        commit_id = repo.create_commit(None, sig, sig, self.message, tree_id, [old_commit.id] if old_commit else [])
        proc = subprocess.run(
            ["git", "update-ref", "-m", self.message, self.ref, str(commit_id), str(old_commit.id) if old_commit else _ZERO],
            cwd=repo.workdir or repo.path, capture_output=True, text=True,
        )
        if proc.returncode == 0:
            return True
        try:  # lost the race: the ref moved since we read it -> rebuild on the new tip
            moved = repo.references[self.ref].target != (old_commit.id if old_commit else None)
        except KeyError:
            moved = old_commit is not None
        if moved:
            return False
        raise NotesError(f"could not update {self.ref}: {proc.stderr.strip()}",
                         hint="if a git process crashed, remove the stale .lock file git names, then run the command again")


def _note_text_in_tree(repo: "pygit2.Repository", tree: "pygit2.Tree", blob_hex: str) -> str:
    """The note for ``blob_hex`` in a notes tree, flat or with fanout folders."""
    node = tree
    rest = blob_hex
    while True:
        if rest in node:
            return repo[node[rest].id].data.decode("utf-8", "replace")
        prefix = rest[:2]
        if len(rest) > 2 and prefix in node and node[prefix].type_str == "tree":
            node = repo[node[prefix].id]
            rest = rest[2:]
            continue
        return ""


def _update_tree(repo: "pygit2.Repository", tree: "pygit2.Tree | None", notes: dict[str, "pygit2.Oid"]) -> "pygit2.Oid":
    """Insert ``{remaining hex: note blob}`` into ``tree``, following existing fanout folders."""
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    into_sub: dict[str, dict[str, Any]] = {}
    for rest, blob_id in notes.items():
        prefix = rest[:2]
        if tree is not None and len(rest) > 2 and prefix in tree and tree[prefix].type_str == "tree":
            into_sub.setdefault(prefix, {})[rest[2:]] = blob_id
        else:
            builder.insert(rest, blob_id, _BLOB_MODE)
    for prefix, sub in into_sub.items():
        subtree = repo[tree[prefix].id]  # type: ignore[index]
        builder.insert(prefix, _update_tree(repo, subtree, sub), _TREE_MODE)
    return builder.write()
