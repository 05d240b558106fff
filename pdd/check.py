"""``pdd check``: the CI gate and the pre-commit hook's engine.

For the working tree (or, with ``staged``, git's index, or a commit) every file under
``generated/`` must be **genuine** (its blob's note in ``refs/notes/pdd`` has a
line naming its path) and **fresh** (a line of that note carries the fingerprint
computed now); no prompt may lack its module (**missing**) and no module its
prompt (**orphan**). Blob ids come from git's index and trees through
:mod:`pdd.provenance.source`; of the working tree only the files git says differ from the
index are hashed, and pygit2 is not imported.

Freshness has an exact fast path: the note records the fingerprint's inputs (the
prompt's blob id, the included fragments' blob ids, the generator identity and the
dependencies' interface digests); when they all equal the current ones the
fingerprint is necessarily equal, so nothing is rendered. Otherwise the prompt is
rendered from the snapshot (Jinja2 is imported only then) and the fingerprint
compared.

With ``staged`` (the hook) the work is proportional to what is staged: only the
modules whose prompt or output is staged are examined, reading just their prompts,
their direct dependencies' prompts and the fragment listing; a staged configuration
or fragment change examines every module. Dependents made stale by a staged
interface change are left to the full check (CI).

Threat model (product contract): this stops careless and accidental drift; a
forged note is caught only by ``pdd check --regenerate``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pdd.config import CONFIG_RELPATH, Config, parse_config
from pdd.git import BlobReader, git, rev_exists
from pdd.prompt import (GENERATED_DIR, INIT_TEXT, PROMPT_SUFFIX, TARGET, PromptSpec, default_output, is_fragment, parse_prompt,
                        untested_problem)
from pdd.provenance.record import FETCH_NOTES, NOTES_REF, records_for_path
from pdd.provenance.source import GITLINK_PREFIX, Notes, Snapshot, git_blob_id, snapshot, staged_changes
from pdd.yamlcache import YamlCache

if TYPE_CHECKING:  # pragma: no cover
    from pdd.provenance.record import NoteRecord
    from pdd.provenance.state import ModuleState

INIT_BLOB = git_blob_id(INIT_TEXT.encode("utf-8"))


@dataclass
class Problem:
    """One finding: ``state`` is edited|stale|missing|orphan|unexpected|untested|notes-missing|
    generator-changed (a warning: see :mod:`pdd.fingerprint`);
    ``fix`` is the exact command that mends it; ``severity`` error|warning."""

    path: str
    state: str
    message: str
    fix: str
    severity: str = "error"
    module: str | None = None
    line: int | None = None


@dataclass
class CheckResult:
    """Findings of one check. ``exit_code``: 0 clean (warnings allowed), 1 errors."""

    problems: list[Problem] = field(default_factory=list)
    checked: int = 0
    mode: str = "working tree"
    # The newest note record naming each checked module's file, by output path (not in to_json).
    records: "dict[str, NoteRecord]" = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "checked": self.checked, "ok": not self.errors,
                "problems": [asdict(p) for p in self.problems]}


def _specs_from_snapshot(snap: Snapshot, config: Config, cache: YamlCache) -> dict[str, PromptSpec]:
    from pdd.graph import check_graph

    specs: dict[str, PromptSpec] = {}
    base = config.prompts_dir.rstrip("/") + "/"
    # is_fragment and with_suffix on plain strings: PurePosixPath per prompt is costly at 10,000 prompts.
    paths = [p for p in sorted(snap.blobs) if p.startswith(base) and p.endswith(PROMPT_SUFFIX)
             and not any(part.startswith("_") for part in p[len(base):].split("/"))]
    texts = snap.read_texts(paths)
    cache.preload()  # YAML parsing would dominate at thousands of prompts
    for path in paths:
        name = path[len(base):-len(PROMPT_SUFFIX)]
        specs[name] = parse_prompt(texts.get(path, ""), path=path, name=name, tests_dir=config.tests_dir, cache=cache)
    cache.save()
    check_graph(specs)
    return specs


def _dependents(specs: dict[str, PromptSpec], names: set[str]) -> set[str]:
    out = set(names)
    changed = True
    while changed:
        changed = False
        for n, s in specs.items():
            if n not in out and any(d in out for d in s.depends):
                out.add(n)
                changed = True
    return out


def _package_inits(output: str) -> list[str]:
    """The package files (the target's ``PACKAGE_FILE``) pdd makes for ``output``'s packages."""
    parts = output.split("/")[:-1]
    return [("/".join(parts[:i + 1])) + "/" + TARGET.PACKAGE_FILE for i in range(len(parts))]


def _interface_key(blob: str | None) -> str:
    """Cache key of a module's interface digest: by blob id, pdd version and Python
    version (the interface is extracted with that Python's :mod:`ast`)."""
    import sys

    from pdd import __version__

    return f"interface:{__version__}:{sys.version_info[0]}.{sys.version_info[1]}:{blob}"


class Checker:
    """One check over a snapshot. Use :func:`run_check`."""

    def __init__(self, root: Path, snap: Snapshot, config: Config, notes: Notes,
                 cache: YamlCache | None = None) -> None:
        self.root = root
        self.snap = snap
        snap.notes = notes
        self.config = config
        self.notes = notes
        self.cache = cache
        self._digests: dict[str, str | None] = {}
        self._texts: dict[str, str] = {}
        self.test_files: set[str] = set()  # behavior-test files present in the state checked
        # The snapshot lists only the staged modules' own paths (the hook's narrow plan):
        # included fragments are listed when a note names them, the prompts folder before a render.
        self.partial = False
        self._listed: set[str] = set()

    def prefetch_texts(self, paths: list[str]) -> None:
        """Read many files of the snapshot in one batch (for :meth:`dep_digest`),
        skipping those whose interface digest is already cached."""
        if self.cache is not None:
            from pdd.yamlcache import MISS

            paths = [p for p in paths if self.cache.get(_interface_key(self.snap.blobs.get(p))) is MISS]
        self._texts.update(self.snap.read_texts(paths))

    def dep_digest(self, spec: PromptSpec) -> str | None:
        """Interface digest of ``spec``'s output in the snapshot (``None`` if absent or unparsable)."""
        if spec.name not in self._digests:
            # The digest is a function of the blob (and of the Python version's ast):
            # cache it by blob id, so an unchanged dependency is never parsed again.

            blob = self.snap.blobs.get(spec.output)
            key = _interface_key(blob)
            if blob is not None and self.cache is not None:
                from pdd.yamlcache import MISS

                hit = self.cache.get(key)
                if hit is not MISS:
                    self._digests[spec.name] = hit
                    return hit
            from pdd import targets
            from pdd.interface import interface_digest

            text = self._texts[spec.output] if spec.output in self._texts else self.snap.read_text(spec.output)
            try:
                self._digests[spec.name] = None if text is None else interface_digest(targets.get().extract_interface(text, spec.output))
            except (SyntaxError, ValueError):
                self._digests[spec.name] = None
            if blob is not None and self.cache is not None and self._digests[spec.name] is not None:
                self.cache.put(key, self._digests[spec.name])
        return self._digests[spec.name]

    def list_more(self, paths: "list[str] | set[str]") -> None:
        """Add ``paths`` (files or folders) to the snapshot from the same state, in one
        listing: files outside the folders it lists (``uses`` files), or, when it is
        :attr:`partial` (the hook's narrow plan), included fragments and the prompts folder."""
        missing = sorted(p for p in paths if p not in self.snap.blobs and p not in self._listed)
        if missing:
            self._listed.update(missing)
            self.snap.blobs.update(snapshot(self.root, self.snap.kind, missing, self.snap.reader).blobs)

    def read_project_file(self, path: str) -> str | None:
        """Text of ``path`` in the snapshot's state (index or tree), also outside the
        prompts and generated folders the snapshot lists (``uses`` files)."""
        self.list_more([path])
        return self.snap.read_text(path)

    def judge(self, spec: PromptSpec, specs: dict[str, PromptSpec]) -> "ModuleState":
        """``spec``'s state in the snapshot (:func:`pdd.provenance.state.judge`); the
        prompt is rendered from the snapshot only when its recorded inputs changed."""
        from pdd.fingerprint import generator_for
        from pdd.provenance.state import judge

        deps: dict[str, str] | str = {}
        for d in spec.depends:
            digest = self.dep_digest(specs[d])
            if digest is None:
                deps = f"dependency {d} has no usable generated module"
                break
            deps[d] = digest  # type: ignore[index]
        uses: dict[str, str] = {}
        if spec.uses:
            from pdd.uses import used_interfaces

            uses = used_interfaces(spec.path, spec.keys_line.get("uses"), spec.uses, self.read_project_file)[1]

        blob = self.snap.blobs.get(spec.output)
        if self.partial and blob is not None:
            self.list_more({p for r in self.notes.records(blob) if isinstance(r.includes, dict) for p in r.includes})

        def render() -> str:
            from pdd.render import render_prompt

            base = self.config.prompts_dir.rstrip("/") + "/"
            if self.partial:
                self.list_more([base.rstrip("/")])
            return render_prompt(spec, self.root, self.config.prompts_dir,
                                 read=lambda name: self.snap.read_text(base + name)).text

        return judge(spec, self.snap, have_notes=self.notes.exists, generator=generator_for(spec, self.config),
                     deps=deps, uses=uses, render=render)

    def check_module(self, spec: PromptSpec, specs: dict[str, PromptSpec], result: CheckResult) -> None:
        result.checked += 1
        blob = self.snap.blobs.get(spec.output)
        if blob is not None and blob.startswith(GITLINK_PREFIX):
            result.problems.append(Problem(spec.output, "unexpected", f"{spec.output} is a submodule, not pdd's output",
                                           f"git rm --cached {spec.output} && pdd build {spec.name}", module=spec.name))
            return
        untested = untested_problem(spec, self.test_files.__contains__)
        if untested is not None:
            test_file = spec.tests[0] if not spec.tests_declared else spec.path
            result.problems.append(Problem(spec.path, "untested", f"{spec.name} is untested: {untested}",
                                           f"write {test_file if not spec.tests_declared else 'the files in its `tests:`'}"
                                           f", or opt out in {spec.path} with `tests: []` and `untested_reason:`",
                                           module=spec.name))
        for init in _package_inits(spec.output):
            if init not in self.snap.blobs:
                result.problems.append(Problem(init, "missing", f"{init}, made by pdd for {spec.output}, is missing",
                                               f"pdd build {spec.name} && git add {init}", module=spec.name))
        st = self.judge(spec, specs) if blob is not None and self.notes.exists else None
        if st is not None and st.blob is not None:
            named = records_for_path(self.notes.records(st.blob), spec.output)  # parsed once, by judge
            if named:
                result.records[spec.output] = named[-1]
        if blob is None:
            result.problems.append(Problem(spec.output, "missing", f"{spec.path} has no generated module {spec.output}",
                                           f"pdd build {spec.name} && git add {spec.output}", module=spec.name))
        elif st is None:
            return  # no notes: reported once, never as "edited"
        elif st.state == "edited":
            result.problems.append(Problem(spec.output, "edited", f"{spec.output} is not genuine: {st.why}",
                                           f"pdd fix {spec.output}   (or: pdd build --force {spec.name})", module=spec.name))
        elif st.state == GENERATOR_CHANGED:
            result.problems.append(Problem(spec.output, GENERATOR_CHANGED, f"{spec.output}: {st.why}",
                                           f"nothing required; `pdd build --force {spec.name}` regenerates it "
                                           "with the configured generator", module=spec.name, severity="warning"))
        elif st.state == "stale":
            result.problems.append(Problem(spec.output, "stale", f"{spec.output} is stale: {st.why}",
                                           f"pdd build {spec.name} && git add {spec.output}", module=spec.name))


GENERATOR_CHANGED = "generator-changed"


def _staged_plan(root: Path, changes: dict[str, str], config: Config, reader: BlobReader,
                 cache: YamlCache) -> tuple[Snapshot, dict[str, PromptSpec], set[str], set[str]] | None:
    """The hook's narrow plan: read only the staged modules' prompts and outputs and
    their direct dependencies' — never the whole prompts folder — so the work is
    proportional to what is staged. ``None`` when a full check is needed instead (a
    configuration or fragment change, a deleted prompt, a deleted file that may be a
    behavior test, or a staged generated file whose prompt is not at the default path)."""
    prompts_dir = config.prompts_dir.rstrip("/")
    names: set[str] = set()
    init_paths: set[str] = set()
    for p, status in changes.items():
        if p == CONFIG_RELPATH:
            return None
        if p.startswith(prompts_dir + "/"):
            rel = p[len(prompts_dir) + 1:]
            if any(part.startswith("_") for part in rel.split("/")) or not p.endswith(PROMPT_SUFFIX):
                return None  # a fragment or another included file: any module may include it
            if status == "D":
                return None  # its output may now be an orphan
            names.add(rel[:-len(PROMPT_SUFFIX)])
        elif p.startswith(GENERATED_DIR + "/"):
            if p.endswith("/" + TARGET.PACKAGE_FILE):
                if status == "D":
                    return None  # a pdd-owned package file deleted: the full check says which module lacks it
                init_paths.add(p)
            elif p.endswith(TARGET.SUFFIX):
                names.add(p[len(GENERATED_DIR) + 1:-len(TARGET.SUFFIX)])
            elif status != "D":
                return None  # not a module: let the full check report it
        elif _may_be_a_deleted_test(p, status):
            return None  # who is untested now: only every prompt's `tests:` says
    # Prompts are read by index path (``:path``) through the one cat-file process;
    # blob ids then come from a single ``ls-files`` over just the paths involved.
    from pdd.provenance.source import _decode

    def prompt_text(name: str) -> str | None:
        path = f"{prompts_dir}/{name}{PROMPT_SUFFIX}"
        data = reader.read(":" + path)
        return None if data is None else _decode(path, data)

    specs: dict[str, PromptSpec] = {}
    for name in sorted(names):
        text = prompt_text(name)
        if text is None:
            return None  # an orphan, or a module with a custom output path
        spec = parse_prompt(text, path=f"{prompts_dir}/{name}{PROMPT_SUFFIX}", name=name,
                            tests_dir=config.tests_dir, cache=cache)
        if spec.output != default_output(name):
            return None
        specs[name] = spec
    for d in sorted({d for s in specs.values() for d in s.depends} - set(specs)):
        text = prompt_text(d)
        if text is None:
            return None  # an unknown dependency: the full check reports it with its line
        specs[d] = parse_prompt(text, path=f"{prompts_dir}/{d}{PROMPT_SUFFIX}", name=d,
                                tests_dir=config.tests_dir, cache=cache)
    # A cycle among these modules: the full check reports it with its line.
    from pdd.graph import find_cycle

    if find_cycle({n: [d for d in s.depends if d in specs] for n, s in specs.items()}):
        return None
    paths = ({s.path for s in specs.values()} | {s.output for s in specs.values()} | init_paths
             | {i for s in specs.values() for i in _package_inits(s.output)})
    # One pathspec per folder, not per file (git matches every index entry against every
    # pathspec); a file directly in a top-level folder is named itself (its folder is all).
    snap = snapshot(root, "index", _folders(paths), reader)
    snap.blobs = {p: b for p, b in snap.blobs.items() if p in paths}
    return snap, specs, names, {p for p in init_paths if p in snap.blobs}


def _may_be_a_deleted_test(path: str, status: str) -> bool:
    """True for a staged deletion of a file with the target's suffix: it may be a
    module's behavior test (``tests:`` names any path), which leaves that module untested."""
    return status == "D" and path.endswith(TARGET.SUFFIX)


def _folders(paths: "set[str]") -> list[str]:
    """The pathspecs that cover ``paths``: each path's folder, or the path itself when its
    folder is a top-level one (``prompts/a.prompt``, ``generated/__init__.py``)."""
    return sorted({p.rsplit("/", 1)[0] if p.count("/") > 1 else p for p in paths})

def _trace_problems(root: Path, kind: str, specs: dict[str, PromptSpec], changes: dict[str, str] | None,
                    reader: BlobReader, result: CheckResult) -> None:
    """Requirement problems (:mod:`pdd.trace`): untested requirements and dangling
    citations of the modules examined — all of them, or with ``changes`` (the hook)
    those whose prompt or test file is staged — read from snapshot ``kind``."""
    from pdd.trace import trace_specs

    names = sorted(n for n, s in specs.items() if changes is None or s.path in changes
                   or any(t in changes for t in s.tests))
    if not names:
        return
    tests = snapshot(root, kind, sorted({t for n in names for t in specs[n].tests}), reader)
    report = trace_specs(specs, names, tests.read_text)
    for p in report.problems:
        fix = (f"cite it from a test in {', '.join(specs[p.module].tests)}: @pytest.mark.req(\"{p.requirement}\")"
               if p.kind == "untested" else
               f"cite an id that {specs[p.module].path} defines, or add `- [{p.requirement}] ...` to its Acceptance")
        result.problems.append(Problem(p.file, f"requirement-{p.kind}", f"{p.file}:{p.line}: {p.message}", fix,
                                       module=p.module, line=p.line))


def run_check(root: Path, *, staged: bool = False, rev: str | None = None,
              environ: dict[str, str] | None = None, trace: bool = False) -> CheckResult:
    """Check the working tree (default), git's index (``staged``, the hook) or commit
    ``rev``. ``result.mode`` names which: ``working tree``, ``index`` or ``REV (sha)``. With ``trace`` (or ``trace: required``
    in the configuration) also every requirement must be cited by a test and every
    citation name a requirement. Raises :class:`pdd.errors.InputError` /
    :class:`pdd.errors.ConfigError` (exit 2) for bad prompts or configuration,
    :class:`pdd.errors.UsageError` (exit 2) for a ``rev`` that names no commit."""
    env = os.environ if environ is None else environ
    if staged and rev is not None:
        from pdd.errors import UsageError

        raise UsageError("--staged and --rev cannot be used together", hint="check the index (--staged) or a commit (--rev REV)")
    kind = "index" if staged else "worktree" if rev is None else rev
    result = CheckResult(mode="index" if staged else "working tree" if rev is None else rev)
    reader = BlobReader(root)
    yaml_cache = YamlCache(root)
    try:
        changes = None
        if staged:
            changes = staged_changes(root)
        elif rev is not None:
            if not rev_exists(root, f"{rev}^{{commit}}"):
                from pdd.errors import UsageError

                raise UsageError(f"--rev {rev!r} names no commit in this repository",
                                 hint="give a branch, tag or commit id (git log --oneline lists them)")
            sha = git(root, "rev-parse", "--verify", f"{rev}^{{commit}}").decode().strip()
            result.mode = f"{rev} ({sha[:12]})" if not sha.startswith(rev) else f"commit {sha[:12]}"
            kind = sha
        # The config decides the prompts folder; read it from the same state.
        if kind == "worktree":
            config_path = root / CONFIG_RELPATH
            config_data = config_path.read_bytes() if config_path.is_file() else None
        else:
            config_data = reader.read((":" if staged else f"{kind}:") + CONFIG_RELPATH)
        config_text = None if config_data is None else config_data.decode("utf-8", "replace")
        config = parse_config(config_text, env, yaml_cache)
        prompts_dir = config.prompts_dir.rstrip("/")
        trace = trace or config.trace_required
        tests_staged = trace and changes is not None and any(p.startswith(config.tests_dir.rstrip("/") + "/") for p in changes)
        if changes is not None:
            relevant = [p for p, st in changes.items() if p.startswith((GENERATED_DIR + "/", prompts_dir + "/"))
                        or p == CONFIG_RELPATH or _may_be_a_deleted_test(p, st)]
            if not relevant and not tests_staged:
                return result  # nothing pdd cares about is staged
        # A staged test file may be any module's: its citations need every prompt.
        plan = _staged_plan(root, changes, config, reader, yaml_cache) if changes is not None and not tests_staged else None
        if plan is not None:
            snap, specs, narrow_todo, narrow_gen = plan
        else:
            snap = snapshot(root, kind, [prompts_dir, GENERATED_DIR], reader)
            specs = _specs_from_snapshot(snap, config, yaml_cache)
        notes = Notes(root, reader)
        checker = Checker(root, snap, config, notes, yaml_cache)
        checker.partial = plan is not None
        test_paths = sorted({t for s in specs.values() for t in s.tests})
        if test_paths:  # one listing of just these paths, in the same state
            checker.test_files = set(snapshot(root, snap.kind, test_paths, reader).blobs)
        outputs = {s.output: n for n, s in specs.items()}

        if plan is not None:
            # The staged modules themselves; their dependents' freshness is CI's `pdd check`.
            todo, gen_paths = narrow_todo, narrow_gen
        elif changes is None:
            todo = set(specs)
            gen_paths = set(snap.under(GENERATED_DIR))
        else:
            # The configuration, a fragment or any other included file changed: every module.
            everything = any(p == CONFIG_RELPATH or (p.startswith(prompts_dir + "/") and (
                is_fragment(PurePosixPath(p[len(prompts_dir) + 1:])) or not p.endswith(PROMPT_SUFFIX)))
                for p in changes)
            touched = set()
            for p, status in changes.items():
                if p in outputs:
                    touched.add(outputs[p])
                if status == "D" and p.startswith(GENERATED_DIR + "/") and p.endswith("/" + TARGET.PACKAGE_FILE):
                    package = p[:-len(TARGET.PACKAGE_FILE)]  # the modules of that package lost their package file
                    touched.update(n for n, s in specs.items() if s.output.startswith(package))
                for n, s in specs.items():
                    if s.path == p or status == "D" and p in s.tests:  # its prompt, or a test file it lists, is gone
                        touched.add(n)
            todo = set(specs) if everything else _dependents(specs, touched)
            gen_paths = {p for p in changes if p.startswith(GENERATED_DIR + "/") and p in snap.blobs}
            # A prompt deleted: its output, if still present, is now an orphan.
            gen_paths |= {default_output(p[len(prompts_dir) + 1:-len(PROMPT_SUFFIX)])
                          for p, st in changes.items() if st == "D" and p.endswith(PROMPT_SUFFIX)} & set(snap.blobs)

        if not notes.exists and any(specs[n].output in snap.blobs for n in todo):
            result.problems.append(Problem(
                NOTES_REF, "notes-missing",
                f"this clone has no pdd notes ({NOTES_REF}), so provenance cannot be verified; "
                "no file is reported as edited for that reason",
                f"{FETCH_NOTES}   (fetches and merges the remote's notes, then pushes yours)"))

        from pdd.graph import topological_order

        if len(todo) > 64 and len(todo) * 20 > len(specs):  # many lookups: one listing of the notes tree, batch reads
            notes.prefetch([snap.blobs[specs[n].output] for n in todo if specs[n].output in snap.blobs])
            checker.prefetch_texts(sorted({specs[d].output for n in todo for d in specs[n].depends}))
        ordered = topological_order(specs, todo)
        if len(ordered) != len(todo):  # a cycle: must not pass unchecked
            from pdd.graph import check_graph

            check_graph(specs)  # raises InputError naming the cycle (exit 2)
        for name in ordered:
            checker.check_module(specs[name], specs, result)

        for path in sorted(gen_paths):
            if path in outputs:
                continue
            if snap.blobs[path].startswith(GITLINK_PREFIX):
                result.problems.append(Problem(path, "unexpected",
                                               f"{path} is a submodule; only pdd's output belongs in {GENERATED_DIR}/",
                                               f"git rm --cached {path}"))
                continue
            if path.endswith("/" + TARGET.PACKAGE_FILE):
                if snap.blobs[path] != INIT_BLOB:
                    result.problems.append(Problem(path, "edited", f"{path} is made by pdd and was edited by hand",
                                                   f"pdd build  (it rewrites {path}), or git checkout -- {path}"))
                continue
            if path.endswith(TARGET.SUFFIX):
                result.problems.append(Problem(path, "orphan", f"{path} has no prompt generating it",
                                               f"git rm {path}   (or write its prompt in {prompts_dir}/)"))
            else:  # bytecode, stubs, data, binaries: nothing under generated/ but pdd's modules
                result.problems.append(Problem(path, "unexpected",
                                               f"{path} is not a module pdd generates; only pdd's output belongs in {GENERATED_DIR}/",
                                               f"git rm --cached {path}"))
        if trace:
            _trace_problems(root, "index" if staged else "HEAD", specs, changes, reader, result)
        if staged and config.stale_policy == "warn":
            for p in result.problems:
                if p.state == "stale":
                    p.severity = "warning"
        return result
    finally:
        reader.close()
        yaml_cache.close()


def format_text(result: CheckResult) -> str:
    """Human-readable report: a first line naming what was checked (working tree,
    index or commit), one block per problem, then a summary line."""
    lines = [f"pdd check: checked the {result.mode}" if result.mode in ("working tree", "index")
             else f"pdd check: checked {result.mode}"]
    for p in result.problems:
        lines.append(f"{p.severity}: {p.state}: {p.message}")
        lines.append(f"  fix: {p.fix}")
    n = len(result.errors)
    if n:
        lines.append(f"pdd check ({result.mode}): {n} problem(s) in {result.checked} module(s) checked")
    else:
        lines.append(f"pdd check ({result.mode}): ok, {result.checked} module(s) genuine and fresh")
    return "\n".join(lines) + "\n"


def format_github(result: CheckResult) -> str:
    """GitHub Actions workflow commands (``::error file=...::``), then the text report."""
    out = []
    for p in result.problems:
        level = "error" if p.severity == "error" else "warning"
        msg = f"{p.state}: {p.message}. Fix: {p.fix}".replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        where = f"{p.path},line={p.line}" if p.line else p.path
        out.append(f"::{level} file={where},title=pdd {p.state}::{msg}")
    return "\n".join(out) + ("\n" if out else "") + format_text(result)

