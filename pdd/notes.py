"""The writer of provenance notes on generated blobs, in ``refs/notes/pdd``.

Reading is :mod:`pdd.provenance.source` (``Notes``) and the line format
:mod:`pdd.provenance.record` (``NoteRecord``).

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

import threading
from typing import TYPE_CHECKING, Any

from pdd.errors import PddError
from pdd.git import run
from pdd.provenance.record import NOTES_REF, NoteRecord, merge_note_text

if TYPE_CHECKING:
    from collections.abc import Callable

    import pygit2

_ZERO = "0" * 40
_MAX_CAS_TRIES = 8
_BLOB_MODE = 0o100644
_TREE_MODE = 0o040000


def notes_commit(repo: "pygit2.Repository", ref: str) -> "pygit2.Commit | None":
    """The notes commit ``ref`` points at, or ``None`` if the ref does not exist.
    Raises :class:`pdd.provenance.source.NotesRefError` (exit 2) if it points at a blob, a
    tree, a tag of one, or a commit whose tree is not a notes tree."""
    import pygit2

    from pdd.provenance.source import not_a_notes_commit, notes_tree_problem

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


class NotesError(PddError):
    """Writing the notes ref failed (exit 2); the ref is left as it was."""


class NotesWriter:
    """Batches note records and writes them as one notes commit per :meth:`flush`.

    Thread-safe. ``add`` may be called from worker threads; ``flush`` writes.
    """

    def __init__(self, repo: "pygit2.Repository | Callable[[], pygit2.Repository]", ref: str = NOTES_REF,
                 message: str = "Notes added by 'pdd build'", *, odb_lock: "threading.Lock | None" = None) -> None:
        # A callable is called on the first write: a build with nothing to note (a no-op)
        # never imports pygit2.
        self._repo = repo
        #: held around this writer's pygit2 object writes; a caller that writes objects
        #: to the same repository from other threads passes its own lock here
        self.odb_lock = odb_lock if odb_lock is not None else threading.Lock()
        self.ref = ref
        self.message = message
        self._pending: dict[str, list[str]] = {}
        self._lock = threading.Lock()  # guards _pending
        self._commit_lock = threading.Lock()  # one notes commit at a time

    @property
    def repo(self) -> "pygit2.Repository":
        """The repository written to (opened now if it was given as a callable)."""
        if callable(self._repo):
            self._repo = self._repo()
        return self._repo

    def add(self, blob_hex: str, record: NoteRecord) -> None:
        """Queue ``record`` for blob ``blob_hex`` (written as :meth:`NoteRecord.to_line`)."""
        line = record.to_line()
        with self._lock:
            self._pending.setdefault(blob_hex, []).append(line)

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
        sig = self._signature()
        with self.odb_lock:  # pygit2 object writes, one thread at a time (not the update-ref below)
            for blob_hex, lines in pending.items():
                existing = ""
                if old_tree is not None:
                    existing = _note_text_in_tree(repo, old_tree, blob_hex)
                blobs[blob_hex] = repo.create_blob(merge_note_text(existing, lines).encode("utf-8"))
            tree_id = _update_tree(repo, old_tree, blobs)
            commit_id = repo.create_commit(None, sig, sig, self.message, tree_id, [old_commit.id] if old_commit else [])
        proc = run(repo.workdir or repo.path, "update-ref", "-m", self.message, self.ref, str(commit_id),
                   str(old_commit.id) if old_commit else _ZERO, text=True)
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
