"""``pdd lint``: deterministic checks of prompts and their behavior tests (no model).

Each finding has a stable rule id, a severity (``error`` or ``warning``), the file
and 1-based line it is about, and a message. ``pdd lint`` exits 1 when there is at
least one error (warnings alone: 0) and 2 when a prompt cannot be parsed at all
(``prompt-invalid``) or includes a file that does not exist (``include-missing``):
bad input, as for every other command.

Rules (:data:`pdd.lint_rules.RULES`):

=======================  ========  =====================================================
id                       severity  fires when
=======================  ========  =====================================================
``prompt-invalid``       error     the prompt does not parse or render, depends on an
                                   unknown module, or is part of a dependency cycle
                                   (cannot be disabled)
``section-missing``      error /   one of the six sections (Goal, Inputs / Outputs,
                         warning   Constraints, Failure modes, Out of scope, Acceptance)
                                   has no heading; errors for Failure modes, Out of scope
                                   and Acceptance, warnings for the others
``section-empty``        same      the section's heading has nothing under it
``section-hint``         warning   the section still holds only the ``<!-- hint: ... -->``
                                   line that ``pdd new`` wrote
``no-tests``             error     a behavior-test file of the module does not exist
``tests-opted-out``      warning   the prompt opts out of behavior tests (``tests: []``
                                   with ``untested_reason``); shows the reason
``tests-collect-zero``   error     the module's test files collect zero test items
``tests-collect-error``  error     a test file fails to collect (syntax error, bad import)
``tests-placeholder``    warning   a test file still holds the failing placeholder test
                                   of ``pdd new``
``include-missing``      error     an ``{% include %}`` names a file that does not exist
``dep-unused``           warning   a declared dependency is never imported by the
                                   generated module
``import-undeclared``    error     the generated module imports a ``generated.*`` module
                                   that is not a declared dependency
``prompt-too-large``     warning   the rendered prompt is longer than
                                   ``lint.max_prompt_chars`` (default 20000)
``req-duplicate``        error     a requirement id (``- [R3] ...``) is used twice in one
                                   prompt (:mod:`pdd.requirements`)
``req-malformed``        warning   a list item starts with a bracketed token that is not
                                   an id ``[A-Z][A-Z0-9-]*`` (``[r3]``, ``[R_3]``)
``req-untested``         warning   no behavior test cites a requirement (:mod:`pdd.trace`)
``req-dangling``         warning   a behavior test cites an id its prompts do not define
=======================  ========  =====================================================

A prompt switches rules off in its front matter: ``lint: {disable: [rule-id, ...]}``
(an unknown id is an input error at that line; see :mod:`pdd.prompt`).

Test collection runs the target's test command (:mod:`pdd.targets`: pytest of
this interpreter) with ``--collect-only -qq`` once, in a subprocess, on every test file. Imports of ``generated.*`` modules that are not built yet are
satisfied by stand-in modules during collection (a lint must not depend on a
build), so only the test files themselves decide the count.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from pdd import targets

if TYPE_CHECKING:
    from pdd.project import Project
    from pdd.prompt import PromptSpec

#: The output language (:mod:`pdd.targets`): imports, collection stand-ins, test command.
TARGET = targets.get()

#: The sections ``pdd new`` scaffolds, with the severity of their absence.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Goal", "warning"),
    ("Inputs / Outputs", "warning"),
    ("Constraints", "warning"),
    ("Failure modes", "error"),
    ("Out of scope", "error"),
    ("Acceptance", "error"),
)
_SECTION_ALIASES: dict[str, set[str]] = {
    "Goal": {"goal", "goals"},
    "Inputs / Outputs": {"inputsoutputs", "inputoutput", "inputsandoutputs", "inputandoutput"},
    "Constraints": {"constraints"},
    "Failure modes": {"failuremodes", "failuremode"},
    "Out of scope": {"outofscope", "nongoals"},
    "Acceptance": {"acceptance", "acceptancecriteria", "acceptancetests"},
}

DEFAULT_MAX_PROMPT_CHARS = 20000
PLACEHOLDER_MARKER = "pdd-placeholder"
FORMATS = ("text", "json", "github")

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HINT = re.compile(r"^\s*(?:[-*+][ \t]+\[[A-Z][A-Z0-9-]*\][ \t]*)?<!--\s*hint:.*-->\s*$", re.IGNORECASE)
_JINJA_COMMENT = re.compile(r"^\s*\{#.*#\}\s*$")
_JINJA_TAG = re.compile(r"^\s*\{%.*%\}\s*$")
_COUNT_LINE = re.compile(r"^(?P<path>\S.*?): (?P<n>\d+)$")
_ERROR_HEADER = re.compile(r"^_+ ERROR collecting (?P<path>.+?) _+$")


@dataclass(frozen=True)
class Finding:
    """One lint finding. ``line`` is 1-based (``None``: the whole file)."""

    rule: str
    severity: str
    file: str
    line: int | None
    message: str
    module: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class LintReport:
    """Findings sorted by file and line, the modules linted and the exit code."""

    findings: list[Finding]
    modules: list[str]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    @property
    def exit_code(self) -> int:
        if any(f.rule in ("prompt-invalid", "include-missing") for f in self.findings):
            return 2
        return 1 if self.errors else 0


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------


def _norm_title(title: str) -> str:
    title = re.sub(r"^\s*\d+[.)]?\s*", "", title)
    return re.sub(r"[^a-z0-9]", "", title.lower())


def _section_of(title: str) -> str | None:
    key = _norm_title(title)
    for name, aliases in _SECTION_ALIASES.items():
        if key in aliases:
            return name
    return None


def sections_present(text: str) -> set[str]:
    """The standard sections (canonical names, e.g. ``Failure modes``) that ``text``
    has as headings, aliases included, headings inside fenced code not counted."""
    return {name for h in headings(text) if (name := _section_of(h.title)) is not None}


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int  # 1-based


def headings(text: str) -> list[Heading]:
    """Markdown ATX headings of ``text`` outside fenced code blocks."""
    out: list[Heading] = []
    fence: str | None = None
    for i, raw in enumerate(text.splitlines(), start=1):
        m = _FENCE.match(raw)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence) and not raw.strip()[len(mark):].strip():
                fence = None
            continue
        if fence is not None:
            continue
        h = _HEADING.match(raw)
        if h and h.group(2):
            out.append(Heading(len(h.group(1)), h.group(2), i))
    return out


def section_lines(text: str, heading: Heading, all_headings: list[Heading]) -> list[str]:
    """The lines under ``heading`` up to the next heading of the same or a higher level."""
    lines = text.splitlines()
    end = len(lines)
    for h in all_headings:
        if h.line > heading.line and h.level <= heading.level:
            end = h.line - 1
            break
    return lines[heading.line:end]


def check_sections(spec: "PromptSpec", rendered_text: str | None) -> list[Finding]:
    """``section-missing``, ``section-empty`` and ``section-hint`` for ``spec``."""
    body = spec.body
    hs = headings(body)
    found: dict[str, Heading] = {}
    for h in hs:
        name = _section_of(h.title)
        if name is not None and name not in found:
            found[name] = h
    rendered_sections = {_section_of(h.title) for h in headings(rendered_text)} if rendered_text else set()
    first_line = next((i for i, ln in enumerate(body.splitlines(), start=1) if ln.strip()), 1)
    findings: list[Finding] = []
    for name, severity in SECTIONS:
        h = found.get(name)
        if h is None:
            if name in rendered_sections:
                continue  # comes from an included fragment
            findings.append(Finding("section-missing", severity, spec.path, first_line,
                                    f"section '{name}' is missing (add a '## {name}' heading)", spec.name))
            continue
        content = [ln for ln in section_lines(body, h, hs) if ln.strip() and not _JINJA_COMMENT.match(ln)]
        if not content:
            findings.append(Finding("section-empty", severity, spec.path, h.line,
                                    f"section '{name}' is empty", spec.name))
        elif any(_HINT.match(ln) for ln in content) and all(_HINT.match(ln) or _JINJA_TAG.match(ln) for ln in content):
            findings.append(Finding("section-hint", "warning", spec.path, h.line,
                                    f"section '{name}' holds only the hint from `pdd new`: write it", spec.name))
    return findings


# ---------------------------------------------------------------------------
# Includes and rendering
# ---------------------------------------------------------------------------


def check_includes(spec: "PromptSpec", root: Path, prompts_dir: str) -> list[Finding]:
    """``include-missing`` for every include (also inside included fragments) whose
    file does not exist, at the line of its tag. Template syntax errors are
    ``prompt-invalid``."""
    import jinja2
    from jinja2 import nodes

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(root / prompts_dir)), autoescape=False)
    findings: list[Finding] = []
    seen: set[str] = set()

    def visit(source: str, origin: str) -> None:
        try:
            tree = env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            findings.append(Finding("prompt-invalid", "error", origin, exc.lineno,
                                    f"template syntax error: {exc.message}", spec.name))
            return
        for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            target = node.template
            if not isinstance(target, nodes.Const) or not isinstance(target.value, str):
                continue
            if getattr(node, "ignore_missing", False):
                continue
            name = target.value
            try:
                sub_source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
            except jinja2.TemplateNotFound:
                findings.append(Finding("include-missing", "error", origin, node.lineno,
                                        f"included file {name!r} does not exist (looked in {prompts_dir}/)", spec.name))
                continue
            if name not in seen:
                seen.add(name)
                visit(sub_source, f"{prompts_dir}/{name}")

    visit(spec.body, spec.path)
    return findings


def max_prompt_chars(project: "Project") -> int:
    """``lint.max_prompt_chars`` from the config (default 20000). Raises ConfigError."""
    from pdd.config import CONFIG_RELPATH
    from pdd.errors import ConfigError

    value = project.config.section("lint").get("max_prompt_chars")
    if value is None:
        return DEFAULT_MAX_PROMPT_CHARS
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{CONFIG_RELPATH}: lint.max_prompt_chars must be an int >= 1, got {value!r}")
    return value


# ---------------------------------------------------------------------------
# Imports of the generated module
# ---------------------------------------------------------------------------


def generated_imports(source: str, module: str) -> list[tuple[int, str, list[str]]]:
    """``(line, base, members)`` for every import in ``source`` (of the module
    ``module``, dotted) of something under ``generated``: ``import a.b`` gives
    ``("a.b", [])``, ``from a.b import c, d`` gives ``("a.b", ["c", "d"])``. Relative
    imports are resolved; ``importlib.import_module("generated.x")`` counts too.
    The imports are the target's (:meth:`pdd.targets.Target.imports`). Raises
    :class:`SyntaxError`."""
    return [e for e in TARGET.imports(source, module) if e[1] == "generated" or e[1].startswith("generated.")]


def check_imports(spec: "PromptSpec", specs: dict[str, "PromptSpec"], root: Path) -> list[Finding]:
    """``dep-unused`` and ``import-undeclared`` from the generated file (if it exists)."""
    path = root / spec.output
    if not path.is_file():
        return []
    try:
        imports = generated_imports(path.read_text(encoding="utf-8"), spec.module)
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return []
    by_module = {s.module: n for n, s in specs.items()}
    declared = {specs[d].module: d for d in spec.depends if d in specs}

    def kind(dotted: str) -> str:
        if dotted in by_module:
            return "module"
        if dotted == "generated" or (root / Path(*dotted.split("."))).is_dir():
            return "package"
        return "unknown"

    used: set[str] = set()
    findings: list[Finding] = []
    for line, base, members in imports:
        base_kind = kind(base)
        targets: list[str] = []
        if base_kind == "module" or (base_kind == "unknown" and not members):
            targets.append(base)
        elif base_kind == "package":
            targets += [f"{base}.{m}" for m in members if kind(f"{base}.{m}") != "package"]
        else:  # from <unknown module> import names
            targets.append(base)
        for target in targets:
            if target == spec.module:
                continue
            if target in declared:
                used.add(target)
            elif target in by_module:
                findings.append(Finding("import-undeclared", "error", spec.output, line,
                                        f"imports {target}, which is not a declared dependency of {spec.name} "
                                        f"(add '{by_module[target]}' to 'depends' in {spec.path})", spec.name))
            else:
                findings.append(Finding("import-undeclared", "error", spec.output, line,
                                        f"imports {target}, which no prompt generates", spec.name))
    for mod, dep in declared.items():
        if mod not in used:
            findings.append(Finding("dep-unused", "warning", spec.path, spec.keys_line.get("depends") or 1,
                                    f"dependency '{dep}' is declared but {spec.output} never imports {mod}", spec.name))
    return findings


# ---------------------------------------------------------------------------
# Behavior tests
# ---------------------------------------------------------------------------



@dataclass
class Collection:
    """Per test file: item count (absent if not collected) and collection error text."""

    counts: dict[str, int]
    errors: dict[str, str]
    failure: str | None = None  # pytest itself failed (no per-file information)


def collect_tests(root: Path, files: Iterable[str], command: tuple[str, ...] = (), timeout: float = 120.0,
                  sandbox: str = "auto", plugins: tuple[str, ...] = (), autoload: bool = False) -> Collection:
    """Run ``pytest --collect-only -qq`` on ``files`` (repo-relative) in a subprocess,
    through :func:`pdd.sandbox.launch` (``sandbox``: a ``tests.sandbox`` setting): the
    test files import the built modules in ``generated/``, model-written code.
    ``plugins``/``autoload``: ``tests.plugins``, as in pdd's test runs
    (:func:`pdd.testrun.pytest_invocation`)."""
    files = sorted(set(files))
    if not files:
        return Collection({}, {})
    base = list(command) if command else TARGET.test_command()
    from pdd.sandbox import launch, scratch_dir, select
    from pdd.testrun import apply_env, kill_group, plugin_hint, pytest_invocation

    box = select(sandbox)
    tmp = scratch_dir("pdd-lint-")
    try:
        (tmp / "pdd_lint_stub.py").write_text(TARGET.COLLECTION_STUB, encoding="utf-8")
        argv, env_changes = pytest_invocation(root, files, command=command, plugins=plugins, autoload=autoload,
                                              opts=("--collect-only", "-qq", "-p", "no:cacheprovider",
                                                    "-p", "pdd_lint_stub", "-p", "pdd"))
        env = apply_env(dict(os.environ), env_changes)  # launch() drops credential-like variables
        env["PYTHONPATH"] = str(tmp) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        try:
            proc = launch(argv, root=root, writable=[tmp], sandbox=box, cwd=root, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            return Collection({}, {}, failure=f"cannot run {' '.join(base)}: {exc}")
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.communicate()
            return Collection({}, {}, failure=f"test collection timed out after {timeout:g} s")
        except BaseException:
            kill_group(proc)
            proc.wait()
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    collection = parse_collection(out + err, proc.returncode, files, root)
    hint = plugin_hint(out + err, None, autoload).removeprefix("[pdd] ") if proc.returncode not in (0, 5) else ""
    if hint:  # e.g. a marker of a plugin pdd did not load: say which setting loads it
        collection.errors = {f: f"{e}; {hint}" for f, e in collection.errors.items()}
        collection.failure = collection.failure and f"{collection.failure}; {hint}"
    return collection


def parse_collection(output: str, returncode: int, files: list[str], root: Path) -> Collection:
    """Per-file counts and errors from ``pytest --collect-only -qq`` output."""
    wanted = {f: f for f in files}
    for f in files:
        wanted[str(root / f)] = f
    counts: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    current: str | None = None
    for line in output.splitlines():
        h = _ERROR_HEADER.match(line)
        if h:
            current = wanted.get(h.group("path").strip())
            if current is not None:
                errors.setdefault(current, [])
            continue
        if line.startswith("=") or line.startswith("!"):
            current = None
            continue
        if current is not None:
            if line.startswith("E "):
                errors[current].append(line[1:].strip())
            continue
        m = _COUNT_LINE.match(line)
        if m and m.group("path") in wanted:
            counts[wanted[m.group("path")]] = int(m.group("n"))
    text_errors = {f: _error_summary(e, root) for f, e in errors.items()}
    failure = None
    if returncode not in (0, 5) and not text_errors:
        tail = [ln for ln in output.strip().splitlines() if ln.strip()][-3:]
        failure = f"pytest could not collect the tests (exit {returncode}): " + " | ".join(tail)
    return Collection(counts, text_errors, failure)


def _error_summary(lines: list[str], root: Path) -> str:
    """The most telling line of a collection error: the last ``SomeError: ...`` line."""
    if not lines:
        return "collection failed"
    named = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b", ln)]
    text = (named or lines)[-1]
    return text.replace(str(root) + os.sep, "")


def check_uses_files(spec: "PromptSpec", root: Path) -> list[Finding]:
    """``uses-missing``: each file under the front-matter key ``uses`` exists and parses."""
    from pdd.errors import InputError
    from pdd.uses import used_interfaces, worktree_reader

    findings: list[Finding] = []
    read = worktree_reader(root)
    for rel in spec.uses:
        try:
            used_interfaces(spec.path, spec.keys_line.get("uses"), (rel,), read)
        except InputError as exc:
            message = exc.message.split(": ", 1)[-1]
            findings.append(Finding("uses-missing", "error", spec.path, spec.keys_line.get("uses") or 1,
                                    f"{message} (fix the path, or remove it from 'uses')", spec.name))
    return findings


def check_tests(spec: "PromptSpec", root: Path, collection: Collection | None) -> list[Finding]:
    """``no-tests``, ``tests-opted-out``, ``tests-collect-zero``, ``tests-collect-error``, ``tests-placeholder``."""
    findings: list[Finding] = []
    if not spec.tests and spec.untested_reason:
        findings.append(Finding("tests-opted-out", "warning", spec.path,
                                spec.keys_line.get("untested_reason") or 1,
                                f"untested by choice (tests: []): {spec.untested_reason}", spec.name))
    existing = spec.existing_tests(root)
    where = spec.keys_line.get("tests") if spec.tests_declared else None
    for t in spec.tests:
        if t not in existing:
            findings.append(Finding("no-tests", "error", spec.path, where or 1,
                                    f"no behavior tests: {t} does not exist (write it, or run `pdd new` for a scaffold)",
                                    spec.name))
    for t in existing:
        try:
            text = (root / t).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for i, line in enumerate(text.splitlines(), start=1):
            if PLACEHOLDER_MARKER in line:
                findings.append(Finding("tests-placeholder", "warning", t, i,
                                        "the placeholder test of `pdd new` is still here: write the acceptance tests "
                                        "and delete it", spec.name))
                break
    if not existing or collection is None:
        return findings
    if collection.failure:
        findings.append(Finding("tests-collect-error", "error", existing[0], None, collection.failure, spec.name))
        return findings
    total = 0
    for t in existing:
        if t in collection.errors:
            findings.append(Finding("tests-collect-error", "error", t, None,
                                    f"the tests fail to collect: {collection.errors[t]}", spec.name))
        total += collection.counts.get(t, 0)
    if total == 0 and not any(t in collection.errors for t in existing):
        findings.append(Finding("tests-collect-zero", "error", existing[0], 1,
                                f"the behavior tests of {spec.name} collect zero items: a module must not pass vacuously",
                                spec.name))
    return findings


# ---------------------------------------------------------------------------
# The whole lint
# ---------------------------------------------------------------------------


def check_requirements(spec: "PromptSpec") -> list[Finding]:
    """``req-duplicate`` and ``req-malformed`` for ``spec``'s requirement ids."""
    from pdd.requirements import ID_PATTERN, parse

    parsed = parse(spec.body)
    findings = [Finding("req-duplicate", "error", spec.path, r.line,
                        f"requirement id [{r.id}] is used again (first at line {first}); ids are unique per prompt: "
                        f"give this item a new id", spec.name) for r, first in parsed.duplicates]
    findings += [Finding("req-malformed", "warning", spec.path, m.line,
                         f"[{m.token}] is not a requirement id (ids match {ID_PATTERN}, e.g. [R3]); "
                         f"fix the id, or write \\[ to start the item with a literal bracket", spec.name)
                 for m in parsed.malformed]
    return findings


