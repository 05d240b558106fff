"""``pdd diff``: review a prompt change by the behavior it changes.

For each module whose prompt, generated file or behavior tests differ between a
base (default: the merge base of ``HEAD`` with the default branch, else ``HEAD``)
and a head (default: the working tree; or a revision), :func:`diff_modules` reports:

1. **prompt**: the unified diff of the prompt file, hunk by hunk, each hunk filed
   under the standard section it falls in (Goal, Inputs / Outputs, Constraints,
   Failure modes, Out of scope, Acceptance; ``front matter``; ``(other)``);
2. **interface**: added, removed and changed public names and signatures of the
   generated module (from :meth:`pdd.targets.Target.extract_interface`); removals and
   signature changes are *breaking*, with the dependent modules listed (and those
   whose generated code names the symbol);
3. **behavior**: the base and head sources (git blobs / working-tree text, copied to
   a scratch folder, never imported from ``generated/``) compared by the
   differential engine (:func:`pdd.differential.compare`): every confirmed
   difference as a concrete call, agreeing targets with their example count, and
   non-deterministic targets as not compared;
4. **tests**: the behavior-test files added, removed or changed, and their result on
   head (pytest through :func:`pdd.testrun.run_tests`, the head code in the overlay);
5. **provenance**: fingerprint, model, backend, tokens and cost of the base and head
   generated blobs, from their notes in ``refs/notes/pdd``;
6. **requirements**: the requirement ids added, removed and reworded between the
   two prompts (:func:`pdd.requirements.diff`), each with the behavior tests that
   cite it (head's, or base's for a removed one); a requirement reworded while none
   of the test files citing it changed is flagged ``tests_unchanged``.

No model is called. Dependencies of the compared module are imported from the
head's ``generated/`` (the working tree, or a scratch export of the head revision).
Formats: :func:`format_text`, :func:`format_markdown` (a PR comment with a
collapsible section per module), :func:`format_github` (workflow annotations on the
changed prompt lines) and :meth:`DiffReport.to_json`.
"""

from __future__ import annotations

import ast
import difflib
import io
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pdd.errors import InputError, UsageError
from pdd.git import rev_exists, run

FORMATS = ("text", "markdown", "json", "github")
FAIL_ON = ("breaking", "behavior")


@dataclass
class DiffOptions:
    """``base``/``head``: revisions (``head=None``: the working tree);
    ``max_examples`` and ``seed``: the differential engine's budget per target and
    hypothesis seed; ``run_tests``: run the behavior tests on head; ``timeout``:
    seconds for each comparison."""

    base: str | None = None
    head: str | None = None
    max_examples: int = 100
    seed: int = 0
    run_tests: bool = True
    timeout: float = 300.0


# ---------------------------------------------------------------------------
# The two sides
# ---------------------------------------------------------------------------


class Side:
    """The files of one state of the repository: a commit ``rev`` (read through git
    plumbing) or the working tree (``rev=None``)."""

    def __init__(self, root: Path, rev: str | None, label: str) -> None:
        from pdd.provenance.source import snapshot

        self.root = root
        self.rev = rev
        self.label = label
        self._snap = snapshot(root, rev) if rev is not None else None
        self._export: Path | None = None

    @property
    def name(self) -> str:
        return self.rev if self.rev is not None else "working tree"

    def paths_under(self, folder: str) -> list[str]:
        """Repository-relative POSIX paths of the files under ``folder``."""
        if self._snap is not None:
            return sorted(self._snap.under(folder))
        found = []
        base = self.root / folder
        for dirpath, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for f in files:
                found.append(PurePosixPath(os.path.relpath(os.path.join(dirpath, f), self.root)).as_posix())
        return sorted(found)

    def text(self, path: str) -> str | None:
        """Text of ``path``, or ``None`` if absent. Raises :class:`InputError` if not UTF-8."""
        if self._snap is not None:
            return self._snap.read_text(path)
        full = self.root / path
        if not full.is_file():
            return None
        try:
            return full.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(path, None, f"not UTF-8 text ({exc.reason})", hint="save the file as UTF-8") from None

    def blob(self, path: str, project: Any) -> str | None:
        """Blob id of ``path`` (as ``git add`` would make it for the working tree)."""
        if self._snap is not None:
            return self._snap.blobs.get(path)
        if not (self.root / path).is_file():
            return None
        from pdd.freshness import worktree_blob_id

        try:
            return worktree_blob_id(project, path)
        except OSError:
            return None

    def tree(self, scratch: Path) -> Path:
        """A folder holding this side's files: the working tree itself, or the
        revision exported (``git archive``) under ``scratch``."""
        if self.rev is None:
            return self.root
        if self._export is None:
            data = run(self.root, "archive", "--format=tar", self.rev)
            if data.returncode != 0:
                raise UsageError(f"cannot export {self.rev}: {data.stderr.decode('utf-8', 'replace').strip()}")
            dest = scratch / f"tree-{self.label}"
            dest.mkdir(parents=True)
            with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(dest, filter="data")
                else:  # Python before the extraction filters: git archive writes no links out of the tree
                    tar.extractall(dest)
            self._export = dest
        return self._export


