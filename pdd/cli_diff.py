"""The ``pdd diff`` command (added to the application by :func:`register`); see :mod:`pdd.diff`."""

from __future__ import annotations

from typing import List, Optional

import typer

from pdd.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add ``diff`` to ``app``."""
    app.command()(diff)


def diff(
    names: Optional[List[str]] = typer.Argument(None, help="Modules to review (default: every module that changed)."),
    base: Optional[str] = typer.Option(None, "--base", help="Base revision (default: the merge base with the default branch, else HEAD)."),
    head: Optional[str] = typer.Option(None, "--head", help="Head revision (default: the working tree)."),
    worktree: bool = typer.Option(False, "--worktree", help="Head is the working tree (the default)."),
    fmt: str = typer.Option("text", "--format", help="Output: text, markdown (a PR comment), json or github (annotations)."),
    max_examples: int = typer.Option(100, "--max-examples", min=1, help="Hypothesis examples per public function."),
    seed: int = typer.Option(0, "--seed", help="Hypothesis seed (fixed, so runs are reproducible)."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Exit 1 on: breaking (a breaking interface change) or behavior (that, or a behavior difference)."),
    no_tests: bool = typer.Option(False, "--no-tests", help="Do not run the behavior tests on head."),
    timeout: float = typer.Option(300.0, "--timeout", min=1.0, help="Seconds for each module's comparison subprocess."),
) -> None:
    """Review a prompt change by the behavior it changes: prompt, interface, behavior, tests, provenance. No model call."""
    from pdd.diff import FAIL_ON, FORMATS, DiffOptions, diff_modules, format_report
    from pdd.project import open_project

    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise UsageError(f"unknown --fail-on {fail_on!r}", hint=f"use one of: {', '.join(FAIL_ON)}")
    if worktree and head is not None:
        raise UsageError("--head and --worktree exclude each other", hint="give one of them")
    report = diff_modules(open_project(), list(names or []),
                          DiffOptions(base=base, head=head, max_examples=max_examples, seed=seed,
                                      run_tests=not no_tests, timeout=timeout))
    print(format_report(report, fmt))
    raise typer.Exit(1 if report.gate(fail_on) else 0)