def check_trace(specs: dict[str, "PromptSpec"], names: list[str], root: Path) -> list[Finding]:
    """``req-untested`` and ``req-dangling`` for modules ``names`` (a static scan of
    their test files; a test file that does not parse is left to ``tests-collect-error``)."""
    from pdd.errors import InputError
    from pdd.trace import trace_specs

    def read_text(path: str) -> str | None:
        p = root / path
        return p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None

    findings = []
    for name in names:
        try:
            report = trace_specs(specs, [name], read_text)
        except InputError:
            continue
        findings += [Finding(f"req-{p.kind}", "warning", p.file, p.line, p.message + (
            ": cite it with @pytest.mark.req(\"" + p.requirement + "\")" if p.kind == "untested" else ""), name)
            for p in report.problems if p.kind in ("untested", "dangling")]
    return findings


def _input_message(exc) -> str:
    """An :class:`InputError`'s message without its ``file:line:`` prefix, with its hint."""
    text = exc.message.split(": ", 1)[-1] if exc.message.startswith(exc.path) else exc.message
    return f"{text} ({exc.hint})" if exc.hint else text


def _load_specs(project: "Project") -> tuple[dict[str, "PromptSpec"], dict[str, str], list[Finding]]:
    """Every prompt, parsed one by one: ``(specs, {name: path} of all prompt files, findings)``."""
    from pdd.errors import InputError
    from pdd.prompt import load_prompt, module_name_for

    specs: dict[str, "PromptSpec"] = {}
    paths: dict[str, str] = {}
    findings: list[Finding] = []
    for rel in project.prompt_files():
        name = module_name_for(rel)
        path = f"{project.config.prompts_dir}/{rel}"
        paths[name] = path
        try:
            specs[name] = load_prompt(project.root, project.config.prompts_dir, rel, project.config.tests_dir)
        except InputError as exc:
            findings.append(Finding("prompt-invalid", "error", exc.path, exc.line,
                                    _input_message(exc),
                                    name))
    return specs, paths, findings


