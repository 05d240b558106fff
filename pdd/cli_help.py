"""Examples shown at the end of ``pdd COMMAND --help`` (standard library only:
``pdd --help`` must stay fast).

:func:`examples` formats them as a click epilog; the ``\\b`` line tells click not
to rewrap the paragraph (click's documented escape, "Preventing Rewrapping").
"""

from __future__ import annotations

EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "pdd": [("pdd init", "set up a git repository"), ("pdd new billing/invoice", "scaffold a prompt and its tests"),
            ("pdd build", "generate what is stale, test, write notes"), ("pdd status", "each module's state"),
            ("pdd check --tests", "the CI gate"), ("pdd COMMAND -h", "help on one command")],
    "init": [("pdd init", "layout, config, ignores, notes settings, hooks"),
             ("pdd init --ci github", "also write .github/workflows/pdd.yml"),
             ("pdd init", "in a teammate's fresh clone: installs the hooks")],
    "build": [("pdd build", "everything stale or missing"), ("pdd build billing/money -j 2", "one module (and its dependencies)"),
              ("pdd build --force --record", "regenerate all, store answers for replay"),
              ("pdd build --budget 0.50", "stop before spending more than $0.50")],
    "status": [("pdd status", "fresh, stale, edited, missing, orphan, failing, untested"), ("pdd status --json", "for scripts")],
    "check": [("pdd check", "the working tree"), ("pdd check --staged", "git's index (what the hook checks)"),
              ("pdd check --rev origin/main --format github", "a commit, as CI annotations"),
              ("pdd check --tests", "also run the behavior tests")],
    "fix": [("pdd fix billing/money --dry-run", "show the proposed prompt diff only"),
            ("pdd fix generated/billing/money.py --yes", "absorb a hand edit into the prompt")],
    "adopt": [("pdd adopt mylib/slug.py", "draft a prompt, regenerate, adopt with proof"),
              ("pdd adopt mylib/ --yes", "a package, leaves first"),
              ("pdd adopt legacy.py --tests tests/test_legacy.py --dry-run", "show the evidence only")],
    "new": [("pdd new billing/invoice --depends billing/money", "prompt with the six sections and a test file")],
    "lint": [("pdd lint", "every prompt"), ("pdd lint billing/invoice --format json", "one prompt, for scripts")],
    "critique": [("pdd critique billing/invoice", "open decisions the prompt leaves"),
                 ("pdd critique billing/invoice --write", "note them in the prompt")],
    "probe": [("pdd probe billing/invoice --n 3", "inputs on which candidates disagree")],
    "log": [("pdd log", "recent runs"), ("pdd log --json", "for scripts")],
    "explain": [("pdd explain generated/billing/money.py", "a file's provenance")],
    "cost": [("pdd cost", "total spend"), ("pdd cost --by model", "by model (or module, day)")],
    "sync": [("pdd notes sync", "fetch, merge and push the notes of origin"), ("pdd notes sync upstream", "another remote")],
    "install": [("pdd hooks install", "the pre-commit and pre-merge-commit hooks")],
}


def examples(command: str) -> str:
    """The epilog of ``command``'s help: ``Examples:`` then one aligned line each."""
    rows = EXAMPLES[command]
    width = max(len(c) for c, _ in rows)
    return "\b\nExamples:\n" + "\n".join(f"  {c:<{width}}   # {what}" for c, what in rows)
