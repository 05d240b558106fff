"""What survives a crash: the repository lock, temporary files, interrupted fixes.

* **Lock** (:func:`repo_lock`): ``pdd build`` and ``pdd fix`` hold an exclusive
  ``flock(2)`` on ``.pdd/cache/build.lock`` while they read provenance and write
  ``generated/``, so a second build in the same repository waits (saying so) instead
  of judging a file its twin has just written as "edited by hand". The kernel
  drops the lock when the holder dies, even by SIGKILL. Re-entrant within one
  process (``pdd fix`` regenerates through a build).
* **Temporary files** of atomic writes into ``generated/`` live in
  :func:`tmp_folder` (``.pdd/cache/tmp/``, ignored by git), never next to the
  output; :func:`clean_leftovers`, run under the lock, removes them and any
  ``generated/**/.NAME.XXXXXXXX.tmp`` an older pdd left.
* **Interrupted fixes**: before ``pdd fix`` applies a revision it copies the
  original prompt into its own ``.pdd/fix/<id>/original/``
  and writes ``.pdd/fix/<id>/pending.json``; a fix that ends removes it. One
  that was killed is named by :func:`interrupted_fixes` with how to restore it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

LOCK_RELPATH = ".pdd/cache/build.lock"
TMP_RELPATH = ".pdd/cache/tmp"
FIX_RELPATH = ".pdd/fix"
PENDING = "pending.json"
# tempfile.mkstemp names: prefix ".NAME.", 8 characters of [a-z0-9_], suffix ".tmp"
_TMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
DEFAULT_LOCK_TIMEOUT = 600.0

_held: dict[str, list] = {}  # real lock path -> [fd, depth]
_held_lock = threading.Lock()


def tmp_folder(root: Path) -> Path:
    """``ROOT/.pdd/cache/tmp``: where atomic writes into ``generated/`` make their temporary files."""
    return root / TMP_RELPATH


def lock_timeout() -> float:
    """Seconds a build waits for another one: ``PDD_LOCK_TIMEOUT`` (default 600)."""
    try:
        value = float(os.environ.get("PDD_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT
    return value if value >= 0 else DEFAULT_LOCK_TIMEOUT


@contextmanager
def repo_lock(root: Path, command: str, *, notify: Callable[[str], None] | None = None,
              timeout: float | None = None) -> Iterator[None]:
    """Hold the repository's build lock for the block.

    Busy: ``notify`` (default: stderr) is told once who holds it, then the lock is
    polled until ``timeout`` seconds (default :func:`lock_timeout`) have passed,
    when :class:`pdd.errors.UsageError` (exit 2) is raised. Re-entrant per process.
    """
    import fcntl

    from pdd.errors import UsageError

    path = root / LOCK_RELPATH
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(path)
    with _held_lock:
        if key in _held:
            _held[key][1] += 1
            entered = True
        else:
            entered = False
    if entered:
        try:
            yield
        finally:
            with _held_lock:
                _held[key][1] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        limit = lock_timeout() if timeout is None else timeout
        deadline = time.monotonic() + limit
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    told = True
                    (notify or _stderr)(f"waiting: another pdd is running in this repository ({_holder(path)}); "
                                        f"it will wait up to {limit:g} s (PDD_LOCK_TIMEOUT); Ctrl-C to stop")
                if time.monotonic() >= deadline:
                    raise UsageError(f"another pdd is still running in this repository ({_holder(path)}) "
                                     f"after {limit:g} s; not starting {command}",
                                     hint="wait for it to finish, then run the command again "
                                          "(or raise PDD_LOCK_TIMEOUT)") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command}).encode(), 0)
        with _held_lock:
            _held[key] = [fd, 1]
        try:
            yield
        finally:
            with _held_lock:
                del _held[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        return f"pdd {info.get('command', '?')}, pid {info.get('pid', '?')}"
    except (OSError, ValueError, AttributeError):
        return "pid unknown"


def _stderr(text: str) -> None:
    print(f"pdd: {text}", file=sys.stderr, flush=True)


def stray_temp_files(root: Path, generated: str = "generated") -> list[str]:
    """Repo-relative paths of temporary files an interrupted write left: any in
    :func:`tmp_folder`, and ``.NAME.XXXXXXXX.tmp`` files under ``generated/``."""
    out = []
    tmp = tmp_folder(root)
    if tmp.is_dir():
        out += [p.relative_to(root).as_posix() for p in sorted(tmp.iterdir())]
    gen = root / generated
    if gen.is_dir():
        for dirpath, dirnames, filenames in os.walk(gen):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                if _TMP_NAME.match(name):
                    out.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(out)


def clean_leftovers(root: Path, generated: str = "generated") -> list[str]:
    """Remove :func:`stray_temp_files` (call with :func:`repo_lock` held, so no
    running write owns them); return what was removed (repo-relative)."""
    removed = []
    for rel in stray_temp_files(root, generated):
        p = root / rel
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(rel)
        except FileNotFoundError:
            pass
    return removed


# -- pdd fix's saved copies ------------------------------------------------------------------


_counter = 0
_counter_lock = threading.Lock()


def new_fix_folder(root: Path) -> Path:
    """A new folder ``.pdd/fix/<UTC time to the microsecond>-<pid>-<n>/``, created with
    ``exist_ok=False`` so two fixes never share (and overwrite) one."""
    from datetime import datetime, timezone

    global _counter
    base = root / FIX_RELPATH
    base.mkdir(parents=True, exist_ok=True)
    while True:
        with _counter_lock:
            _counter += 1
            n = _counter
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        folder = base / f"{stamp}-{os.getpid()}-{n}"
        try:
            folder.mkdir(exist_ok=False)
            return folder
        except FileExistsError:
            continue


def save_original(folder: Path, module: str, prompt_rel: str, output_rel: str, prompt_bytes: bytes) -> None:
    """Copy the original prompt into ``folder/original/`` and write ``folder/pending.json``,
    before a fix changes the prompt. (The generated file needs no copy: it is genuine,
    and ``pdd build`` remakes it from the restored prompt.) Raises :class:`OSError`."""
    from pdd.atomicfile import write_atomic

    write_atomic(folder / "original" / prompt_rel, prompt_bytes)
    write_atomic(folder / PENDING, json.dumps({"module": module, "prompt": prompt_rel, "output": output_rel,
                                               "pid": os.getpid()}, sort_keys=True) + "\n")


def finish_fix(folder: Path | None) -> None:
    """The fix in ``folder`` ended (fixed, or restored): it is no longer pending."""
    if folder is not None:
        try:
            (folder / PENDING).unlink()
        except FileNotFoundError:
            pass


@dataclass(frozen=True)
class InterruptedFix:
    """A ``pdd fix`` that was killed after changing ``prompt``; ``saved``: the copy of
    the original prompt; ``folder``: its ``.pdd/fix/<id>`` (all repo-relative)."""

    module: str
    prompt: str
    saved: str
    folder: str

    def advice(self) -> str:
        if self.module == "?":
            return (f"an interrupted `pdd fix` left an unreadable {self.folder}/{PENDING}: the original prompt is "
                    f"under {self.saved}/; copy it back over the revised prompt, `pdd build`, then "
                    f"`rm {self.folder}/{PENDING}`")
        return (f"an interrupted `pdd fix` of {self.module} left {self.prompt} revised: restore it with "
                f"`cp {self.saved} {self.prompt} && pdd build {self.module}`; to keep the revision instead, "
                f"`rm {self.folder}/{PENDING}`")

    def to_json(self) -> dict[str, str]:
        return {"module": self.module, "prompt": self.prompt, "saved": self.saved, "folder": self.folder,
                "advice": self.advice()}


def interrupted_fixes(root: Path) -> list[InterruptedFix]:
    """Fixes whose ``pending.json`` remains although their pdd is gone, and whose
    prompt still differs from the saved original (a restored prompt needs nothing);
    oldest first. An unreadable ``pending.json`` is named too (module ``?``)."""
    from pdd.sandbox import _alive

    base = root / FIX_RELPATH
    out: list[InterruptedFix] = []
    if not base.is_dir():
        return out
    for pending in sorted(base.glob(f"*/{PENDING}")):
        folder = pending.parent
        try:
            info = json.loads(pending.read_text(encoding="utf-8"))
            module, prompt, pid = str(info["module"]), str(info["prompt"]), int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):  # named, never skipped: the copy is what remains
            rel = folder.relative_to(root).as_posix()
            out.append(InterruptedFix("?", "?", f"{rel}/original", rel))
            continue
        if pid == os.getpid() or _alive(pid) and _lock_busy(root):
            continue  # this very fix, or one still running
        saved = folder / "original" / prompt
        try:
            if (root / prompt).read_bytes() == saved.read_bytes():
                continue
        except FileNotFoundError:
            pass
        out.append(InterruptedFix(module, prompt, saved.relative_to(root).as_posix(),
                                  folder.relative_to(root).as_posix()))
    return out


def _lock_busy(root: Path) -> bool:
    import fcntl

    try:
        fd = os.open(root / LOCK_RELPATH, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
