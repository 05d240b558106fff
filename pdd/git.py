"""Every ``git`` subprocess pdd starts goes through this module.

Standard library only and no :mod:`pathlib` at run time, so the pre-commit hook's
import path stays light. pygit2 (used for object writes and walks) is not here; this
is the plumbing seam: :func:`git` for a call whose output is wanted, :func:`run`
for a call whose exit status matters, :func:`rev_exists`, and :class:`BlobReader`
(one long-lived ``git cat-file --batch``).

Errors: :func:`git` with ``check=True`` raises :class:`pdd.errors.UsageError`
(exit 2) naming the failed command and git's message.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from pdd.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path


def run(root: "Path | str | None", *args: str, input: "bytes | str | None" = None, text: bool = False,
        check: bool = False, env: "dict[str, str] | None" = None, timeout: "float | None" = None
        ) -> "subprocess.CompletedProcess":
    """Run ``git ARGS`` in ``root`` (``None``: the current folder), capturing stdout and
    stderr (bytes, or str with ``text``). Returns the completed process whatever its
    exit status, unless ``check``: then a non-zero status raises :class:`UsageError`."""
    proc = subprocess.run(["git", *args], cwd=root, input=input, capture_output=True, text=text, env=env,
                          timeout=timeout)
    if check and proc.returncode != 0:
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
        raise UsageError(f"git {' '.join(args[:3])} failed: {err.strip()}")
    return proc


def git(root: Path, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
    """Run ``git ARGS`` in ``root``; return stdout. Raises :class:`UsageError` on failure if ``check``."""
    return run(root, *args, input=input, check=check).stdout


def rev_exists(root: Path, rev: str) -> bool:
    """True if ``rev`` names an object."""
    return run(root, "rev-parse", "--verify", "--quiet", rev).returncode == 0


class BlobReader:
    """Reads objects through one ``git cat-file --batch`` process. Not thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            self._proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.root, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE)
        return self._proc

    def read(self, spec: str) -> bytes | None:
        """Contents of object ``spec`` (an id or ``rev:path``), or ``None`` if missing."""
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(spec.encode("utf-8") + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().decode("utf-8", "replace").split()
        if len(header) < 3 or header[-1] == "missing":
            return None
        size = int(header[2])
        data = proc.stdout.read(size)
        proc.stdout.read(1)  # the newline after the contents
        return data

    def read_many(self, specs: "list[str]") -> dict[str, bytes]:
        """Contents of many objects (ids or ``rev:path``) in one pipelined
        ``git cat-file --batch`` run; missing ones are left out. Round trips through
        :meth:`read` cost one flush and one wait each, which dominates over thousands
        of objects."""
        wanted = list(dict.fromkeys(specs))
        if len(wanted) < 16:
            return {s: d for s in wanted if (d := self.read(s)) is not None}
        proc = subprocess.run(["git", "cat-file", "--batch"], cwd=self.root, capture_output=True,
                              input="".join(s + "\n" for s in wanted).encode("utf-8"))
        if proc.returncode != 0:
            raise UsageError(f"git cat-file --batch failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
        out, pos, found = proc.stdout, 0, {}
        for spec in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            pos = end + 1
            if len(header) != 3 or header[-1] in (b"missing", b"ambiguous"):
                continue
            size = int(header[2])
            found[spec] = out[pos:pos + size]
            pos += size + 1  # the contents, then a newline
        return found

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None