def default_base(root: Path) -> str:
    """The merge base of ``HEAD`` with the default branch (``origin/HEAD``'s target,
    else ``main``, else ``master``), else ``HEAD``. Raises :class:`UsageError` if
    the repository has no commit."""
    if not rev_exists(root, "HEAD"):
        raise UsageError("the repository has no commit yet: nothing to diff against",
                         hint="commit first, or give --base REV")
    names = []
    sym = run(root, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", text=True)
    if sym.returncode == 0 and sym.stdout.strip():
        names.append(sym.stdout.strip())
    names += ["refs/heads/main", "refs/heads/master"]
    for name in names:
        if rev_exists(root, name):
            mb = run(root, "merge-base", name, "HEAD", text=True)
            if mb.returncode == 0 and mb.stdout.strip():
                return mb.stdout.strip()
    return "HEAD"


def _resolve(root: Path, rev: str, what: str) -> str:
    proc = run(root, "rev-parse", "--verify", "--quiet", rev + "^{commit}", text=True)
    if proc.returncode != 0:
        raise UsageError(f"{what} {rev!r} is not a commit in this repository",
                         hint="give a branch, tag or commit id (see `git log --oneline`)")
    return proc.stdout.strip()


# ---------------------------------------------------------------------------
# Prompt diff per section
# ---------------------------------------------------------------------------


def _section_starts(text: str) -> list[tuple[int, str]]:
    """``(first line, section name)`` of each heading of ``text``, 1-based; the front
    matter is its own section."""
    from pdd.lint import _section_of, headings

    starts: list[tuple[int, str]] = []
    lines = text.splitlines()
    body_from = 1  # first line after the front matter
    if lines and lines[0].strip() == "---":
        starts.append((1, "front matter"))
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), len(lines))
        body_from = end + 2
        starts.append((body_from, "(other)"))
    for h in headings(text):
        if h.line >= body_from:  # a YAML comment is no heading
            starts.append((h.line, _section_of(h.title) or "(other)"))
    return sorted(starts)


def _section_at(starts: list[tuple[int, str]], line: int) -> str:
    name = "(other)"
    for first, section in starts:
        if first <= line:
            name = section
    return name


def prompt_diff(base: str | None, head: str | None, path: str) -> list[dict[str, Any]]:
    """Hunks of the unified diff of a prompt file, in order, each as
    ``{"section", "head_line", "base_line", "diff"}``: the section (standard name,
    ``front matter`` or ``(other)``) of the first changed line (head side, or base
    side for a pure deletion), 1-based line numbers and the ``-``/``+``/`` ``
    lines (one line of context)."""
    a = (base or "").splitlines()
    b = (head or "").splitlines()
    sa, sb = _section_starts(base or ""), _section_starts(head or "")
    hunks = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(1):
        changed = [op for op in group if op[0] != "equal"]
        tag, i1, _, j1, j2 = changed[0]
        section = _section_at(sb, j1 + 1) if j2 > j1 or not a else _section_at(sa, i1 + 1)
        lines = []
        for op, x1, x2, y1, y2 in group:
            if op == "equal":
                lines += [" " + ln for ln in a[x1:x2]]
            else:
                lines += ["-" + ln for ln in a[x1:x2]] + ["+" + ln for ln in b[y1:y2]]
        hunks.append({"section": section, "head_line": min(j1 + 1, max(len(b), 1)), "base_line": i1 + 1,
                      "diff": "\n".join(lines)})
    return hunks


