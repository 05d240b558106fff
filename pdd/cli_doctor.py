"""The ``pdd doctor`` command (added to the application by :func:`register`); see :mod:`pdd.doctor`."""

from __future__ import annotations

import json
import sys

import typer

from pdd.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to ``app``."""
    app.command()(doctor)


def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the diagnosis as JSON on standard output."),
) -> None:
    """Show what pdd runs for the behavior tests (command, rootdir, inifile, sandbox, import path order)
    and verify that generated.* resolves to the candidate. Exit 0 when sound, 1 when not."""
    from pdd.doctor import diagnose, render
    from pdd.project import open_project

    project = open_project()
    try:
        diagnosis = diagnose(project)
    except OSError as exc:
        raise UsageError(f"the test command could not be started: {exc}",
                         hint="check tests.command in .pdd/config.yaml") from exc
    if as_json:
        print(json.dumps(diagnosis.to_json(), indent=2))
    else:
        print(render(diagnosis), file=sys.stdout)
    raise typer.Exit(0 if diagnosis.sound else 1)
