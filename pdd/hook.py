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

from pdd.check import CheckResult, format_text, run_check
from pdd.errors import PddError
from pdd.provenance.record import FETCH_NOTES


def main(argv: list[str] | None = None) -> int:
    """Check the index of the repository in the current folder; print; return the exit code."""
    from pdd.git import run

    if Path(".git").exists():  # git runs hooks at the top of the work tree
        root = Path.cwd()
    else:
        top = run(None, "rev-parse", "--show-toplevel", text=True)
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
        sys.stderr.write(refusal(result))
    return result.exit_code


# What each state found means, and what to do about it: the banner names what was
# found (a stray file is not a hand edit).
_REFUSALS = {
    "edited": ("generated code was edited by hand; it changes only through its prompt",
               "to keep the hand edit, move it into the prompt: pdd fix <generated file>"),
    "stale": ("generated code is out of date with its prompt",
              "to regenerate from the prompts: pdd build, then git add generated/"),
    "missing": ("a prompt's generated module (or a package file pdd makes) is missing",
                "to generate it: pdd build, then git add generated/"),
    "orphan": ("a generated module has no prompt",
               "delete it (git rm) or write its prompt"),
    "unexpected": ("a file that pdd does not generate is staged under generated/ (not a hand edit)",
                   "unstage it with git rm --cached <file>; ignore bytecode with __pycache__/ and *.pyc in .gitignore"),
    "untested": ("a module has no behavior tests",
                 "write its behavior tests (or list them in `tests:`), or opt out with `tests: []` and `untested_reason:`"),
    "requirement-untested": ("a requirement is cited by no behavior test (trace: required)",
                             "cite it with @pytest.mark.req(\"ID\"); `pdd trace` shows the matrix"),
    "requirement-dangling": ("a behavior test cites a requirement id that its prompt does not define (trace: required)",
                             "cite an id the prompt defines, or add `- [ID] ...` to its Acceptance; `pdd trace` shows the matrix"),
    "notes-missing": ("this clone has no provenance notes",
                      f"to get the provenance notes: {FETCH_NOTES}"),
}


def refusal(result: CheckResult) -> str:
    """The hook's refusal banner for ``result``'s errors: one line per kind of
    problem found, each with what to do next."""
    states = [st for st in _REFUSALS if st in {p.state for p in result.errors}]
    lines = ["", "pdd: commit refused:"]
    for st in states:
        what, todo = _REFUSALS[st]
        lines.append(f"  - {what}: {todo}")
    lines.append("  (git commit --no-verify skips this hook, but `pdd check` in CI will still fail)")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