# ---------------------------------------------------------------------------
# Interface diff
# ---------------------------------------------------------------------------


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"({ast.unparse(node.args)}){returns}"


def public_names(source: str) -> dict[str, str]:
    """Public names of a module with their shape, from the target's ``extract_interface``:
    ``{"parse": "def parse(text: str) -> Decimal", "Money": "class Money(...)",
    "Money.add": "def add(self, other: Money) -> Money", "RATE": "RATE: float"}``.
    Raises :class:`SyntaxError`."""
    from pdd import targets

    tree = ast.parse(targets.get().extract_interface(source))
    out: dict[str, str] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kind = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
                decos = "".join(f"@{ast.unparse(d)} " for d in node.decorator_list)
                out[prefix + node.name] = f"{decos}{kind} {node.name}{_signature(node)}"
            elif isinstance(node, ast.ClassDef):
                bases = ", ".join(ast.unparse(b) for b in [*node.bases, *node.keywords])
                out[prefix + node.name] = f"class {node.name}({bases})" if bases else f"class {node.name}"
                visit(node.body, prefix + node.name + ".")
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                out[prefix + node.target.id] = f"{node.target.id}: {ast.unparse(node.annotation)}"
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name) and t.id != "__all__":
                        out[prefix + t.id] = t.id
    visit(tree.body, "")
    return out


def interface_diff(base: str | None, head: str | None) -> dict[str, Any]:
    """``{"added": [...], "removed": [...], "changed": [{"name", "base", "head"}],
    "breaking": [names]}`` between two module sources (``None``: absent). Removals
    and signature changes are breaking. Raises :class:`SyntaxError`."""
    a = public_names(base) if base is not None else {}
    b = public_names(head) if head is not None else {}
    removed = sorted(set(a) - set(b))
    changed = [{"name": n, "base": a[n], "head": b[n]} for n in sorted(set(a) & set(b)) if a[n] != b[n]]
    return {"added": sorted(set(b) - set(a)), "removed": removed, "changed": changed,
            "breaking": sorted(removed + [c["name"] for c in changed])}


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


@dataclass
class ModuleDiff:
    """One module's review. ``status``: added | removed | changed | unchanged."""

    name: str
    status: str
    prompt_path: str
    output: str
    prompt: list[dict[str, Any]] = field(default_factory=list)
    interface: dict[str, Any] = field(default_factory=dict)
    dependents: list[str] = field(default_factory=list)
    users: dict[str, list[str]] = field(default_factory=dict)  # breaking name -> dependents naming it
    behavior: dict[str, Any] = field(default_factory=dict)
    tests: list[dict[str, Any]] = field(default_factory=list)
    tests_result: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    # {added, removed, reworded}: see requirement_changes(); None when neither prompt exists
    requirements: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def breaking(self) -> list[str]:
        return list(self.interface.get("breaking", []))

    @property
    def differences(self) -> list[dict[str, Any]]:
        from pdd.differential import differences_of

        return differences_of(self.behavior.get("targets", []))

    def to_json(self) -> dict[str, Any]:
        from pdd.differential import difference_text

        behavior = dict(self.behavior)
        behavior["differences"] = [{"target": t["target"], "call": t.get("call"), "text": difference_text(t)}
                                   for t in self.differences]
        return {"module": self.name, "status": self.status, "prompt_path": self.prompt_path, "output": self.output,
                "prompt": {"changed": bool(self.prompt), "sections": sorted({h["section"] for h in self.prompt}),
                           "hunks": self.prompt},
                "interface": self.interface, "dependents": self.dependents, "users": self.users,
                "behavior": behavior, "tests": {"files": self.tests, "result": self.tests_result},
                "provenance": self.provenance, "requirements": self.requirements, "notes": self.notes}