def _graph_findings(specs: dict[str, "PromptSpec"], known: set[str]) -> list[Finding]:
    from pdd.graph import find_cycle

    findings = []
    for spec in specs.values():
        for dep in spec.depends:
            if dep not in known:
                findings.append(Finding("prompt-invalid", "error", spec.path, spec.keys_line.get("depends") or 1,
                                        f"depends on unknown module {dep!r}", spec.name))
    cycle = find_cycle({n: [d for d in s.depends if d in specs] for n, s in specs.items()})
    if cycle:
        first = specs[cycle[0]]
        findings.append(Finding("prompt-invalid", "error", first.path, first.keys_line.get("depends") or 1,
                                "dependency cycle: " + " -> ".join(cycle), first.name))
    return findings


def resolve_names(names: list[str], paths: dict[str, str], specs: dict[str, "PromptSpec"], prompts_dir: str) -> list[str]:
    """User-given names (module, prompt path or generated path) to module names.
    Raises :class:`pdd.errors.UsageError` for an unknown one."""
    from pdd.errors import UsageError

    by_path = {p: n for n, p in paths.items()}
    by_output = {s.output: n for n, s in specs.items()}
    chosen: list[str] = []
    for raw in names:
        key = raw.replace("\\", "/").removeprefix("./")
        name = key if key in paths else by_path.get(key) or by_output.get(key)
        if name is None and key.endswith(".prompt"):
            stripped = key.removeprefix(prompts_dir + "/").removesuffix(".prompt")
            name = stripped if stripped in paths else None
        if name is None:
            raise UsageError(f"no module named {raw!r}", hint=f"known modules: {', '.join(sorted(paths)) or '(none)'}")
        if name not in chosen:
            chosen.append(name)
    return chosen


