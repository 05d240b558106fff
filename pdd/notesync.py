"""Notes that travel: remote fetch refspecs and ``pdd notes sync``.

``git fetch`` brings a remote's notes into the remote-tracking notes ref
``refs/notes/remotes/<remote>/pdd`` (a forced refspec onto that ref only; never
onto ``refs/notes/pdd``, which would silently drop unpushed local notes).
``sync`` then merges it into ``refs/notes/pdd`` with git's ``cat_sort_uniq``
strategy (note lines are sorted, unique JSON objects, so merges never conflict)
and pushes; if a concurrent push wins, it fetches, merges and pushes again, a
bounded number of times.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from pdd.errors import PddError, UsageError
from pdd.git import rev_exists, run
from pdd.provenance.record import NOTES_REF, tracking_ref

MAX_SYNC_TRIES = 5


class SyncError(PddError):
    """``pdd notes sync`` could not push (exit 1)."""

    exit_code = 1


def fetch_refspec(remote: str) -> str:
    return f"+{NOTES_REF}:{tracking_ref(remote)}"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(root, *args, text=True)


def remotes(root: Path) -> list[str]:
    out = _git(root, "remote")
    return [r for r in out.stdout.split() if r]


def configure_remote(root: Path, remote: str) -> bool:
    """Add the notes fetch refspec to ``remote`` if absent; True if added."""
    existing = _git(root, "config", "--get-all", f"remote.{remote}.fetch").stdout.split()
    spec = fetch_refspec(remote)
    if spec in existing:
        return False
    run(root, "config", "--add", f"remote.{remote}.fetch", spec, check=True)
    return True


def share_advice(root: Path) -> str:
    """What to run to share the notes, for the state the repository is in: with no
    remote, how to add one; otherwise ``pdd notes sync``, which works whether the
    remote has notes yet or not (fetch tolerates their absence, then merge, push)."""
    names = remotes(root)
    if not names:
        return ("notes written to refs/notes/pdd; this repository has no git remote, so they stay here. "
                "After `git remote add origin URL`, share them with `pdd notes sync`")
    remote = "origin" if "origin" in names else names[0]
    return f"notes written to refs/notes/pdd; share them with `pdd notes sync{'' if remote == 'origin' else ' ' + remote}`"


def sync(root: Path, remote: str = "origin") -> list[str]:
    """Fetch, merge (``cat_sort_uniq``) and push the notes; return what was done.

    Raises :class:`UsageError` for an unknown remote and :class:`SyncError` when
    the push still fails after :data:`MAX_SYNC_TRIES` rounds.
    """
    if remote not in remotes(root):
        raise UsageError(f"no git remote named {remote!r}", hint="git remote -v lists them; pdd notes sync REMOTE")
    done = []
    if configure_remote(root, remote):
        done.append(f"configured `git fetch {remote}` to fetch the notes into {tracking_ref(remote)}")
    run(root, "config", "notes.pdd.mergeStrategy", "cat_sort_uniq", check=True)
    last_error = ""
    for attempt in range(1, MAX_SYNC_TRIES + 1):
        fetched = _git(root, "fetch", remote, fetch_refspec(remote))
        if fetched.returncode != 0 and "couldn't find remote ref" not in fetched.stderr:
            raise SyncError(f"git fetch {remote} failed: {fetched.stderr.strip()}")
        if rev_exists(root, tracking_ref(remote)):
            merged = _git(root, "notes", "--ref", NOTES_REF, "merge", "-s", "cat_sort_uniq", "-q", tracking_ref(remote))
            if merged.returncode != 0:
                raise SyncError(f"git notes merge failed: {merged.stderr.strip()}")
        if not rev_exists(root, NOTES_REF):
            done.append("no notes here or on the remote yet: nothing to push (`pdd build` writes them)")
            return done
        pushed = _git(root, "push", "-q", remote, f"{NOTES_REF}:{NOTES_REF}")
        if pushed.returncode == 0:
            done.append(f"notes merged with {remote} and pushed (round {attempt})")
            return done
        last_error = pushed.stderr.strip()
        time.sleep(0.2 * attempt)
    raise SyncError(f"could not push the notes to {remote} after {MAX_SYNC_TRIES} rounds: {last_error}",
                    hint="someone else keeps pushing; run `pdd notes sync` again")