@dataclass
class DiffReport:
    base: str
    head: str
    max_examples: int
    seed: int
    modules: list[ModuleDiff]

    def gate(self, fail_on: str | None) -> bool:
        """True if ``fail_on`` (``breaking``: a breaking interface change;
        ``behavior``: that, or a behavior difference, or a comparison that could not
        run) is met."""
        if fail_on is None:
            return False
        if any(m.breaking for m in self.modules):
            return True
        if fail_on == "behavior":
            return any(m.differences or m.behavior.get("problem") for m in self.modules)
        return False

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head, "max_examples": self.max_examples, "seed": self.seed,
                "modules": [m.to_json() for m in self.modules],
                "summary": {"modules": len(self.modules),
                            "breaking": sum(len(m.breaking) for m in self.modules),
                            "differences": sum(len(m.differences) for m in self.modules)}}


def _load_specs(side: Side, prompts_dir: str, tests_dir: str) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Specs of one side by module name, prompt texts by module name, notes."""
    from pdd.prompt import PROMPT_SUFFIX, is_fragment, module_name_for, parse_prompt

    specs, texts, notes = {}, {}, []
    for path in side.paths_under(prompts_dir):
        rel = PurePosixPath(path).relative_to(prompts_dir)
        if not path.endswith(PROMPT_SUFFIX) or is_fragment(rel):
            continue
        name = module_name_for(rel)
        text = side.text(path)
        if text is None:
            continue
        texts[name] = text
        try:
            specs[name] = parse_prompt(text, path=path, name=name, tests_dir=tests_dir)
        except InputError as exc:
            if side.rev is None:
                raise
            notes.append(f"{side.label} ({side.name}): {exc.message}")
    return specs, texts, notes


def _provenance(side: Side, path: str, project: Any, reader: Any) -> dict[str, Any] | None:
    blob = side.blob(path, project)
    if blob is None:
        return None
    out: dict[str, Any] = {"blob": blob, "genuine": False}
    if reader is None:
        return out
    records = reader.for_path(blob, path)
    if records:
        r = records[-1]
        out.update(genuine=True, fingerprint=r.fingerprint, model=r.model, backend=r.backend,
                   tokens_in=r.tokens_in, tokens_out=r.tokens_out, cost_usd=r.cost_usd, time=r.time)
    return out


def _mentions(source: str, name: str) -> bool:
    return re.search(r"\b" + re.escape(name.split(".")[-1]) + r"\b", source) is not None


def diff_modules(project: Any, names: list[str], options: DiffOptions) -> DiffReport:
    """Review the modules ``names`` (all changed modules when empty) between
    ``options.base`` and ``options.head``. Raises :class:`UsageError` (exit 2) for
    an unknown revision or module name, :class:`InputError` for a bad head prompt."""
    from pdd.git import BlobReader
    from pdd.provenance.source import Notes

    root: Path = project.root
    base_rev = _resolve(root, options.base, "--base") if options.base else _resolve(root, default_base(root), "base")
    head_rev = _resolve(root, options.head, "--head") if options.head else None
    cfg = project.config
    base, head = Side(root, base_rev, "base"), Side(root, head_rev, "head")
    bspecs, btexts, notes = _load_specs(base, cfg.prompts_dir, cfg.tests_dir)
    hspecs, htexts, hnotes = _load_specs(head, cfg.prompts_dir, cfg.tests_dir)
    notes += hnotes
    known = sorted(set(bspecs) | set(hspecs) | set(btexts) | set(htexts))
    chosen: list[str] = []
    by_output = {s.output: s.name for s in (*bspecs.values(), *hspecs.values())}
    for raw in names:
        path = raw.replace("\\", "/").removeprefix("./")
        key = path.removeprefix(cfg.prompts_dir + "/").removesuffix(".prompt")
        name = key if key in known else by_output.get(path)
        if name is None:
            raise UsageError(f"no module named {raw!r} on either side", hint=f"known modules: {', '.join(known) or '(none)'}")
        chosen.append(name)
    reader = BlobReader(root)
    try:
        notes_reader = Notes(root, reader)
        notes_reader = notes_reader if notes_reader.exists else None
        scratch = Path(tempfile.mkdtemp(prefix="pdd-diff-"))
        try:
            modules = []
            for name in (chosen or known):
                m = _module_diff(project, name, (base, head), (bspecs, hspecs), (btexts, htexts), options, scratch,
                                 notes_reader, explicit=bool(chosen))
                if m is not None:
                    modules.append(m)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    finally:
        reader.close()
    report = DiffReport(base=base_rev, head=head_rev or "working tree", max_examples=options.max_examples,
                        seed=options.seed, modules=modules)
    if notes and modules:
        modules[0].notes[:0] = notes
    return report


def _module_diff(project: Any, name: str, sides: tuple[Side, Side], specs: tuple[dict, dict],
                 texts: tuple[dict, dict], options: DiffOptions, scratch: Path, notes_reader: Any, *,
                 explicit: bool) -> ModuleDiff | None:
    """One module's review, or ``None`` if nothing of it changed (and it was not named)."""
    from pdd.differential import EngineOptions, Implementation, compare
    from pdd.prompt import default_output

    cfg = project.config
    base, head = sides
    bspecs, hspecs = specs
    btexts, htexts = texts
    bspec, hspec = bspecs.get(name), hspecs.get(name)
    spec = hspec or bspec
    output = spec.output if spec else default_output(name)
    prompt_path = spec.path if spec else f"{cfg.prompts_dir}/{name}.prompt"
    bcode = base.text(bspec.output) if bspec else None
    hcode = head.text(hspec.output) if hspec else None
    test_paths = sorted(set(bspec.tests if bspec else ()) | set(hspec.tests if hspec else ()))
    btests = {t: base.text(t) for t in test_paths}
    htests = {t: head.text(t) for t in test_paths}
    bprompt, hprompt = btexts.get(name), htexts.get(name)
    if not explicit and bprompt == hprompt and bcode == hcode and btests == htests:
        return None
    status = "added" if bprompt is None else "removed" if hprompt is None else \
        "unchanged" if (bprompt == hprompt and bcode == hcode and btests == htests) else "changed"
    m = ModuleDiff(name, status, prompt_path, output)
    m.prompt = prompt_diff(bprompt, hprompt, prompt_path) if bprompt != hprompt else []

    # interface, with dependents (head's graph; base's for a removed module)
    try:
        m.interface = interface_diff(bcode, hcode)
    except SyntaxError as exc:
        m.interface = {"added": [], "removed": [], "changed": [], "breaking": []}
        m.notes.append(f"interface not compared: {exc.filename or output}:{exc.lineno}: {exc.msg}")
    graph = hspecs if hspec else bspecs
    m.dependents = sorted(n for n, s in graph.items() if name in s.depends)
    side = head if hspec else base
    for sym in m.breaking:
        users = [d for d in m.dependents if (src := side.text(graph[d].output)) and _mentions(src, sym)]
        if users:
            m.users[sym] = users

    # behavior
    if bcode is None or hcode is None:
        m.behavior = {"status": "not compared",
                      "reason": f"no generated {output} on the {'base' if bcode is None else 'head'} side"}
    elif bcode == hcode:
        m.behavior = {"status": "identical", "reason": "the generated code is the same on both sides"}
        if bprompt != hprompt:
            m.notes.append(f"the prompt changed but {output} did not: run `pdd build` to regenerate, then diff again")
    else:
        try:
            deps_root = head.tree(scratch)
        except UsageError as exc:
            deps_root = project.root
            m.notes.append(f"dependencies imported from the working tree ({exc.message})")
        engine = EngineOptions(max_examples=options.max_examples, seed=options.seed, timeout=options.timeout,
                               common_only=True, sandbox=cfg.test_sandbox)
        result = compare([Implementation(1, "base", bcode), Implementation(2, "head", hcode)],
                         module=(hspec or bspec).module, deps_root=deps_root, options=engine,
                         tests=[t for t in (*btests.values(), *htests.values()) if t],
                         texts=[t for t in (bprompt, hprompt) if t])
        broken = [n.get("reason", "") for n in result.notes if n.get("kind") == "import"]
        m.behavior = {"status": "compared", "targets": result.targets,
                      "problem": "; ".join(filter(None, [result.problem, *broken])) or None,
                      "max_examples": engine.max_examples, "seed": engine.seed}

    # tests: changed files and their result on head
    for t in test_paths:
        b, h = btests[t], htests[t]
        st = "added" if b is None and h is not None else "removed" if h is None and b is not None else \
            "missing" if b is None else "changed" if b != h else "unchanged"
        m.tests.append({"path": t, "status": st})
    present = [t for t in (hspec.tests if hspec else ()) if htests.get(t) is not None]
    if options.run_tests and hcode is not None and present:
        from pdd.testrun import run_tests, test_settings

        tree = head.tree(scratch)
        outcome = run_tests(tree, present, output=output, code=hcode, **test_settings(cfg))
        lines = [ln.strip() for ln in outcome.output.strip().splitlines() if ln.strip()]
        m.tests_result = {"status": outcome.status, "summary": lines[-1][:300] if lines else outcome.status}
    elif hcode is not None and not present:
        m.tests_result = {"status": "none", "summary": "no behavior-test file on head"}

    m.requirements = requirement_changes(bprompt, hprompt, btests, htests)
    m.provenance = {"base": _provenance(base, bspec.output, project, notes_reader) if bspec else None,
                    "head": _provenance(head, hspec.output, project, notes_reader) if hspec else None}
    return m


