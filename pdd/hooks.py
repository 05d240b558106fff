"""``pdd hooks install``: the git pre-commit hook.

The hook runs ``python -m pdd.hook`` with the interpreter pdd is installed in
(``pdd check --staged``, without the CLI layer, to stay fast). An existing
``pre-commit`` hook is kept: it is renamed ``pre-commit.pre-pdd`` and called
after pdd's check, never overwritten. Re-installing is a no-op. The hooks folder
is git's (``git rev-parse --git-path hooks``, so ``core.hooksPath`` is honoured).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from pdd.atomicfile import write_atomic

MARKER = "# installed by pdd hooks install"
CHAINED = "pre-commit.pre-pdd"


def hook_script(python: str) -> str:
    """The hook's text for interpreter ``python``."""
    return f"""#!/bin/sh
{MARKER}: refuses hand edits and stale output under generated/.
# Bypass once with `git commit --no-verify`; CI's `pdd check` still catches it.
{shlex.quote(python)} -m pdd.hook || exit $?
chained="$(dirname "$0")/{CHAINED}"
if [ -x "$chained" ]; then
  exec "$chained" "$@"
fi
"""


def hooks_dir(root: Path) -> Path:
    out = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=root, capture_output=True, text=True, check=True)
    path = Path(out.stdout.strip())
    return path if path.is_absolute() else root / path


def install(root: Path, python: str | None = None) -> list[str]:
    """Install the pre-commit hook in ``root``'s repository; return what was done."""
    folder = hooks_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    hook = folder / "pre-commit"
    text = hook_script(python or sys.executable)
    done = []
    if hook.exists():
        current = hook.read_text(encoding="utf-8", errors="replace")
        if MARKER in current:
            if current == text:
                return ["the pdd pre-commit hook is already installed"]
            write_atomic(hook, text, mode=0o755)
            return [f"updated the pdd pre-commit hook in {hook}"]
        chained = folder / CHAINED
        if chained.exists():
            raise FileExistsError(f"{hook} exists and so does {chained}; merge them by hand, then re-run")
        os.replace(hook, chained)
        done.append(f"kept your existing hook as {chained}; pdd's hook calls it after its check")
    write_atomic(hook, text, mode=0o755)
    done.append(f"installed the pdd pre-commit hook in {hook}")
    return done
