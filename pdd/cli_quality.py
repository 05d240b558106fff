"""Spec-quality commands: ``pdd new``, ``pdd lint``, ``pdd critique``, ``pdd probe``.

Added to the application by :func:`register` (which :mod:`pdd.cli` calls).
Library modules are imported inside the commands, so ``pdd --help`` stays fast.
See ``docs/spec-quality.md``.
"""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from pdd.cli_help import examples
from pdd.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add ``new``, ``lint``, ``critique`` and ``probe`` to ``app``."""
    for command in (new, lint, critique, probe):
        app.command(epilog=examples(command.__name__))(command)


def new(
    name: str = typer.Argument(..., help="Module path, e.g. billing/invoice (-> prompts/billing/invoice.prompt)."),
    depends: str = typer.Option("", "--depends", help="Comma-separated modules it imports, e.g. billing/money,billing/tax."),
) -> None:
    """Scaffold a prompt with the six sections and a behavior-test file that fails until the tests are written."""
    from pdd.newprompt import scaffold
    from pdd.project import open_project

    made = scaffold(open_project(), name, [d for d in depends.split(",") if d.strip()])
    print(f"created {made.prompt_path}   (from {made.prompt_template})")
    print(f"created {made.test_path}   (from {made.test_template})")
    print("next:")
    print(f"  1. write the six sections of {made.prompt_path}, replacing each <!-- hint --> line;")
    print(f"     `pdd lint {made.name}` checks them, `pdd critique {made.name}` asks the model what is left open")
    print(f"  2. write the acceptance tests in {made.test_path} and delete its placeholder test")
    print(f"     (it fails on purpose, so {made.name} cannot pass vacuously)")
    print(f"  3. pdd build {made.name}")


def lint(
    names: Optional[List[str]] = typer.Argument(None, help="Modules to lint (default: all)."),
    fmt: str = typer.Option("text", "--format", help="Output format: text, json or github (workflow commands)."),
) -> None:
    """Check prompts and behavior tests without a model: sections, tests, includes, dependencies, size."""
    from pdd.lint import FORMATS, format_report, lint_project, summary
    from pdd.project import open_project

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    report = lint_project(open_project(), list(names or []))
    out = format_report(report, fmt)
    if out:
        print(out)
    if fmt != "json":
        print(summary(report), file=sys.stderr)
    raise typer.Exit(report.exit_code)


def critique(
    name: str = typer.Argument(..., help="The module whose prompt to review."),
    write: bool = typer.Option(False, "--write", help="Append the questions to the prompt as an '## Open questions' section."),
    as_json: bool = typer.Option(False, "--json", help="Print the questions as JSON."),
) -> None:
    """Ask the model (no code) which decisions the prompt leaves open that would change the implementation."""
    from pdd.critique import run_critique, write_open_questions
    from pdd.project import open_project

    project = open_project()
    result = run_critique(project, name)
    added = write_open_questions(project, result) if write and result.questions else []
    from pdd.runs import format_spend

    if as_json:
        print(json.dumps({"module": result.name, "prompt": result.prompt_path, "model": result.model,
                          "cached": result.cached, "questions": result.questions, "written": added,
                          "spend": result.spend, "truncated": result.truncated or None}, indent=2))
        return
    print(f"pdd critique: {format_spend(result.spend or {})}", file=sys.stderr)
    if result.truncated:
        print(f"pdd critique: warning: {result.truncated}", file=sys.stderr)
    source = f"model {result.model}" + (", cached answer" if result.cached else "")
    if not result.questions:
        print(f"{result.prompt_path}: no open questions ({source})")
        return
    print(f"{result.prompt_path}: {len(result.questions)} open question(s) ({source}):")
    width = len(str(len(result.questions)))
    for i, q in enumerate(result.questions, start=1):
        print(f"{i:>{width}}. {q}")
    if write:
        if added:
            print(f"appended {len(added)} question(s) to {result.prompt_path} under '## Open questions'", file=sys.stderr)
        else:
            print(f"{result.prompt_path} already lists these questions; nothing written", file=sys.stderr)
        print("next: decide each one in the prompt's sections, remove it from the list, then `pdd build`",
              file=sys.stderr)
    else:
        print(f"next: decide them in {result.prompt_path} (or `pdd critique {result.name} --write` to note them there)",
              file=sys.stderr)


def probe(
    name: str = typer.Argument(..., help="The module to probe."),
    n: int = typer.Option(3, "--n", min=2, max=20, help="Independent candidates to generate."),
    max_examples: int = typer.Option(100, "--max-examples", min=1, help="Hypothesis examples per public function."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    no_tests: bool = typer.Option(False, "--no-tests", help="Compare every candidate that compiles, without running the behavior tests."),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, max=2.0, help="Sampling temperature (default: the module's, or 1.0 if that is 0)."),
    timeout: float = typer.Option(300.0, "--timeout", min=1.0, help="Seconds for the whole comparison subprocess."),
) -> None:
    """Generate N candidates, keep those passing the behavior tests, and find inputs on which they disagree."""
    from pdd.probe import ProbeOptions, format_text, run_probe
    from pdd.project import open_project

    report = run_probe(open_project(), name, ProbeOptions(n=n, max_examples=max_examples, run_tests=not no_tests,
                                                          temperature=temperature, timeout=timeout))
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        from pdd.runs import format_spend

        print(format_text(report))
        print(f"pdd probe: {format_spend(report.spend or {})}", file=sys.stderr)
    raise typer.Exit(report.exit_code)
