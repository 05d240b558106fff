"""Project files a generated module uses: the ``uses`` front-matter key.

``uses: [src/shop/core.py]`` lists hand-written files of the project (outside
``generated/``) whose public interfaces are given to the model like a
dependency's (:mod:`pdd.interface`, the target's interface) and enter the fingerprint as interface digests
(SHA-256 of the interface text), so a change inside their function bodies does not
regenerate, while a changed signature or docstring does.

Import name of a used file (the target's rule): its path without ``.py``, ``/`` as ``.``, a leading
``src/`` dropped (the src layout), ``__init__`` naming its package:
``src/shop/core.py`` -> ``shop.core``; ``mylib/__init__.py`` -> ``mylib``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

from pdd import targets
from pdd.errors import InputError

#: The output language (:mod:`pdd.targets`): used files are in it; their import names are its.
TARGET = targets.get()


def check_uses(path: str, line: int | None, values: tuple[str, ...], generated_dir: str) -> tuple[str, ...]:
    """Validate the ``uses`` paths of prompt ``path`` (front-matter ``line``): relative,
    without ``..``, ending in ``.py``, each once, not under ``generated_dir`` (a
    generated module is a ``depends`` entry). Raises :class:`InputError`."""
    if len(set(values)) != len(values):
        raise InputError(path, line, "'uses' lists a file twice")
    for v in values:
        p = PurePosixPath(v)
        if "\\" in v or p.is_absolute() or ".." in p.parts:
            raise InputError(path, line, f"'uses' path {v!r} must be relative to the repository, with '/' and no '..'")
        if p.suffix != TARGET.SUFFIX:
            raise InputError(path, line, f"'uses' path {v!r} must be a {TARGET.LANGUAGE} file ({TARGET.SUFFIX})")
        if p.parts[0] == generated_dir:
            raise InputError(path, line, f"'uses' path {v!r} is generated code",
                             hint="list the generating prompt under 'depends' instead")
    return values


def used_interfaces(spec_path: str, line: int | None, uses: tuple[str, ...],
                    read: Callable[[str], str | None]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``([(import name, interface text)], {path: interface digest})`` of the used
    files, read with ``read(path) -> text or None``. Raises :class:`InputError`
    (naming prompt ``spec_path`` and its ``uses`` ``line``) for a missing file or
    one that does not parse."""
    from pdd.interface import interface_digest

    contexts: list[tuple[str, str]] = []
    digests: dict[str, str] = {}
    for rel in uses:
        text = read(rel)
        if text is None:
            raise InputError(spec_path, line, f"'uses' file {rel} does not exist",
                             hint="fix the path, or remove it from 'uses'")
        try:
            iface = TARGET.extract_interface(text, rel)
        except (SyntaxError, ValueError) as exc:
            raise InputError(spec_path, line, f"'uses' file {rel} does not parse: {exc}") from None
        contexts.append((TARGET.import_name(str(PurePosixPath(rel))), iface))
        digests[rel] = interface_digest(iface)
    return contexts, digests


def worktree_reader(root: Path) -> Callable[[str], str | None]:
    """A ``read(path)`` for :func:`used_interfaces` over the working tree at ``root``:
    the UTF-8 text of ``root/path``, or ``None`` if it is missing or unreadable."""

    def read(rel: str) -> str | None:
        try:
            return (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    return read
