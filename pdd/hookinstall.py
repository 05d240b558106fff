"""``pdd hooks install``: the git hooks that run ``pdd check --staged``.

Two hooks, the same check: ``pre-commit`` (every commit) and
``pre-merge-commit`` (git runs it instead of ``pre-commit`` for a merge that
needs no conflict resolution). Each runs ``python -m pdd.hook`` with the
interpreter pdd is installed in, without the CLI layer, to stay fast. An
existing hook is kept: it is renamed ``<hook>.pre-pdd`` and called after pdd's
check, never overwritten. Re-installing is a no-op. The hooks folder is git's
(``git rev-parse --git-path hooks``, so ``core.hooksPath`` is honoured).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from pdd.atomicfile import write_atomic
from pdd.git import run

MARKER = "# installed by pdd hooks install"
HOOKS = ("pre-commit", "pre-merge-commit")
CHAINED_SUFFIX = ".pre-pdd"


def hook_script(python: str, name: str = "pre-commit") -> str:
    """The text of hook ``name`` for interpreter ``python``."""
    return f"""#!/bin/sh
{MARKER}: refuses hand edits and stale output under generated/.
# Bypass once with `git commit --no-verify`; CI's `pdd check` still catches it.
{shlex.quote(python)} -m pdd.hook || exit $?
chained="$(dirname "$0")/{name}{CHAINED_SUFFIX}"
if [ -x "$chained" ]; then
  exec "$chained" "$@"
fi
"""


def hooks_dir(root: Path) -> Path:
    """Git's hooks folder for the repository at ``root``. Raises :class:`pdd.errors.UsageError`
    if git cannot say (not a repository)."""
    out = run(root, "rev-parse", "--git-path", "hooks", text=True, check=True)
    path = Path(out.stdout.strip())
    return path if path.is_absolute() else root / path


def _install_one(folder: Path, name: str, python: str) -> list[str]:
    hook = folder / name
    text = hook_script(python, name)
    done = []
    if hook.exists():
        current = hook.read_text(encoding="utf-8", errors="replace")
        if MARKER in current:
            if current == text:
                return [f"the pdd {name} hook is already installed"]
            write_atomic(hook, text, mode=0o755)
            return [f"updated the pdd {name} hook in {hook}"]
        chained = folder / f"{name}{CHAINED_SUFFIX}"
        if chained.exists():
            raise FileExistsError(f"{hook} exists and so does {chained}; merge them by hand, then re-run")
        os.replace(hook, chained)
        done.append(f"kept your existing hook as {chained}; pdd's hook calls it after its check")
    write_atomic(hook, text, mode=0o755)
    done.append(f"installed the pdd {name} hook in {hook}")
    return done


def install(root: Path, python: str | None = None) -> list[str]:
    """Install the hooks in ``root``'s repository; return what was done.
    Raises :class:`FileExistsError` if a hook and its kept copy both exist."""
    folder = hooks_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    done: list[str] = []
    for name in HOOKS:
        done.extend(_install_one(folder, name, python or sys.executable))
    return done
