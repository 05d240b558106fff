"""The ``pdd`` command line: a thin typer layer over the library.

Each command parses options, calls the library and prints; a
:class:`pdd.errors.PddError` it raises reaches :func:`error_handler`, the one
place that turns an error into ``pdd: error: ...`` and its exit code (0 ok,
1 problem found, 2 bad usage or input, 3 backend failure). Library modules are
imported inside the commands, so ``pdd --help`` and light commands stay fast.

The entry module owns the application: the ``cli_*`` modules define commands
and a ``register(app)`` that this module calls, so no ``cli_*`` module imports
this one (no import cycle).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Iterator, List, NoReturn, Optional

import typer

from pdd import __version__, cli_adopt, cli_diff, cli_doctor, cli_evidence, cli_quality, cli_trace
from pdd.cli_help import examples
from pdd.cli_params import PddGroup
from pdd.errors import PddError, UsageError

app = typer.Typer(
    name="pdd",
    cls=PddGroup,  # option values converted without pydantic (pdd.cli_params)
    help="Prompt-driven development, git-native: prompts and behavior tests are the source; generated/ is build output.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help and errors: no box panels, no `<bool>` on flags
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=examples("pdd"),
)


def _version(value: bool) -> None:
    if value:
        print(f"pdd {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """pdd: prompts are the source; generated code is build output."""


@app.command(epilog=examples("init"))
def init(
    path: Path = typer.Argument(Path("."), help="A folder inside the git repository to set up."),
    ci: Optional[str] = typer.Option(None, "--ci", help="Also write a CI workflow: github."),
    hooks: bool = typer.Option(True, "--hooks/--no-hooks", help="Install the pre-commit hook."),
) -> None:
    """Make the pdd layout, config, .gitignore, .gitattributes and notes settings in a git repository."""
    from pdd.project import find_root
    from pdd.initproject import init_project

    if ci not in (None, "github"):
        raise UsageError(f"unknown --ci {ci!r}", hint="supported: github; README shows the steps for other CIs")
    changed = init_project(find_root(path.resolve()), ci=ci, hooks=hooks)
    for line in changed:
        print(line)
    if not changed:
        print("nothing to do: the pdd layout is already in place")
    else:
        print("next: write a prompt in prompts/ (pdd new NAME) and its tests in behavior_tests/, then run `pdd build`")


@app.command(epilog=examples("build"))
def build(
    names: Optional[List[str]] = typer.Argument(None, help="Modules to build (e.g. billing/money); default: all."),
    force: bool = typer.Option(False, "--force", help="Regenerate the named modules (all, if none named) even when fresh."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Modules generated concurrently (default: config build.jobs, 4)."),
    attempts: Optional[int] = typer.Option(None, "--attempts", min=1, help="Generations per module when its tests fail (default: config build.attempts, 2)."),
    no_tests: bool = typer.Option(False, "--no-tests", help="Do not run the behavior tests."),
    record: bool = typer.Option(False, "--record", help="Store every model answer as a recorded response for the replay backend."),
    budget: Optional[float] = typer.Option(None, "--budget", min=0, help="Stop before a request whose estimated cost (USD, from the prices table) would exceed what is left of this amount; exit 3."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on standard output."),
    estimate: bool = typer.Option(False, "--estimate", help="Predict the spend per module and in total (with the worst case) without calling a model."),
) -> None:
    """Rebuild what is stale or missing, dependencies first; run the behavior tests; write provenance notes."""
    from pdd.build import BuildOptions
    from pdd.build import build as run_build
    from pdd.progress import make_reporter
    from pdd.project import open_project

    project = open_project()
    if estimate:
        from pdd.estimate import estimate_build, format_estimate

        est = estimate_build(project, BuildOptions(names=list(names or []), force=force, attempts=attempts,
                                                   run_tests=not no_tests, budget=budget))
        print(json.dumps(est.to_json(), indent=2) if as_json else "\n".join(format_estimate(est)))
        raise typer.Exit(0)
    report = run_build(project, BuildOptions(names=list(names or []), force=force, jobs=jobs, attempts=attempts,
                                             run_tests=not no_tests, record=record, budget=budget), make_reporter())
    counts: dict[str, int] = {}
    for r in report.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    if as_json:
        print(json.dumps({"exit_code": report.exit_code, "run": str(report.run_path),
                          "modules": {r.name: r.to_json() for r in report.results}}, indent=2))
    else:
        from pdd.runs import format_spend, run_totals

        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to build"
        print(f"pdd build: {summary}; {format_spend(run_totals({r.name: r.to_json() for r in report.results}))}",
              file=sys.stderr)
        for r in report.results:
            if r.status == "failed" and r.detail:
                print(f"\n--- {r.name}: last failure ---\n{r.detail.rstrip()}", file=sys.stderr)
        if report.exit_code == 1 and set(counts) & {"failed", "error", "blocked"} == set() and counts.get("untested"):
            print("next: write the behavior tests named above (or opt out in the prompt with `tests: []` and "
                  "`untested_reason:`), then `pdd build` again", file=sys.stderr)
        elif report.exit_code == 1:
            print("next: read the failures above; fix the prompt (or `pdd fix NAME`), then `pdd build` again", file=sys.stderr)
        elif report.exit_code == 2:
            print("next: fix the broken prompt(s) named above (file:line); the others were built. Then `pdd build` again",
                  file=sys.stderr)
        elif report.exit_code == 3 and report.budget_stopped:
            where = ("--budget" if budget is not None and report.budget_usd == budget
                     else "budget.max_usd_per_build (.pdd/config.yaml)")
            print(f"stopped at the {where} of ${report.budget_usd:g}: finished modules were kept (pdd cost shows "
                  "the spend); raise it and run `pdd build` again", file=sys.stderr)
        elif report.exit_code == 3:
            print("next: check the backend settings (pdd status shows what is pending), then `pdd build` again", file=sys.stderr)
        elif report.notes_missing_before and counts.get("built"):
            from pdd.notesync import share_advice

            print(share_advice(project.root), file=sys.stderr)
    raise typer.Exit(report.exit_code)


@app.command(epilog=examples("status"))
def status(
    as_json: bool = typer.Option(False, "--json", help="Print the states as JSON."),
) -> None:
    """Each module's state: fresh, stale, edited, missing, orphan, failing (or unknown without notes), and why."""
    from pdd.freshness import project_states
    from pdd.project import open_project
    from pdd.provenance.record import FETCH_NOTES_HINT, NOTES_REF

    from pdd.recovery import interrupted_fixes, stray_temp_files

    project = open_project()
    states = project_states(project)
    strays, fixes = stray_temp_files(project.root), interrupted_fixes(project.root)
    from pdd.served import served_changes

    served = served_changes(project)
    if as_json:
        print(json.dumps({"modules": [s.to_json() for s in states], "leftovers": strays,
                          "interrupted_fixes": [f.to_json() for f in fixes], "served_changes": served}, indent=2))
    else:
        if not states:
            print("no modules: write prompts/NAME.prompt (pdd new NAME)")
        width = max((len(s.path) for s in states), default=0)
        for s in states:
            print(f"{s.state:<8} {s.path:<{width}}  {s.reason}")
        if any(s.state == "unknown" for s in states):
            print(f"\nprovenance unknown: this clone has no {NOTES_REF}. Get them: {FETCH_NOTES_HINT}")
        for rel in strays:
            print(f"leftover {rel}: a temporary file of an interrupted pdd; the next `pdd build` removes it")
        for f in fixes:
            print(f"interrupted fix: {f.advice()}")
        for c in served:
            print(f"info: {c['message']}")
        from pdd.adopt import interrupted_adoptions

        for a in interrupted_adoptions(project.root):
            print(f"interrupted adoption: {a.advice()}")
    broken = [s for s in states if s.state == "broken"]
    if broken:
        for s in broken:
            print(f"pdd: error: {s.reason}", file=sys.stderr)
        print("  hint: fix the broken prompt(s); the other modules' states are shown above", file=sys.stderr)
        raise typer.Exit(2)


