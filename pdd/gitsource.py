"""The old home of the plumbing snapshots and the notes reader, now
:mod:`pdd.provenance.source` (and :mod:`pdd.git` for ``BlobReader``/``git``).

Re-exports only, so other branches keep working; the lead removes this module.
"""

from __future__ import annotations

from pdd.git import BlobReader, git, rev_exists  # noqa: F401
from pdd.provenance.record import NOTES_REF  # noqa: F401
from pdd.provenance.source import (  # noqa: F401
    EMPTY_TREE,
    GITLINK_PREFIX,
    Notes,
    NotesReader,
    NotesRefError,
    Snapshot,
    _decode,
    _name_status,
    _parse_entries,
    check_notes_ref,
    not_a_notes_commit,
    notes_tree_problem,
    snapshot,
    staged_changes,
)
