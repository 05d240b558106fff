"""The ``pdd adopt`` command (added to the application by :func:`register`); see :mod:`pdd.adopt`."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from pdd.cli_help import examples
from pdd.errors import PddError, UsageError


def register(app: typer.Typer) -> None:
    """Add ``adopt`` to ``app``."""
    app.command(epilog=examples("adopt"))(adopt)


def adopt(
    path: Optional[str] = typer.Argument(None, help="A hand-written .py file, or a package folder (its modules in dependency order)."),
    name: Optional[str] = typer.Option(None, "--name", help="Module name (default: the path without .py), e.g. billing/money."),
    tests: Optional[List[str]] = typer.Option(None, "--tests", help="Test files that exercise it (repeat, or comma-separated; default: the test files that import it)."),
    attempts: int = typer.Option(3, "--attempts", min=1, help="Prompt drafts/revisions to try."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Draft, regenerate and compare; change nothing."),
    max_examples: int = typer.Option(100, "--max-examples", min=1, help="Hypothesis examples per public function."),
    rollback_id: Optional[str] = typer.Option(None, "--rollback", help="Undo the interrupted adoption .pdd/adopt/ID (see `pdd status`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Bring hand-written code under pdd: draft its prompt, regenerate from the prompt alone, adopt only with proof."""
    from pdd.adopt import ADOPT_RELPATH, AdoptOptions, Adopter, format_report, rollback
    from pdd.progress import make_reporter
    from pdd.project import open_project

    def show(text: str) -> None:
        out = sys.stderr if as_json else sys.stdout  # --json: stdout holds only the JSON
        out.write(text.rstrip("\n") + "\n")
        out.flush()

    def confirm(question: str) -> bool:
        if not sys.stdin.isatty():
            print(f"{question} [not a terminal: pass --yes to apply]", file=sys.stderr)
            return False
        return typer.confirm(question, default=False)

    reports = []
    try:
        project = open_project()
        if rollback_id is not None:
            if path is not None or "/" in rollback_id or rollback_id in ("", ".", ".."):
                raise UsageError("--rollback takes the ID of a .pdd/adopt/ID folder and no PATH",
                                 hint="`pdd status` names interrupted adoptions")
            for line in rollback(project.root, project.root / ADOPT_RELPATH / rollback_id) or ["nothing to undo"]:
                print(f"pdd adopt: {line}")
            raise typer.Exit(0)
        if path is None:
            raise UsageError("give the file or package folder to adopt", hint="e.g. pdd adopt mylib/slug.py")
        adopter = Adopter(project, make_reporter(), AdoptOptions(name=name, tests=[t.strip() for v in tests or [] for t in v.split(",") if t.strip()], attempts=attempts,
                                                                 yes=yes, dry_run=dry_run, max_examples=max_examples),
                          show=show, confirm=confirm)
        for rel in adopter.targets(path):
            report = adopter.adopt(rel)
            reports.append(report)
            if not as_json:
                print(format_report(report), file=sys.stderr)
            if report.exit_code != 0:
                break  # a package stops at the first module that is not adopted; the earlier ones stay adopted
    except PddError:
        if as_json and reports:  # the modules adopted before the error, then the error
            print(json.dumps([r.to_json() for r in reports], indent=2))
        raise
    if as_json:
        print(json.dumps([r.to_json() for r in reports], indent=2))
    else:
        from pdd.runs import Spend, format_spend

        total = Spend()
        for r in reports:
            total.merge(r.spend.entry())
        print(f"  {format_spend(total.entry())}", file=sys.stderr)
    raise typer.Exit(max((r.exit_code for r in reports), default=0))