@app.command(epilog=examples("check"))
def check(
    staged: bool = typer.Option(False, "--staged", help="Check git's index instead of the working tree (what the pre-commit hook does)."),
    rev: Optional[str] = typer.Option(None, "--rev", metavar="REV", help="Check commit REV (a branch, tag or commit id) instead of the working tree."),
    tests: bool = typer.Option(False, "--tests", help="Also run every module's behavior tests."),
    regenerate: bool = typer.Option(False, "--regenerate", help="Rebuild every module from its prompt alone in a scratch worktree; require its tests to pass."),
    fmt: str = typer.Option("text", "--format", help="text | json | github (workflow annotations)."),
    trace: bool = typer.Option(False, "--trace", help="Also require every prompt requirement ([R1] items) to be cited by a test, and every citation to name one."),
    spend: bool = typer.Option(False, "--spend", help="Also report the spend of the builds that produced the checked commit (default HEAD), from the notes."),
) -> None:
    """The CI gate: every generated file genuine and fresh, nothing missing or orphaned."""
    from pdd.check import format_github, format_text, run_check
    from pdd.project import find_root, require_pdd_project

    if fmt not in ("text", "json", "github"):
        raise UsageError(f"unknown --format {fmt!r}", hint="use text, json or github")
    root = find_root(Path.cwd())
    require_pdd_project(root)
    result = run_check(root, staged=staged, rev=rev, trace=trace)
    payload = result.to_json()
    code = result.exit_code
    info: list[str] = []
    if not staged:  # information only: the served models and the spend recorded in the notes
        from pdd.project import open_project
        from pdd.served import format_tree_spend, served_changes, tree_spend

        info_project = open_project(root)
        payload["served_changes"] = served_changes(info_project, result.records) if rev is None else []
        info += [c["message"] for c in payload["served_changes"]]
        if spend:
            payload["spend"] = tree_spend(info_project, rev or "HEAD")
            info.append(format_tree_spend(payload["spend"]))
    if tests:
        from pdd.project import open_project
        from pdd.testrun import run_tests, test_settings

        project = open_project(root)
        from pdd.config import check_test_command

        check_test_command(project.config, root)
        files = sorted({t for s in project.specs().values() for t in s.existing_tests(root)})
        outcome = run_tests(root, files, **test_settings(project.config)) if files else None
        payload["tests"] = {"status": outcome.status if outcome else "none", "files": files}
        if outcome is not None and not outcome.passed:
            code = 1
            print(outcome.output, file=sys.stderr)
    if regenerate:
        from pdd.progress import make_reporter
        from pdd.project import open_project
        from pdd.regenerate import regenerate as run_regenerate

        regen_project = open_project(root)
        regen = run_regenerate(regen_project, make_reporter())
        # With a deterministic backend (recorded answers) generation repeats, so committed code
        # that differs from what its prompt produces was not generated from it (a forged note).
        deterministic = regen.deterministic
        payload["regenerate"] = {n: {"status": r.status, "tests": r.tests, "same_as_committed": regen.same_as_committed.get(n),
                                     "error": r.error} for n, r in ((r.name, r) for r in regen.build.results)}
        if regen.build.exit_code:
            code = max(code, regen.build.exit_code)
        if deterministic and any(r["status"] == "built" and not r["same_as_committed"]
                                 for r in payload["regenerate"].values()):
            code = max(code, 1)
    if fmt == "json":
        payload["exit_code"] = code
        print(json.dumps(payload, indent=2))
    else:
        sys.stdout.write(format_github(result) if fmt == "github" else format_text(result))
        for line in info:
            print(f"info: {line}")
        if tests and "tests" in payload:
            print(f"behavior tests: {payload['tests']['status']}")
        if regenerate:
            for name, r in payload["regenerate"].items():
                same = ("identical to committed" if r["same_as_committed"] else
                        "DIFFERS from committed: not generated from its prompt" if deterministic else
                        "differs from committed (expected with a sampling model)")
                print(f"regenerate {name}: {r['status']}, tests {r['tests']}, {same}" + (f" - {r['error']}" if r["error"] else ""))
    raise typer.Exit(code)