def lint_project(project: "Project", names: list[str] | None = None) -> LintReport:
    """Lint the named modules (default: all). Raises :class:`pdd.errors.UsageError`
    for an unknown name and :class:`pdd.errors.ConfigError` for a bad config."""
    from pdd.errors import InputError
    from pdd.render import render_prompt

    limit = max_prompt_chars(project)
    specs, paths, parse_findings = _load_specs(project)
    selected = resolve_names(names, paths, specs, project.config.prompts_dir) if names else sorted(paths)
    chosen = set(selected)
    findings: list[Finding] = [f for f in parse_findings if f.module in chosen]
    findings += [f for f in _graph_findings(specs, set(paths)) if f.module in chosen]
    root = project.root
    prompts_dir = project.config.prompts_dir
    to_collect: list[str] = []
    for name in selected:
        spec = specs.get(name)
        if spec is not None:
            to_collect += spec.existing_tests(root)
    collection = collect_tests(root, to_collect, project.config.test_command,
                               timeout=max(60.0, project.config.test_timeout),
                               sandbox=project.config.test_sandbox, plugins=project.config.test_plugins,
                               autoload=project.config.test_plugin_autoload) if to_collect else None
    for name in selected:
        spec = specs.get(name)
        if spec is None:
            continue
        found: list[Finding] = []
        include_findings = check_includes(spec, root, prompts_dir)
        found += include_findings
        rendered: str | None = None
        if not include_findings:
            try:
                rendered = render_prompt(spec, root, prompts_dir).text
            except InputError as exc:
                found.append(Finding("prompt-invalid", "error", exc.path, exc.line,
                                     _input_message(exc),
                                     name))
        found += check_sections(spec, rendered)
        if rendered is not None and len(rendered) > limit:
            found.append(Finding("prompt-too-large", "warning", spec.path, 1,
                                 f"the prompt renders to {len(rendered)} characters, more than {limit} "
                                 f"(lint.max_prompt_chars): split the module, or move shared text into fragments",
                                 name))
        found += check_tests(spec, root, collection)
        found += check_uses_files(spec, root)
        found += check_imports(spec, specs, root)
        found += check_requirements(spec)
        found += check_trace(specs, [name], root)
        disabled = set(spec.lint_disable)
        findings += [f for f in found if f.rule not in disabled or f.rule == "prompt-invalid"]
    unique = list(dict.fromkeys(findings))
    unique.sort(key=lambda f: (f.file, f.line or 0, f.rule, f.message))
    return LintReport(unique, selected)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _gh_escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_escape_prop(s: str) -> str:
    return _gh_escape_data(s).replace(":", "%3A").replace(",", "%2C")


