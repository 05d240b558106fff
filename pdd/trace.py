"""``pdd trace``: each prompt's requirements, the tests that cite them and their results.

The matrix is computed with no model call, from the prompts (requirement ids,
:mod:`pdd.requirements`) and a static scan of their behavior-test files
(:func:`pdd.requirements.scan_tests`). Results come from the last build (the
``requirements`` field of the generated file's note) or, with ``--run``, from
running the tests now through :func:`pdd.testrun.run_tests` (pdd's pytest plugin
reports each test's cited ids and outcome).

Problems (each with file and 1-based line):

- **untested** — a requirement no test cites (the prompt's line);
- **dangling** — a test cites an id that no prompt using that test file defines
  (the citing line of the test file);
- **failing** — a requirement one of whose citing tests failed (the prompt's line).

A test file listed by several prompts may cite the requirements of any of them.

This module is used by the pre-commit hook (``trace: required``): standard library
and :mod:`pdd.requirements` only at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from pdd.requirements import Citation, node_key, parse, scan_tests

if TYPE_CHECKING:
    from pdd.project import Project
    from pdd.prompt import PromptSpec

FORMATS = ("text", "json", "markdown", "github")
#: Order of badness when several results combine into one.
_RANK = {"failed": 4, "error": 4, "timeout": 4, "skipped": 2, "not-run": 1, "passed": 0}


@dataclass
class TraceProblem:
    """``kind``: untested | dangling | failing; ``file``/``line`` where to look."""

    kind: str
    module: str
    requirement: str
    file: str
    line: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RequirementRow:
    """One requirement of a module: the tests citing it (``[{test, path, line, result}]``)
    and the combined ``result`` (passed | failed | skipped | not-run | untested | unknown)."""

    id: str
    text: str
    line: int
    section: str
    tests: list[dict[str, Any]] = field(default_factory=list)
    result: str = "unknown"


@dataclass
class ModuleTrace:
    """The trace of one module: its prompt, requirements and problems; ``source``
    says where results came from (run | note | none)."""

    name: str
    prompt: str
    requirements: list[RequirementRow] = field(default_factory=list)
    problems: list[TraceProblem] = field(default_factory=list)
    source: str = "none"

    def to_json(self) -> dict[str, Any]:
        return {"module": self.name, "prompt": self.prompt, "results_from": self.source,
                "requirements": [dict(r.__dict__) for r in self.requirements],
                "problems": [p.to_json() for p in self.problems]}


@dataclass
class TraceReport:
    """All modules traced; ``exit_code`` 1 if any problem, else 0."""

    modules: list[ModuleTrace]

    @property
    def problems(self) -> list[TraceProblem]:
        return [p for m in self.modules for p in m.problems]

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {"untested": 0, "dangling": 0, "failing": 0}
        for p in self.problems:
            counts[p.kind] += 1
        return {"ok": not self.problems, "counts": counts, "requirements": sum(len(m.requirements) for m in self.modules),
                "modules": [m.to_json() for m in self.modules]}


def combine(results: list[str]) -> str:
    """The worst of several test results (failed > skipped > not-run > passed)."""
    return max(results, key=lambda r: _RANK.get(r, 3)) if results else "untested"


def requirement_results(ids: list[str], report: list[dict[str, Any]] | None, test_files: list[str]) -> dict[str, str]:
    """Per requirement id, the combined outcome of the tests citing it in pdd's
    plugin ``report`` (entries of :attr:`pdd.testrun.TestResult.tests_report`) among
    ``test_files``; ``untested`` when none cites it, ``not-run`` for every id when
    there is no report."""
    if report is None:
        return {i: "not-run" for i in ids}
    files = set(test_files)
    out = {}
    for i in ids:
        hits = [t.get("outcome", "not-run") for t in report if t.get("path") in files and i in (t.get("reqs") or [])]
        out[i] = combine(hits)
    return out


def _module_trace(spec: "PromptSpec", citations: list[Citation], valid: set[str],
                  outcomes: dict[str, str] | None, note: dict[str, str] | None) -> ModuleTrace:
    """Relate ``spec``'s requirements to ``citations`` of its test files. ``valid``:
    ids a test of these files may cite; ``outcomes``: node key -> result of a run;
    ``note``: id -> result recorded by the last build."""
    m = ModuleTrace(spec.name, spec.path, source="run" if outcomes is not None else "note" if note is not None else "none")
    own = parse(spec.body).by_id()
    for rid, req in own.items():
        row = RequirementRow(rid, req.text, req.line, req.section)
        for c in citations:
            if rid in c.cites:
                result = (outcomes or {}).get(c.test, "not-run") if outcomes is not None else "unknown"
                row.tests.append({"test": c.test, "path": c.path, "line": c.line, "result": result})
        if not row.tests:
            row.result = "untested"
            m.problems.append(TraceProblem("untested", spec.name, rid, spec.path, req.line,
                                           f"requirement [{rid}] is cited by no test in {', '.join(spec.tests)}"))
        elif outcomes is not None:
            row.result = combine([t["result"] for t in row.tests])
        elif note is not None:
            row.result = note.get(rid, "unknown")
        if row.result in ("failed", "error", "timeout"):
            bad = [t["test"] for t in row.tests if t["result"] in ("failed", "error", "timeout")] or [t["test"] for t in row.tests]
            m.problems.append(TraceProblem("failing", spec.name, rid, spec.path, req.line,
                                           f"requirement [{rid}] fails: {', '.join(bad)}"))
        m.requirements.append(row)
    for c in citations:
        for rid, line in c.cites.items():
            if rid not in valid:
                m.problems.append(TraceProblem("dangling", spec.name, rid, c.path, line,
                                               f"{c.test} cites [{rid}], which {spec.path} does not define"))
    return m


def trace_specs(specs: dict[str, "PromptSpec"], names: list[str], read_text: Callable[[str], str | None],
                outcomes: dict[str, dict[str, str]] | None = None,
                notes: dict[str, dict[str, str]] | None = None) -> TraceReport:
    """Trace modules ``names`` of ``specs``. ``read_text(path)`` gives a test file's
    text (``None``: absent); ``outcomes`` per module, node key -> result of a test
    run; ``notes`` per module, id -> result recorded in the note. Raises
    :class:`pdd.errors.InputError` (exit 2) for a test file that does not parse."""
    from pdd.errors import InputError

    by_file: dict[str, list[str]] = {}
    for n, s in specs.items():
        for t in s.tests:
            by_file.setdefault(t, []).append(n)
    scanned: dict[str, list[Citation]] = {}
    modules = []
    for name in names:
        spec = specs[name]
        citations: list[Citation] = []
        for t in spec.tests:
            if t not in scanned:
                text = read_text(t)
                try:
                    scanned[t] = [] if text is None else scan_tests(text, t)
                except SyntaxError as exc:
                    raise InputError(t, exc.lineno, f"the test file does not parse: {exc.msg}",
                                     hint="fix the syntax error; pdd trace reads the test file's req markers") from None
            citations += scanned[t]
        valid = {i for t in spec.tests for n in by_file.get(t, [name]) for i in parse(specs[n].body).by_id()}
        modules.append(_module_trace(spec, citations, valid, (outcomes or {}).get(name) if outcomes is not None else None,
                                     (notes or {}).get(name) if notes is not None else None))
    return TraceReport(modules)


# ---------------------------------------------------------------------------
# The working tree (pdd trace)
# ---------------------------------------------------------------------------


def run_outcomes(project: "Project", spec: "PromptSpec") -> dict[str, str]:
    """Run ``spec``'s behavior tests now; node key -> combined result. A run the
    plugin did not report on (a custom ``tests.command`` without pdd installed)
    gives every test ``error``."""
    from pdd.testrun import run_tests, test_settings

    files = spec.existing_tests(project.root)
    if not files:
        return {}
    outcome = run_tests(project.root, files, **test_settings(project.config))
    if outcome.tests_report is None:
        return {}
    grouped: dict[str, list[str]] = {}
    for t in outcome.tests_report:
        grouped.setdefault(node_key(str(t.get("nodeid", ""))), []).append(str(t.get("outcome", "not-run")))
    return {k: combine(v) for k, v in grouped.items()}


def note_results(project: "Project", spec: "PromptSpec") -> dict[str, str] | None:
    """The ``requirements`` field of the newest note of ``spec``'s generated file
    in the working tree, or ``None`` (no file, no note, or built before pdd recorded it)."""
    from pdd.freshness import worktree_source
    from pdd.provenance.source import Notes

    notes = Notes(project.root)
    try:
        records = worktree_source(project, notes).provenance(spec.output)[1] if notes.exists else []
    finally:
        notes.close()
    reqs = records[-1].requirements if records else None
    return {str(k): str(v) for k, v in reqs.items()} if isinstance(reqs, dict) else None


def trace_project(project: "Project", names: list[str] | None = None, run: bool = False) -> TraceReport:
    """Trace the named modules (default: all) of the working tree. Raises
    :class:`pdd.errors.UsageError` for an unknown name, :class:`pdd.errors.InputError`
    for a bad prompt or test file."""
    specs = project.specs()
    chosen = project.select(names) if names else sorted(specs)

    def read_text(path: str) -> str | None:
        p = project.root / path
        return p.read_text(encoding="utf-8") if p.is_file() else None

    if run:
        return trace_specs(specs, chosen, read_text, outcomes={n: run_outcomes(project, specs[n]) for n in chosen})
    notes = {n: r for n in chosen if (r := note_results(project, specs[n])) is not None}
    return trace_specs(specs, chosen, read_text, notes=notes)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _tests_cell(row: RequirementRow) -> str:
    return ", ".join(t["test"].split("::", 1)[-1] + (f" ({t['result']})" if t["result"] != "unknown" else "")
                     for t in row.tests) or "—"


def format_report(report: TraceReport, fmt: str) -> str:
    """``text`` (one block per module), ``json``, ``markdown`` (a table per module) or
    ``github`` (workflow annotations, then the text)."""
    import json

    if fmt == "json":
        return json.dumps(report.to_json(), indent=2) + "\n"
    lines: list[str] = []
    if fmt == "markdown":
        for m in report.modules:
            lines += [f"### {m.name}", "", f"Prompt: `{m.prompt}` · results from: {m.source}", "",
                      "| requirement | line | tests | result |", "|---|---|---|---|"]
            for r in m.requirements:
                lines.append(f"| `{r.id}` {r.text.replace('|', chr(92) + '|')} | {r.line} | "
                             f"{_tests_cell(r).replace('|', chr(92) + '|')} | {r.result} |")
            if not m.requirements:
                lines.append("| (no requirement ids) | | | |")
            lines.append("")
            for p in m.problems:
                lines.append(f"- **{p.kind}** `{p.file}:{p.line}`: {p.message}")
            if m.problems:
                lines.append("")
        lines.append(_summary(report))
        return "\n".join(lines) + "\n"
    if fmt == "github":
        for p in report.problems:
            msg = f"{p.kind}: {p.message}".replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            lines.append(f"::error file={p.file},line={p.line},title=pdd trace {p.kind}::{msg}")
    for m in report.modules:
        where = {"run": "results of this run", "note": "results of the last build"}.get(
            m.source, "no test results yet: pdd build, or pdd trace --run")
        lines.append(f"{m.name} ({m.prompt}; {where})")
        for r in m.requirements:
            lines.append(f"  [{r.id}] {r.result:<9} {_tests_cell(r)}")
        if not m.requirements:
            lines.append("  no requirement ids (write Acceptance items as `- [A1] ...`)")
        for p in m.problems:
            lines.append(f"  {p.kind}: {p.file}:{p.line}: {p.message}")
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


def _summary(report: TraceReport) -> str:
    c = report.to_json()["counts"]
    n = sum(len(m.requirements) for m in report.modules)
    if not report.problems:
        return f"pdd trace: ok, {n} requirement(s) in {len(report.modules)} module(s), each cited by a test"
    return (f"pdd trace: {c['untested']} untested, {c['dangling']} dangling, {c['failing']} failing "
            f"({n} requirement(s) in {len(report.modules)} module(s)); next: cite each requirement with "
            f"@pytest.mark.req(\"ID\") in its behavior test, or fix the id the test cites")


__all__ = ["FORMATS", "TraceProblem", "RequirementRow", "ModuleTrace", "TraceReport", "combine", "requirement_results",
           "trace_specs", "trace_project", "run_outcomes", "note_results", "format_report"]
