"""The pre-commit hook's entry point: ``python -m pdd.hook``.

Runs :func:`pdd.check.run_check` on the index and refuses the commit (exit 1)
when a staged generated file is not genuine, or stale (unless ``check.stale:
warn``). Deliberately not routed through typer: the import path is the standard
library plus :mod:`pdd.check` and what it needs, so the hook stays fast. pygit2,
Jinja2 (except to re-render a changed prompt), rich and the model clients are
never imported here.

Exit codes: 0 allow the commit; 1 refuse it; 2 bad prompt or configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pdd.check import format_text, run_check
from pdd.errors import PddError


def main(argv: list[str] | None = None) -> int:
    """Check the index of the repository in the current folder; print; return the exit code."""
    import subprocess

    if Path(".git").exists():  # git runs hooks at the top of the work tree
        root = Path.cwd()
    else:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True)
        if top.returncode != 0:
            print("pdd hook: not inside a git working tree", file=sys.stderr)
            return 2
        root = Path(top.stdout.strip())
    try:
        result = run_check(root, staged=True)
    except PddError as exc:
        print(f"pdd hook: commit refused: {exc}", file=sys.stderr)
        return exc.exit_code
    if result.problems:
        sys.stderr.write(format_text(result))
    if result.exit_code:
        states = {p.state for p in result.errors}
        print("\npdd: commit refused. Generated code changes only through its prompt.", file=sys.stderr)
        if "edited" in states:
            print("  - to keep a hand edit, move it into the prompt: pdd fix <generated file>", file=sys.stderr)
        print("  - to regenerate from the prompts: pdd build, then git add generated/", file=sys.stderr)
        if any(s.startswith("requirement-") for s in states):
            print("  - requirements (trace: required): cite each with @pytest.mark.req(\"ID\"); `pdd trace` shows the matrix",
                  file=sys.stderr)
        if "notes-missing" in states:
            print("  - to get the provenance notes: git fetch origin refs/notes/pdd:refs/notes/pdd", file=sys.stderr)
        print("  (git commit --no-verify skips this hook, but `pdd check` in CI will still fail)", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
