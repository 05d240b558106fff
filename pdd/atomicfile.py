"""Atomic file writes: a temporary file, fsync, rename, then fsync of the folder.

A reader (or a crash, or Ctrl-C) sees either the old file or the new one, never a
half-written one (POSIX ``rename(2)`` atomicity within one filesystem); the fsync
of the folder after the rename makes the rename itself durable (``fsync(2)``: a
file's fsync does not cover the directory entry).
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, *, mode: int = 0o644, tmp_dir: Path | None = None) -> None:
    """Replace ``path`` with ``data`` (str is written as UTF-8) atomically.

    ``tmp_dir``: where the temporary file is made (default: ``path``'s folder), e.g.
    ``.pdd/cache/tmp`` so that a crash never leaves a file that looks like output in
    ``generated/``; it must be on the same filesystem (if the rename fails with
    ``EXDEV`` the write is redone in ``path``'s folder). Creates missing parent
    folders. Raises :class:`OSError` on failure, leaving the old file untouched and
    no temporary file behind.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    if tmp_dir is not None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
    folder = tmp_dir if tmp_dir is not None else path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            if exc.errno != errno.EXDEV or tmp_dir is None:
                raise
            os.unlink(tmp)
            write_atomic(path, payload, mode=mode)
            return
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """fsync ``folder`` so a rename or creation in it survives a power loss; a
    filesystem that cannot fsync a directory (some network filesystems) is ignored."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
