"""The ``pdd trace`` command (added to the application by :func:`register`); the library is :mod:`pdd.trace`."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from pdd.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add ``trace`` to ``app``."""
    app.command()(trace)


def trace(
    names: Optional[List[str]] = typer.Argument(None, help="Modules to trace (e.g. billing/money); default: all."),
    fmt: str = typer.Option("text", "--format", help="text | json | markdown | github (workflow annotations)."),
    run: bool = typer.Option(False, "--run", help="Run the behavior tests now instead of using the last build's results."),
) -> None:
    """Each prompt's requirement ids, the tests citing them and their results; untested, dangling, failing.

    Exit 1 if a requirement is untested or failing, or a test cites an unknown id.
    """
    from pdd.project import open_project
    from pdd.trace import FORMATS, format_report, trace_project

    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}", hint="use text, json, markdown or github")
    report = trace_project(open_project(), list(names or []), run=run)
    sys.stdout.write(format_report(report, fmt))
    raise typer.Exit(report.exit_code)
