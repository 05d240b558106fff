"""Where blob ids, texts and notes of a path come from: the one protocol, three states.

A :class:`Source` answers, for a repository-relative POSIX path: its blob id
(:meth:`~Source.blob`), its text (:meth:`~Source.read_text`), whether it is a given
blob (:meth:`~Source.matches`) and the note records on its blob
(:meth:`~Source.provenance`). Implementations:

* :class:`Snapshot` of git's **index** or of a **commit** (``kind`` ``"index"`` or a
  tree-ish), or of the **working tree** as git sees it (``kind="worktree"``: the index
  corrected by ``diff-files`` and the untracked files, those hashed by ``git
  hash-object`` with git's filters) — through git plumbing only (``ls-files``,
  ``ls-tree``, ``diff-files``, ``hash-object``, ``cat-file --batch``), no pygit2:
  the pre-commit hook's and ``pdd check``'s light path;
* :class:`WorktreeSource`: the working tree read file by file from disk, for ``pdd
  build`` (whose files change as it writes them), ``status`` and ``explain``. Its blob
  id is the plain hash of the bytes first (cheap, and right unless a filter applies),
  then — **the one place of the filtered-hash fallback** — the id with the
  repository's filters (``core.autocrlf``, ``.gitattributes`` ``eol``/``text``), which
  equals what ``git add`` stores and what the notes name.

:class:`Notes` reads the notes of blobs from :data:`NOTES_REF` and the remote-tracking
notes refs (:func:`pdd.provenance.record.notes_refs`), through git plumbing: a lookup
per blob when few are wanted, or one listing of each notes tree (flat or fanout).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pdd.errors import UsageError
from pdd.git import BlobReader, git, run
from pdd.provenance.record import (FETCH_NOTES, NOTES_REF, TRACKING_PREFIX, NoteRecord, notes_refs, parse_note,
                                   records_for_path)

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
GITLINK_PREFIX = "gitlink:"  # snapshot value of a submodule entry (not a blob id)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import pygit2


def git_blob_id(data: bytes) -> str:
    """The git blob id (SHA-1 hex) of ``data``, as ``git hash-object --no-filters``
    computes it (git's object format: ``blob <size>\\0<data>``)."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Source(Protocol):
    """Blob id, text and notes of a path in one state of the repository."""

    kind: str
    notes: "Notes | None"

    def blob(self, path: str) -> str | None:
        """The blob id of ``path`` (what ``git add`` stores), or ``None`` if absent."""

    def read_text(self, path: str) -> str | None:
        """UTF-8 text of ``path`` or ``None`` if absent; :class:`pdd.errors.InputError` (exit 2) if not UTF-8."""

    def matches(self, path: str, blob: Any) -> bool:
        """True if ``path`` is present and is blob ``blob``."""

    def provenance(self, path: str) -> "tuple[str | None, list[NoteRecord], list[str]]":
        """``(blob, records, other_paths)``: ``path``'s blob id (``None`` if absent), the
        records of its note naming ``path`` (newest last) and the paths its other records name."""


def _provenance(notes: "Notes | None", blob: str, path: str) -> "tuple[list[NoteRecord], list[str]]":
    if notes is None:
        return [], []
    records = notes.records(blob)
    return records_for_path(records, path), sorted({r.path for r in records if r.path and r.path != path})


@dataclass
class Snapshot:
    """Paths to blob ids of one state of the repository: ``kind`` is ``index`` or a tree-ish."""

    root: Path
    kind: str
    blobs: dict[str, str]
    reader: BlobReader
    # Working-tree files that differ from git's index (``kind="worktree"``): read from
    # disk, since their blob ids (hashed with git's filters) are not in the object store.
    files: dict[str, Path] = field(default_factory=dict)
    notes: "Notes | None" = None

    def blob(self, path: str) -> str | None:
        """The blob id of ``path`` in this snapshot, or ``None`` if absent."""
        return self.blobs.get(path)

    def matches(self, path: str, blob: Any) -> bool:
        """True if ``path`` is blob ``blob`` in this snapshot."""
        return isinstance(blob, str) and bool(blob) and self.blobs.get(path) == blob

    def provenance(self, path: str) -> "tuple[str | None, list[NoteRecord], list[str]]":
        """See :meth:`Source.provenance`; needs :attr:`notes` (else no records)."""
        blob = self.blobs.get(path)
        if blob is None:
            return None, [], []
        return (blob, *_provenance(self.notes, blob, path))

    def read(self, path: str) -> bytes | None:
        """Contents of ``path`` in this snapshot, or ``None`` if absent."""
        blob = self.blobs.get(path)
        if blob is not None and path in self.files:
            return self.files[path].read_bytes()
        return None if blob is None else self.reader.read(blob)

    def read_text(self, path: str) -> str | None:
        """Contents of ``path`` as UTF-8 text, or ``None`` if absent. Raises
        :class:`pdd.errors.InputError` (exit 2) naming the file if it is not UTF-8."""
        data = self.read(path)
        return None if data is None else _decode(path, data)

    def read_texts(self, paths: "list[str]") -> dict[str, str]:
        """Contents of ``paths`` (those present) as text, read in one batch."""
        ids = {p: self.blobs[p] for p in paths if p in self.blobs and p not in self.files}
        data = self.reader.read_many(list(ids.values()))
        texts = {p: _decode(p, data[b]) for p, b in ids.items() if b in data}
        for p in paths:
            if p in self.blobs and p in self.files:
                texts[p] = _decode(p, self.files[p].read_bytes())
        return texts

    def under(self, folder: str) -> dict[str, str]:
        """Entries under ``folder/``."""
        prefix = folder.rstrip("/") + "/"
        return {p: b for p, b in self.blobs.items() if p.startswith(prefix)}


def _decode(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        from pdd.errors import InputError

        raise InputError(path, data.count(b"\n", 0, exc.start) + 1, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                         hint="save the file as UTF-8") from None


def _parse_entries(out: bytes, index: bool) -> dict[str, str]:
    entries: dict[str, str] = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, _, path = rec.partition(b"\t")
        fields = meta.split()
        if index:  # mode blob stage
            mode, blob, stage = fields[0], fields[1], fields[2]
            if stage != b"0":
                continue
        else:  # mode type blob
            mode, kind, blob = fields[0], fields[1], fields[2]
            if kind not in (b"blob", b"commit"):  # commit: a submodule (gitlink)
                continue
        key = path.decode("utf-8", "surrogateescape")
        if mode.startswith(b"160"):  # a submodule (gitlink): never pdd's output; kept so checks can say so
            entries[key] = GITLINK_PREFIX + blob.decode("ascii")
            continue
        entries[key] = blob.decode("ascii")
    return entries


def snapshot(root: Path, kind: str, pathspecs: list[str] | None = None, reader: BlobReader | None = None) -> Snapshot:
    """Snapshot of the index (``kind="index"``), the working tree (``"worktree"``) or
    tree-ish ``kind`` (e.g. ``HEAD``), restricted to ``pathspecs`` if given.

    The working tree is git's index corrected by what git says differs from it:
    ``git diff-files`` (modified, deleted) and ``git ls-files --others
    --exclude-standard`` (untracked, not ignored). Only those files are hashed, with
    ``git hash-object --stdin-paths`` (git's own filters, e.g. CRLF conversion, so a
    blob id equals the one ``git add`` would store); nothing is written to git."""
    specs = ["--", *pathspecs] if pathspecs else []
    if kind == "worktree":
        blobs = _parse_entries(git(root, "ls-files", "-s", "-z", *specs), index=True)
        changed = _name_status(git(root, "diff-files", "-z", "--no-renames", "--name-status", *specs))
        untracked = [p.decode("utf-8", "surrogateescape")
                     for p in git(root, "ls-files", "-z", "--others", "--exclude-standard", *specs).split(b"\0") if p]
        present = [p for p, st in changed.items() if st != "D" and (root / p).is_file()] + untracked
        for p, st in changed.items():
            if p not in present and not blobs.get(p, "").startswith(GITLINK_PREFIX):
                blobs.pop(p, None)  # deleted from the working tree
        files: dict[str, Path] = {}
        if present:
            hashed = git(root, "hash-object", "--stdin-paths", input="".join(p + "\n" for p in present).encode("utf-8"))
            for p, blob in zip(present, hashed.decode("ascii").split()):
                blobs[p] = blob
                files[p] = root / p
        return Snapshot(root=root, kind=kind, blobs=blobs, reader=reader or BlobReader(root), files=files)
    if kind == "index":
        out = git(root, "ls-files", "-s", "-z", *specs)
        blobs = _parse_entries(out, index=True)
    else:
        out = git(root, "ls-tree", "-r", "-z", "--full-tree", kind, *specs)
        blobs = _parse_entries(out, index=False)
    return Snapshot(root=root, kind=kind, blobs=blobs, reader=reader or BlobReader(root))


def staged_changes(root: Path) -> dict[str, str]:
    """Paths staged for commit (relative to HEAD, or to the empty tree before the
    first commit) with their status letter (A, M, D, T; renames appear as D + A)."""
    args = ("diff-index", "--cached", "-z", "--no-renames", "--name-status")
    proc = run(root, *args, "HEAD")
    return _name_status(proc.stdout if proc.returncode == 0 else git(root, *args, EMPTY_TREE))  # before the first commit


def _name_status(out: bytes) -> dict[str, str]:
    """``git diff-* -z --name-status`` output -> {path: status letter}."""
    parts = [p for p in out.split(b"\0") if p]
    return {parts[i + 1].decode("utf-8", "surrogateescape"): parts[i].decode("ascii")[:1] for i in range(0, len(parts) - 1, 2)}


_HEX = frozenset("0123456789abcdef")


class NotesRefError(UsageError):
    """A notes ref does not point at a notes commit (exit 2)."""


def notes_tree_problem(entries: "list[tuple[str, str]]") -> str | None:
    """Why a tree whose top-level entries are ``(name, type)`` pairs (type ``blob`` or
    ``tree``...) is not a notes tree, or ``None``. In a notes tree (git-notes(1)) every
    entry is a note blob named by the full hex id of the annotated object (40 or 64
    digits) or a fanout folder named by two hex digits."""
    for name, kind in entries:
        hexname = len(name) > 0 and set(name) <= _HEX
        if kind == "blob" and hexname and len(name) in (40, 64):
            continue
        if kind == "tree" and hexname and len(name) == 2:
            continue
        return f"its tree has {kind} {name!r}, which is not a note"
    return None


def not_a_notes_commit(ref: str, why: str) -> NotesRefError:
    """The error for a notes ``ref`` that is not a notes commit, with how to mend it."""
    return NotesRefError(
        f"{ref} is not a notes commit: {why}",
        hint=f"save what it points at (git update-ref refs/pdd-saved/notes {ref}), then delete it "
             f"(git update-ref -d {ref}) and run `pdd build` to write fresh notes, or fetch the shared ones "
             f"(`{FETCH_NOTES}`); notes are only ever written with `pdd build` or `git notes --ref pdd ...`",
    )


# Tree entry modes (git's tree object format) -> the object type `git ls-tree` names.
_MODE_TYPES = {b"40000": "tree", b"160000": "commit"}


def tree_entries(data: bytes) -> "list[tuple[str, str]] | None":
    """``(name, type)`` of each entry of a raw git tree object with SHA-1 ids
    (``cat-file`` output; git's tree format: ``<octal mode> <name>\\0<20-byte id>``
    per entry), type ``tree``, ``commit`` (a gitlink) or ``blob`` as ``git ls-tree``
    names them; ``None`` unless the data parses exactly so (e.g. a SHA-256 repository)."""
    entries, pos = [], 0
    try:
        while pos < len(data):
            space = data.index(b" ", pos)
            nul = data.index(b"\0", space)
            mode = data[pos:space]
            if not mode.isdigit():
                return None
            entries.append((data[space + 1:nul].decode("utf-8", "replace"), _MODE_TYPES.get(mode, "blob")))
            pos = nul + 21
    except ValueError:
        return None
    return entries if pos == len(data) else None


def check_notes_ref(root: Path, ref: str, objtype: str, reader: BlobReader | None = None) -> None:
    """Raise :class:`NotesRefError` unless ``ref`` (of object type ``objtype``) is a
    notes commit: a commit whose tree is a notes tree (:func:`notes_tree_problem`).
    With ``reader`` the tree is read through its ``cat-file`` process (no subprocess
    of its own: the hook's path)."""
    if objtype != "commit":
        raise not_a_notes_commit(ref, f"it points at a {objtype or 'missing object'}")
    data = reader.read(f"{ref}^{{tree}}") if reader is not None else None
    entries = tree_entries(data) if data is not None else None
    if entries is None:
        entries = []
        for rec in git(root, "ls-tree", "-z", ref).split(b"\0"):
            meta, _, name = rec.partition(b"\t")
            fields = meta.split()
            if len(fields) == 3:
                entries.append((name.decode("utf-8", "replace"), fields[1].decode("ascii", "replace")))
    why = notes_tree_problem(entries)
    if why:
        raise not_a_notes_commit(ref, why)


class Notes:
    """Reads ``refs/notes/pdd`` notes of blobs through git plumbing (flat or fanout trees).

    A blob with no note in ``refs/notes/pdd`` is looked up in the remote-tracking
    notes refs ``refs/notes/remotes/<remote>/pdd`` too: a plain ``git fetch`` (with
    the refspec ``pdd init`` adds) brings the remote's notes there before ``pdd
    notes sync`` merges them, and a file built and pushed elsewhere must not look
    edited in the meantime. ``exists`` is true if any of these refs exists.
    """

    def __init__(self, root: Path, reader: BlobReader | None = None, ref: str = NOTES_REF) -> None:
        self.root = root
        self.reader = reader or BlobReader(root)
        self.ref = ref
        listed = git(root, "for-each-ref", "--format=%(objecttype) %(refname)", ref, TRACKING_PREFIX).decode()
        types = {name: kind for kind, _, name in (ln.partition(" ") for ln in listed.splitlines()) if name}
        self.refs = notes_refs(list(types), ref)
        for r in self.refs:
            check_notes_ref(root, r, types[r], self.reader)
        self.exists = bool(self.refs)
        self._cache: dict[str, str | None] = {}
        self._records: dict[str, list[NoteRecord]] = {}
        self._listing: dict[str, list[str]] | None = None
        self._lock = threading.Lock()  # one cat-file process: one reader at a time (build's workers)

    def _list(self) -> dict[str, list[str]]:
        """{annotated blob id: [note blob ids]}: one ``ls-tree -r`` of each notes tree."""
        if self._listing is None:
            wanted: dict[str, list[str]] = {}
            for ref in self.refs:
                for rec in git(self.root, "ls-tree", "-r", "-z", ref).decode("utf-8", "replace").split("\0"):
                    if rec.startswith("100644 blob "):  # all but always: "100644 blob <id>\t<path>", sliced
                        tab = rec.find("\t", 12)
                        key, note = rec[tab + 1:].replace("/", ""), rec[12:tab]
                    else:
                        meta, _, path = rec.partition("\t")
                        fields = meta.split()
                        if len(fields) != 3 or fields[1] != "blob":
                            continue
                        key, note = path.replace("/", ""), fields[2]
                    got = wanted.get(key)
                    if got is None:
                        wanted[key] = [note]
                    else:
                        got.append(note)
            self._listing = wanted
        return self._listing

    def load_listing(self) -> None:
        """List every notes tree now (one ``ls-tree`` each): later lookups are dict
        accesses plus one read of the note. For many lookups (a build)."""
        with self._lock:
            self._list()

    def records(self, blob: str) -> list[NoteRecord]:
        """The valid records of ``blob``'s note (empty if none), parsed once; a malformed
        line is reported on stderr and skipped (:func:`pdd.provenance.record.parse_note`)."""
        got = self._records.get(blob)
        if got is None:
            text = self.note(blob)
            got = parse_note(text, f"the note on blob {blob[:12]}") if text else []
            self._records[blob] = got
        return got

    def prefetch(self, blobs: "list[str]") -> None:
        """Load the notes of many ``blobs`` at once: one listing of each notes tree
        (flat or fanout) and one batch read, instead of a lookup per blob."""
        with self._lock:
            wanted = self._list()
            data = self.reader.read_many([n for b in blobs for n in wanted.get(b, [])])
        for b in blobs:
            texts = [data[n].decode("utf-8", "replace") for n in wanted.get(b, []) if n in data]
            self._cache[b] = "\n".join(texts) if texts else None

    def note(self, blob: str) -> str | None:
        """Note text of ``blob``: its notes in ``refs/notes/pdd`` and the remote-tracking
        notes refs, joined (records are lines, so merging is concatenation), or ``None``."""
        if blob in self._cache:
            return self._cache[blob]
        texts = []
        with self._lock:
            if self._listing is not None:
                for n in self._listing.get(blob, []):
                    data = self.reader.read(n)
                    if data is not None:
                        texts.append(data.decode("utf-8", "replace"))
            else:
                for ref in self.refs:
                    for path in (blob, f"{blob[:2]}/{blob[2:]}", f"{blob[:2]}/{blob[2:4]}/{blob[4:]}"):
                        data = self.reader.read(f"{ref}:{path}")
                        if data is not None:
                            texts.append(data.decode("utf-8", "replace"))
                            break
        return "\n".join(texts) if texts else None

    def for_path(self, blob: str, path: str) -> list[NoteRecord]:
        """The records of ``blob``'s note naming ``path``, newest ``time`` last."""
        return _provenance(self, blob, path)[0]

    def close(self) -> None:
        """Stop the cat-file process (it restarts on the next read)."""
        with self._lock:
            self.reader.close()





class WorktreeSource:
    """The working tree, file by file from disk (see the module docstring), with the
    notes of :class:`Notes`. ``repo``: an open ``pygit2.Repository`` (or a callable
    returning one, called when a filtered hash is first needed) to hash with the
    repository's end-of-line filters in-process; without it, or for a path with a
    ``filter`` attribute (a clean filter driver, which libgit2 does not run), ``git
    hash-object`` (a subprocess) does.
    Nothing is cached: a build rewrites files while it runs."""

    kind = "worktree"

    def __init__(self, root: Path, notes: "Notes | None" = None,
                 repo: "pygit2.Repository | Callable[[], pygit2.Repository] | None" = None) -> None:
        self.root = root
        self.notes = notes
        self._repo = repo

    @property
    def repo(self) -> "pygit2.Repository | None":
        """The repository hashing with filters, opened on first use (``None``: none given)."""
        if callable(self._repo):
            self._repo = self._repo()
        return self._repo

    def read(self, path: str) -> bytes | None:
        """Bytes of working-tree file ``path``, or ``None`` if absent (or a folder)."""
        try:
            with open(f"{self.root}/{path}", "rb") as fh:
                return fh.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def read_text(self, path: str) -> str | None:
        data = self.read(path)
        return None if data is None else _decode(path, data)

    def filtered_blob(self, path: str) -> str | None:
        """The blob id ``git add`` would store for ``path`` (the repository's filters
        applied), or ``None`` if absent. Raises :class:`OSError` if unreadable."""
        import os

        if not os.path.isfile(f"{self.root}/{path}"):
            return None
        if self.repo is not None:  # in-process, unless a clean filter applies: libgit2 does not run filter drivers
            try:
                if self.repo.get_attr(path, "filter") is None:
                    return str(self.repo.hashfile(path))
            except Exception as exc:  # pygit2.GitError for an unreadable file
                raise OSError(f"{path}: {exc}") from None
        proc = run(self.root, "hash-object", "--", path)
        if proc.returncode != 0:
            raise OSError(f"{path}: {proc.stderr.decode('utf-8', 'replace').strip()}")
        return proc.stdout.decode("ascii").strip()

    def blob(self, path: str) -> str | None:
        """The blob id of ``path`` as the index and the notes name it (filters applied)."""
        return self.filtered_blob(path)

    def matches(self, path: str, blob: Any) -> bool:
        """True if ``path`` is blob ``blob``: the plain hash first, then the filtered one.
        Raises :class:`OSError` if unreadable."""
        if not isinstance(blob, str) or not blob:
            return False
        data = self.read(path)
        if data is None:
            return False
        return git_blob_id(data) == blob or self.filtered_blob(path) == blob

    def provenance(self, path: str) -> "tuple[str | None, list[NoteRecord], list[str]]":
        """See :meth:`Source.provenance`: the plain hash's note first; if it has no record
        for ``path``, the filtered hash's (a CRLF checkout, a clean filter)."""
        data = self.read(path)
        if data is None:
            return None, [], []
        blob = git_blob_id(data)
        records, others = _provenance(self.notes, blob, path)
        if not records and self.notes is not None and self.notes.exists:
            filtered = self.filtered_blob(path)
            if filtered is not None and filtered != blob:
                blob = filtered
                records, others = _provenance(self.notes, blob, path)
        return blob, records, others
