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


def parse_note(text: str) -> list[dict[str, Any]]:
    """The JSON-object lines of a note body; lines that are not JSON objects are skipped."""
    records = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            records.append(obj)
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
    refs = [ref] + (tracking_notes_refs(repo) if ref == NOTES_REF else [])
    texts = [t for t in (_lookup(repo, blob_hex, r) for r in refs) if t is not None]
    return parse_note("\n".join(texts))


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
            try:
                tree = repo.references[name].peel(pygit2.Commit).tree
            except KeyError:
                continue
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
        return parse_note("\n".join(self.repo[n].data.decode("utf-8", "replace") for n in notes))


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
        try:
            old_commit = repo.references[self.ref].peel(pygit2.Commit)
        except KeyError:
            old_commit = None
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
