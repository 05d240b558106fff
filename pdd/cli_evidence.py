"""The evidence-trail commands: ``pdd log``, ``pdd explain PATH``, ``pdd cost``.

Added to the application by :func:`register` (which :mod:`pdd.cli` calls). Library
code lives in :mod:`pdd.evidence`; heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from pdd.cli_help import examples
from pdd.errors import PddError


def register(app: typer.Typer) -> None:
    """Add ``log``, ``explain`` and ``cost`` to ``app``."""
    app.command("log", epilog=examples("log"))(log_)
    app.command(epilog=examples("explain"))(explain)
    app.command(epilog=examples("cost"))(cost)


def log_(
    count: int = typer.Option(20, "-n", "--count", min=1, help="How many recent runs to show."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """Recent runs (build, fix, check --regenerate), newest first, one line each."""
    from pdd.evidence import format_log_line, run_summary
    from pdd.project import find_root
    from pdd.runs import load_runs

    root = find_root(Path.cwd())
    summaries = [run_summary(r) for r in reversed(load_runs(root))][:count]
    if as_json:
        print(json.dumps({"runs": summaries}, indent=2))
        return
    if not summaries:
        print("no runs recorded yet (.pdd/runs/ is empty): run `pdd build`")
        return
    for s in summaries:
        print(format_log_line(s))


def explain(
    path: str = typer.Argument(..., help="A generated file (e.g. generated/billing/money.py) or a module name."),
    as_json: bool = typer.Option(False, "--json", help="Print the provenance as JSON."),
) -> None:
    """Where a generated file came from (prompt, commit, model, tokens, cost, tests); genuine and fresh now?

    Exit 1 if the file is not genuine (its blob has no pdd note for it).
    """
    from pdd.evidence import explain as run_explain
    from pdd.evidence import format_explain
    from pdd.project import open_project

    result = run_explain(open_project(), path)
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for line in format_explain(result):
            print(line)
    raise typer.Exit(0 if result["genuine"] else 1)


def cost(
    by: str = typer.Option("model", "--by", help="Group by: model, module, day, rung (of a model ladder) or reviewer."),
    since: Optional[str] = typer.Option(None, "--since", help="Only runs started on or after this day (YYYY-MM-DD, UTC)."),
    as_json: bool = typer.Option(False, "--json", help="Print the spend as JSON."),
) -> None:
    """Spend from the run records, by model, module or day. Unknown cost (no price) is shown as unknown."""
    from pdd.evidence import cost_report
    from pdd.project import find_root
    from pdd.runs import load_runs

    root = find_root(Path.cwd())
    prices: dict[str, Any] = {}
    try:
        from pdd.config import load_config

        prices = load_config(root).prices
    except PddError:
        pass  # spend is still readable with a broken config; only price dates are lost
    report = cost_report(load_runs(root), by=by, since=since, prices=prices)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    if not report["rows"]:
        print("no spend recorded" + (f" since {report['since']}" if report["since"] else "")
              + " (run records in .pdd/runs/ with model requests)")
        return
    _print_cost_table(report)
    saving = report.get("ladder_saving")
    if saving:
        from pdd.spend import format_usd

        print(f"\nladder (estimate): the {saving['modules']} laddered module build(s) cost {format_usd(saving['actual_usd'])}"
              f" for generation; every request on the last rung would have cost about "
              f"{format_usd(saving['all_last_rung_usd'])} (saving {format_usd(saving['saving_usd'])}; same tokens at the "
              "last rung's prices)" + (f"; {saving['unpriced_rungs']} rung(s) without a price left out"
                                       if saving["unpriced_rungs"] else ""))


def _print_cost_table(report: dict[str, Any]) -> None:
    from pdd.evidence import cost_text

    by = report["by"]
    headers = [by, "runs", "requests", "cached", "tokens in", "tokens out", "cost"]
    if by == "model":
        headers.append("prices of")
    rows = []
    for r in [*report["rows"], report["total"]]:
        cells = [str(r["key"]), str(r["runs"]), f"{r['requests']:,}", f"{r['cache_hits']:,}", f"{r['tokens_in']:,}",
                 f"{r['tokens_out']:,}", cost_text(r)]
        if by == "model":
            cells.append("" if r is report["total"] else (r.get("price_date") or "no price"))
        rows.append(cells)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"pdd spend by {by}" + (f" since {report['since']}" if report["since"] else ""))
        for i, h in enumerate(headers):
            table.add_column(h, justify="left" if i == 0 or h == "prices of" else "right")
        for i, cells in enumerate(rows):
            table.add_row(*cells, style="bold" if i == len(rows) - 1 else None, end_section=i == len(rows) - 2)
        Console().print(table)
        return
    widths = [max(len(h), *(len(c[i]) for c in rows)) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 or headers[i] == "prices of" else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(fmt(headers))
    print("  ".join("-" * w for w in widths))
    for cells in rows[:-1]:
        print(fmt(cells))
    print("  ".join("-" * w for w in widths))
    print(fmt(rows[-1]))
    if report["total"]["unknown"]:
        print(f"\n{report['total']['unknown']} module build(s) had unknown cost (no price for the model, or no token "
              "counts): add prices to .pdd/config.yaml (prices: MODEL: {input: USD/1M, output: USD/1M, date: ...})")