def format_report(report: LintReport, fmt: str) -> str:
    """The report as ``text`` (``file:line: severity: message [rule]``), ``json`` or
    ``github`` (workflow commands ``::error file=...,line=...::message``)."""
    if fmt == "json":
        return json.dumps({
            "findings": [f.to_json() for f in report.findings],
            "errors": report.errors,
            "warnings": report.warnings,
            "modules": report.modules,
            "exit_code": report.exit_code,
        }, indent=2)
    lines = []
    for f in report.findings:
        if fmt == "github":
            props = f"file={_gh_escape_prop(f.file)}"
            if f.line:
                props += f",line={f.line}"
            props += f",title={_gh_escape_prop('pdd lint ' + f.rule)}"
            lines.append(f"::{f.severity} {props}::{_gh_escape_data(f.message + ' [' + f.rule + ']')}")
        else:
            where = f"{f.file}:{f.line}" if f.line else f.file
            lines.append(f"{where}: {f.severity}: {f.message} [{f.rule}]")
    return "\n".join(lines)


def summary(report: LintReport) -> str:
    """One line: how many errors and warnings in how many modules."""
    n = len(report.modules)
    return (f"pdd lint: {report.errors} error(s), {report.warnings} warning(s) in {n} module{'s' if n != 1 else ''}")


__all__ = [
    "SECTIONS", "DEFAULT_MAX_PROMPT_CHARS", "PLACEHOLDER_MARKER", "FORMATS", "Finding", "LintReport",
    "headings", "check_sections", "check_includes", "check_imports", "check_tests", "collect_tests",
    "parse_collection", "generated_imports", "lint_project", "format_report", "summary", "resolve_names",
    "max_prompt_chars",
]