def _citing_tests(tests: dict[str, str | None]) -> dict[str, list[tuple[str, str]]]:
    """Requirement id -> ``(test file, node id)`` of the tests citing it, from
    ``tests`` (path -> source or None); files that do not parse cite nothing."""
    from pdd.requirements import scan_tests

    out: dict[str, list[tuple[str, str]]] = {}
    for path, source in sorted(tests.items()):
        if source is None:
            continue
        try:
            citations = scan_tests(source, path)
        except SyntaxError:
            continue
        for c in citations:
            for rid in c.cites:
                out.setdefault(rid, []).append((path, c.test))
    return out


def requirement_changes(bprompt: str | None, hprompt: str | None, btests: dict[str, str | None],
                        htests: dict[str, str | None]) -> dict[str, Any] | None:
    """The requirement diff of one module: ``{"added", "removed", "reworded"}``, each
    a list of ``{"id", "text", "line", "tests"}`` (``reworded`` entries also
    ``base_text`` and ``tests_unchanged``: true when no test file citing the id
    changed between base and head — a promise reworded with nothing re-checked).
    ``None`` when neither side has a prompt. No model call: ids are parsed
    (:mod:`pdd.requirements`), citations read with ``ast``."""
    from pdd.requirements import diff as requirements_diff

    if bprompt is None and hprompt is None:
        return None
    changes = requirements_diff(bprompt, hprompt)
    head_cites, base_cites = _citing_tests(htests), _citing_tests(btests)

    def entry(r: Any, cites: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
        return {"id": r.id, "text": r.text, "line": r.line, "tests": [n for _, n in cites.get(r.id, [])]}

    reworded = []
    for b, h in changes.reworded:
        files = {p for p, _ in head_cites.get(h.id, []) + base_cites.get(h.id, [])}
        reworded.append({**entry(h, head_cites), "base_text": b.text,
                         "tests_unchanged": all(btests.get(p) == htests.get(p) for p in files)})
    return {"added": [entry(r, head_cites) for r in changes.added],
            "removed": [entry(r, base_cites) for r in changes.removed], "reworded": reworded}


def _requirement_lines(m: ModuleDiff) -> list[str]:
    r = m.requirements
    if not r or not (r["added"] or r["removed"] or r["reworded"]):
        return []
    out = []
    for kind in ("added", "removed", "reworded"):
        for e in r[kind]:
            tests = ", ".join(e["tests"]) or "no test cites it"
            flag = "  (REWORDED, BUT NONE OF ITS TESTS CHANGED)" if e.get("tests_unchanged") else ""
            out.append(f"{kind} [{e['id']}] (line {e['line']}): {e['text'][:120]}{flag}; tests: {tests}")
    return out


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _target_lines(m: ModuleDiff) -> list[str]:
    from pdd.differential import difference_text

    b = m.behavior
    if b.get("status") != "compared":
        return [f"{b.get('status')}: {b.get('reason', '')}"]
    out = []
    for t in b.get("targets", []):
        status = t.get("status")
        if status == "disagree":
            out.append(f"DIFFERENT {difference_text(t)}")
        elif status == "agree":
            out.append(f"same      {t['target']}: agrees on {t.get('examples', 0)} example(s)")
        elif status == "nondeterministic":
            out.append(f"not compared {t['target']}: {t.get('reason', '')}")
        elif status == "skipped" and (t.get("target") or "").split(".")[-1].startswith("__"):
            continue
        else:
            out.append(f"{status} {t['target']}: {t.get('reason', '')}")
    if b.get("problem"):
        out.append(f"problem: {b['problem']}")
    return out


def _interface_lines(m: ModuleDiff) -> list[str]:
    i = m.interface
    out = [f"+ {n}" for n in i.get("added", [])]
    for n in i.get("removed", []):
        out.append(f"- {n}  BREAKING" + _dependents_text(m, n))
    for c in i.get("changed", []):
        out.append(f"~ {c['name']}: {c['base']}  ->  {c['head']}  BREAKING" + _dependents_text(m, c["name"]))
    return out


def _dependents_text(m: ModuleDiff, name: str) -> str:
    if not m.dependents:
        return " (no dependent module)"
    users = m.users.get(name)
    text = f" for dependents {', '.join(m.dependents)}"
    return text + (f" (used by {', '.join(users)})" if users else "")


def _provenance_lines(m: ModuleDiff) -> list[str]:
    from pdd.spend import format_usd

    out = []
    for label in ("base", "head"):
        p = m.provenance.get(label)
        if p is None:
            out.append(f"{label}: (no generated file)")
        elif not p.get("genuine"):
            out.append(f"{label}: blob {p['blob'][:12]}, no pdd note (not generated by pdd, or notes not fetched)")
        else:
            out.append(f"{label}: blob {p['blob'][:12]}, fingerprint {str(p.get('fingerprint'))[:12]}, model "
                       f"{p.get('model')}, cost {format_usd(p.get('cost_usd'))}")
    return out


def _test_lines(m: ModuleDiff) -> list[str]:
    out = [f"{t['status']}: {t['path']}" for t in m.tests]
    if m.tests_result:
        out.append(f"on head: {m.tests_result['status']} ({m.tests_result['summary']})")
    return out


def _summary(report: DiffReport) -> str:
    k = sum(len(m.differences) for m in report.modules)
    b = sum(len(m.breaking) for m in report.modules)
    return (f"{len(report.modules)} module(s), {b} breaking interface change(s), {k} behavior difference(s) "
            f"(seed {report.seed}, up to {report.max_examples} examples per target)")


def format_text(report: DiffReport) -> str:
    """The human-readable report."""
    lines = [f"pdd diff {report.base[:12]}..{report.head[:12] if report.head != 'working tree' else report.head}"]
    if not report.modules:
        lines.append("no module changed: nothing to review")
    for m in report.modules:
        lines.append(f"\n== {m.name} ({m.status}) ==")
        if m.prompt:
            lines.append(f"prompt {m.prompt_path}: sections changed: {', '.join(sorted({h['section'] for h in m.prompt}))}")
            for h in m.prompt:
                lines.append(f"  @@ {h['section']} (line {h['head_line']}) @@")
                lines += ["  " + ln for ln in h["diff"].splitlines()]
        iface = _interface_lines(m)
        lines.append("interface:" + ("" if iface else " unchanged"))
        lines += ["  " + ln for ln in iface]
        reqs = _requirement_lines(m)
        lines.append("requirements:" + ("" if reqs else " unchanged"))
        lines += ["  " + ln for ln in reqs]
        lines.append("behavior:")
        lines += ["  " + ln for ln in _target_lines(m)]
        lines.append("tests:")
        lines += ["  " + ln for ln in _test_lines(m)]
        lines.append("provenance:")
        lines += ["  " + ln for ln in _provenance_lines(m)]
        lines += [f"note: {n}" for n in m.notes]
    lines.append("\n" + _summary(report))
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def format_markdown(report: DiffReport) -> str:
    """A pull-request comment: a summary table, then a collapsible ``<details>``
    section per module with the prompt diff, interface, behavior, tests, provenance."""
    out = [f"## pdd diff `{report.base[:12]}`..`{report.head[:12] if report.head != 'working tree' else report.head}`",
           "", _summary(report), "", "| module | status | breaking | behavior differences |", "|---|---|---|---|"]
    for m in report.modules:
        out.append(f"| `{m.name}` | {m.status} | {len(m.breaking)} | {len(m.differences)} |")
    for m in report.modules:
        out += ["", "<details>", f"<summary><b>{m.name}</b>: {m.status}, {len(m.breaking)} breaking, "
                f"{len(m.differences)} behavior difference(s)</summary>", ""]
        if m.prompt:
            out += [f"#### Prompt `{m.prompt_path}`", "",
                    "Sections changed: " + ", ".join(sorted({h["section"] for h in m.prompt})), "", "```diff"]
            for h in m.prompt:
                out.append(f"@@ {h['section']} (line {h['head_line']}) @@")
                out += h["diff"].splitlines()
            out += ["```", ""]
        out += ["#### Interface", ""]
        out += [f"- `{_md_escape(ln)}`" for ln in _interface_lines(m)] or ["unchanged"]
        out += ["", "#### Requirements", ""]
        out += [f"- {_md_escape(ln)}" for ln in _requirement_lines(m)] or ["unchanged"]
        out += ["", "#### Behavior", ""]
        out += [f"- {_md_escape(ln)}" for ln in _target_lines(m)]
        out += ["", "#### Tests", ""]
        out += [f"- {_md_escape(ln)}" for ln in _test_lines(m)] or ["no behavior tests"]
        out += ["", "#### Provenance", ""]
        out += [f"- {_md_escape(ln)}" for ln in _provenance_lines(m)]
        if m.notes:
            out += ["", *[f"> {_md_escape(n)}" for n in m.notes]]
        out += ["", "</details>"]
    return "\n".join(out)


def format_github(report: DiffReport) -> str:
    """GitHub workflow commands: a ``::notice`` on the first changed line of each
    prompt hunk, ``::warning`` on the prompt for each behavior difference and
    ``::error`` for each breaking interface change."""
    from pdd.differential import difference_text
    from pdd.lint import _gh_escape_data, _gh_escape_prop

    out = []
    for m in report.modules:
        f = _gh_escape_prop(m.prompt_path)
        first = m.prompt[0]["head_line"] if m.prompt else 1
        for h in m.prompt:
            out.append(f"::notice file={f},line={h['head_line']},title=pdd diff::"
                       + _gh_escape_data(f"{m.name}: {h['section']} changed"))
        for t in m.differences:
            out.append(f"::warning file={f},line={first},title=pdd diff: behavior changed::"
                       + _gh_escape_data(f"{m.name}: {difference_text(t)}"))
        for e in (m.requirements or {}).get("reworded", []):
            if e["tests_unchanged"]:
                out.append(f"::warning file={f},line={e['line']},title=pdd diff: requirement reworded, tests unchanged::"
                           + _gh_escape_data(f"{m.name}: [{e['id']}] was reworded but none of its tests changed"))
        for n in m.breaking:
            out.append(f"::error file={f},line={first},title=pdd diff: breaking interface change::"
                       + _gh_escape_data(f"{m.name}: {n} removed or changed{_dependents_text(m, n)}"))
    out.append(_summary(report))
    return "\n".join(out)


def format_report(report: DiffReport, fmt: str) -> str:
    """``report`` in format ``fmt`` (one of :data:`FORMATS`)."""
    import json

    if fmt == "json":
        return json.dumps(report.to_json(), indent=2)
    return {"text": format_text, "markdown": format_markdown, "github": format_github}[fmt](report)