hooks_app = typer.Typer(cls=PddGroup, help="Git hooks.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(hooks_app, name="hooks")


@hooks_app.command("install", epilog=examples("install"))
def hooks_install() -> None:
    """Install the pre-commit hook (runs `pdd check --staged`); an existing hook is kept and chained."""
    from pdd.hookinstall import install
    from pdd.project import find_root

    try:
        done = install(find_root(Path.cwd()))
    except FileExistsError as exc:
        raise UsageError(str(exc)) from exc
    for line in done:
        print(line)


notes_app = typer.Typer(cls=PddGroup, help="Provenance notes (refs/notes/pdd).", no_args_is_help=True,
                        rich_markup_mode=None)
app.add_typer(notes_app, name="notes")


@notes_app.command("sync", epilog=examples("sync"))
def notes_sync(remote: str = typer.Argument("origin", help="The remote to sync with.")) -> None:
    """Fetch the remote's notes, merge them (cat_sort_uniq) and push; retried when a concurrent push wins."""
    from pdd.notesync import sync
    from pdd.project import find_root

    for line in sync(find_root(Path.cwd()), remote):
        print(line)


@app.command(epilog=examples("fix"))
def fix(
    target: Optional[str] = typer.Argument(None, help="A module name (failing tests) or a generated file (hand edit); default: every failing module."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply revisions without asking."),
    attempts: int = typer.Option(3, "--attempts", min=1, help="Prompt revisions to try."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the proposed prompt diff; change nothing."),
    keep: bool = typer.Option(False, "--keep", help="When the attempts run out, keep the last revision instead of restoring the prompt."),
    budget: Optional[float] = typer.Option(None, "--budget", min=0, help="Stop before a request that would exceed this many USD (needs prices in config)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Turn a failing behavior test, or a hand edit of a generated file, into a prompt change; regenerate; re-test."""
    from pdd.fix import Fixer, failing_modules
    from pdd.progress import make_reporter
    from pdd.project import open_project

    reporter = make_reporter()

    def show(diff: str) -> None:
        import shutil

        from pdd.fix import wrap_diff

        diff = wrap_diff(diff, shutil.get_terminal_size().columns)  # never cut at the screen edge
        if sys.stdout.isatty():
            from rich.console import Console
            from rich.syntax import Syntax

            Console().print(Syntax(diff, "diff", theme="ansi_dark", background_color="default", word_wrap=True))
        else:
            sys.stdout.write(diff if diff.endswith("\n") else diff + "\n")
            sys.stdout.flush()

    def confirm(question: str) -> bool:
        if not sys.stdin.isatty():
            print(f"{question} [not a terminal: pass --yes to apply]", file=sys.stderr)
            return False
        return typer.confirm(question, default=False)

    project = open_project()
    fixer = Fixer(project, reporter, attempts=attempts, yes=yes, dry_run=dry_run, keep=keep, confirm=confirm,
                  show=show, budget=budget)
    if target is None:
        specs = failing_modules(project)
        if not specs:
            print("no module has failing behavior tests: nothing to fix")
            raise typer.Exit(0)
        reports = [fixer.fix_module(s) for s in specs]
    else:
        name = project.select([target])[0]
        spec = project.specs()[name]
        is_file = target.replace("\\", "/").removeprefix("./") == spec.output
        reports = [fixer.fix_edit(spec) if is_file else fixer.fix_module(spec)]
    code = max(r.exit_code for r in reports)
    if as_json:
        print(json.dumps([{"module": r.module, "mode": r.mode, "outcome": r.outcome, "message": r.message,
                           "spend": r.spend.entry(), "regeneration_spend": r.regeneration_spend.entry(),
                           "saved_edit": r.saved_edit, "run": str(r.run_path),
                           "attempts": [a.to_json() for a in r.attempts]} for r in reports], indent=2))
    else:
        from pdd.runs import Spend, format_spend

        for r in reports:
            print(f"pdd fix: {r.message}", file=sys.stderr)
            if r.saved_edit:
                print(f"  your edit is saved in {r.saved_edit}", file=sys.stderr)
            total = Spend()
            total.merge(r.spend.entry())
            total.merge(r.regeneration_spend.entry())
            print(f"  {format_spend(total.entry())} (prompt revisions: {r.spend.requests}, "
                  f"regenerations: {r.regeneration_spend.requests})", file=sys.stderr)
    raise typer.Exit(code)


def _interrupted() -> NoReturn:
    """Ctrl-C: exit 130 at once. Everything that must survive (notes, run record,
    restored prompt) was done on the way out; a worker thread may still sit in a
    model request, so leave without joining it."""
    print("pdd: interrupted", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


INTERNAL_ERROR_HINT = ("this is a bug in pdd {version}, not in your input. Please report it to the pdd maintainers "
                       "(the issue tracker of the repository pdd was installed from) with the command and the "
                       "traceback it prints when run again with PDD_DEBUG=1")


@contextlib.contextmanager
def error_handler() -> Iterator[None]:
    """The one place where a command's failure becomes pdd's output and exit status.

    - :class:`PddError`: ``pdd: error: MESSAGE`` and ``  hint: HINT`` on stderr, exit
      ``exc.exit_code`` (1 problem, 2 usage or input, 3 backend);
    - a click usage error (unknown option, missing or invalid argument): the same
      style, with the hint to read ``--help``, exit 2; ``pdd`` alone prints the help;
    - Ctrl-C (``KeyboardInterrupt``, or the exit 130 typer turns it into):
      ``pdd: interrupted``, exit 130 (:func:`_interrupted`); a prompt answered with
      Ctrl-D (click's ``Abort``): ``pdd: aborted``, exit 1;
    - a closed stdout (``pdd ... | head``): exit 1 silently;
    - any other exception: ``pdd: internal error: TYPE: MESSAGE`` with where to report
      it, exit 1; the traceback only with ``PDD_DEBUG=1`` in the environment. Both
      pass through :func:`pdd.redact.redact`.

    Shape after pre-commit's ``error_handler()`` (its ``main.py``). Exits through
    :class:`SystemExit` (or ``os._exit`` on an interrupt and a broken pipe).
    """
    # click's exception classes, whether typer uses click or its vendored copy of it
    click_exception = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    try:
        yield
    except PddError as exc:
        print(f"pdd: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except click_exception as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(exc.format_message())
            sys.exit(exc.exit_code)
        print(f"pdd: error: {exc.format_message()}", file=sys.stderr)
        print(f"  hint: `{ctx.command_path if ctx else 'pdd'} --help` shows the usage and examples", file=sys.stderr)
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        if exc.code == 130:
            _interrupted()
        raise
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:  # the reader left; nothing more to say
        os._exit(1)
    except Exception as exc:  # noqa: BLE001 - the last resort: never an unexplained traceback
        if type(exc).__name__ == "Abort":  # click's Abort (a RuntimeError): a prompt got EOF
            print("pdd: aborted", file=sys.stderr)
            sys.exit(1)
        from pdd.redact import redact

        if os.environ.get("PDD_DEBUG") == "1":
            import traceback

            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        print(redact(f"pdd: internal error: {type(exc).__name__}: {exc}"), file=sys.stderr)
        print(f"  hint: {INTERNAL_ERROR_HINT.format(version=__version__)}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    """Console-script entry point (``pdd``, ``python -m pdd``): runs the command
    under :func:`error_handler` and exits with its status."""
    with error_handler():
        code = app(standalone_mode=False)
        if code == 130:
            _interrupted()
        sys.exit(code if isinstance(code, int) else 0)


for _module in (cli_evidence, cli_quality, cli_trace, cli_diff, cli_doctor, cli_adopt):
    _module.register(app)  # help lists the commands in this order
