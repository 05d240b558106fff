"""Paths that must stay inside the repository.

pdd reads prompts and fragments and writes recordings and run records by
repo-relative paths. A symlink (or an absolute or ``..`` path) there must not make
pdd send a file from elsewhere to the model or write outside the repository, so
every such path is resolved (:func:`os.path.realpath`, following every symlink
on the way) and refused unless it lies under the repository's resolved root.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pdd.errors import InputError, UsageError


@functools.lru_cache(maxsize=16)
def _real_root(root: str) -> str:
    """The resolved repository root, once per process (a prompt listing asks per file)."""
    return os.path.realpath(root)


def escapes(root: Path, path: "Path | str") -> bool:
    """True if ``path`` (absolute, or relative to ``root``), with every symlink on the
    way followed, is not ``root`` itself or under it. A path that does not exist yet
    is judged by its deepest existing folder."""
    root_s = os.fspath(root)
    real_root = _real_root(root_s) if os.path.isabs(root_s) else os.path.realpath(root_s)  # a relative one follows chdir
    real = os.path.realpath(os.path.join(root, path))
    return os.path.commonpath([real_root, real]) != real_root


def require_inside(root: Path, rel: str, what: str) -> Path:
    """``root/rel``, or :class:`UsageError` (exit 2) if it leads outside the repository
    (absolute, ``..``, or through a symlink). ``what`` names the setting or folder."""
    if escapes(root, rel):
        target = os.path.realpath(os.path.join(root, rel))
        raise UsageError(f"{what} ({rel}) leads outside the repository, to {target}; nothing was written",
                         hint=f"make {rel} a real folder inside the repository (remove the symlink or fix the setting)")
    return root / rel


def require_file_inside(root: Path, rel: str, kind: str = "prompt file") -> None:
    """Raise :class:`InputError` (exit 2) naming ``rel`` if the file is a symlink
    (or under one) that points outside the repository: its content is never read."""
    if escapes(root, rel):
        raise InputError(rel, None, f"this {kind} is a symlink to {os.path.realpath(os.path.join(root, rel))}, "
                         "outside the repository; it is not read",
                         hint="copy the file into the repository instead of linking to it")
