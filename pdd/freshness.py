"""Module inputs and states: fresh, stale, edited, missing, orphan, failing.

Definitions (product contract, "Provenance in git notes"):

* **genuine**: the file's blob has a note line naming its path; otherwise it was
  **edited** by hand;
* **stale**: genuine, but no note line for the path carries the fingerprint
  computed now;
* **missing**: a prompt without its module; **orphan**: a module under
  ``generated/`` without a prompt;
* **failing**: the newest run record for the module failed its behavior tests
  with the current fingerprint;
* **generator-changed**: genuine and not stale, but built by another generator
  (backend, model, parameters or template) than the configured one, e.g. with
  ``PDD_BACKEND``/``PDD_MODEL`` set in one person's environment: a warning, not a
  failure; see :mod:`pdd.fingerprint`;
* **untested**: the module's behavior-test files are missing (and it did not opt
  out with ``tests: []`` and ``untested_reason``): a failure, not a pass;
* **unknown**: the notes ref is absent (a clone that never fetched the notes), so
  provenance cannot be judged — never reported as edited.

The working-tree files are read here (for ``status`` and ``build``); the
pre-commit hook and ``check`` use the index and trees instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pdd.fingerprint import Generator, compute_fingerprint, generator_change, generator_for, record_with_own_generator
from pdd.generation import DependencyContext
from pdd.interface import extract_interface, interface_digest
from pdd.notes import notes_ref_exists, read_notes, records_for_path
from pdd.project import Project
from pdd.prompt import GENERATED_DIR, PromptSpec, untested_problem
from pdd.render import render_prompt

STATES = ("fresh", "generator-changed", "stale", "edited", "missing", "orphan", "failing", "untested", "unknown", "broken")
FETCH_NOTES_HINT = "pdd notes sync   (fetches and merges the remote's notes, if it has any)"


def git_blob_id(data: bytes) -> str:
    """The git blob id (SHA-1 hex) of ``data``, as ``git hash-object --no-filters`` computes it."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def worktree_blob_id(project: Project, rel: str) -> str:
    """The blob id ``git add`` would give working-tree file ``rel``: the repository's
    filters (``core.autocrlf``, ``.gitattributes`` ``eol``/``text``) applied, so it
    equals the id in the index and in notes. Raises :class:`OSError` if unreadable."""
    try:
        return str(project.repo.hashfile(rel))
    except Exception as exc:  # pygit2.GitError for a missing or unreadable file
        raise OSError(f"{rel}: {exc}") from None


@dataclass(frozen=True)
class ModuleInputs:
    """Everything a module's generation depends on, with its fingerprint."""

    fingerprint: str
    rendered: str
    generator: Generator
    prompt_blob: str
    includes: dict[str, str] | None  # None: computed includes, so no manifest shortcut
    dep_digests: dict[str, str]
    dep_contexts: tuple[DependencyContext, ...]
    uses_digests: dict[str, str] = field(default_factory=dict)

    def to_note(self) -> dict[str, Any]:
        """The input manifest stored in the note (blob ids of prompt and includes,
        dependency interface digests, generator identity; used files' interface
        digests under ``uses`` when the prompt has any)."""
        note = {"includes": self.includes, "deps": self.dep_digests, "generator": self.generator.to_json()}
        if self.uses_digests:
            note["uses"] = self.uses_digests
        return note


class DependencyUnavailable(Exception):
    """A dependency's generated module is missing or does not parse."""


def dependency_interface(project: Project, dep: PromptSpec) -> str:
    """Interface text of ``dep``'s generated file in the working tree.
    Raises :class:`DependencyUnavailable`."""
    path = project.root / dep.output
    try:
        source = path.read_text(encoding="utf-8")
        return extract_interface(source, dep.output)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
        raise DependencyUnavailable(f"{dep.output}: {exc.__class__.__name__}: {exc}") from None


def module_inputs(project: Project, spec: PromptSpec) -> ModuleInputs:
    """Render ``spec`` and compute its fingerprint from the dependencies' current
    files. Raises :class:`pdd.errors.InputError` or :class:`DependencyUnavailable`."""
    specs = project.usable_specs()[0]  # its dependencies are usable (a broken prompt is not one)
    rendered = render_prompt(spec, project.root, project.config.prompts_dir)
    contexts = []
    digests = {}
    for dep_name in spec.depends:
        dep = specs[dep_name]
        iface = dependency_interface(project, dep)
        contexts.append(DependencyContext(module=dep.module, interface=iface))
        digests[dep_name] = interface_digest(iface)
    used, uses_digests = worktree_uses(project, spec)
    contexts += [DependencyContext(module=name, interface=iface) for name, iface in used]
    generator = generator_for(spec, project.config)
    includes = {}
    for inc in rendered.includes:
        try:
            includes[inc] = worktree_blob_id(project, inc)
        except OSError:
            includes[inc] = ""
    return ModuleInputs(
        fingerprint=compute_fingerprint(spec, rendered.text, generator, digests, uses_digests),
        rendered=rendered.text,
        generator=generator,
        prompt_blob=worktree_blob_id(project, spec.path),
        includes=None if rendered.dynamic else includes,
        dep_digests=digests,
        dep_contexts=tuple(contexts),
        uses_digests=uses_digests,
    )


def worktree_uses(project: Project, spec: PromptSpec) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """:func:`pdd.uses.used_interfaces` of ``spec``'s ``uses`` files in the working
    tree. Raises :class:`pdd.errors.InputError` for a missing or unparsable file."""
    from pdd.uses import used_interfaces, worktree_reader

    return used_interfaces(spec.path, spec.keys_line.get("uses"), spec.uses, worktree_reader(project.root))


def inputs_unchanged(project: Project, spec: PromptSpec, records: list[dict[str, Any]], dep_digests: dict[str, str]) -> bool:
    """True if a note record's input manifest (prompt blob, included fragments'
    blobs, dependency interface digests) equals the current inputs: the prompt side
    of the fingerprint is then necessarily unchanged, and nothing needs rendering.
    The recorded generator may differ from the configured one (``generator-changed``
    is not stale; see :mod:`pdd.fingerprint`). ``dep_digests``: current interface
    digest of each dependency."""
    if not records:
        return False
    uses = worktree_uses(project, spec)[1] if spec.uses else {}
    for r in records:
        inputs = r.get("inputs") or {}
        includes = inputs.get("includes")
        if (not isinstance(inputs.get("generator"), dict) or inputs.get("deps") != dep_digests
                or (inputs.get("uses") or {}) != uses or not isinstance(includes, dict)):
            continue
        try:
            if matches_blob(project, spec.path, r.get("prompt_blob")) and all(
                    matches_blob(project, p, b) for p, b in includes.items()):
                return True
        except OSError:
            continue
    return False


def matches_blob(project: Project, rel: str, blob: Any) -> bool:
    """True if working-tree file ``rel`` is blob ``blob``. The plain hash of the bytes
    is tried first (cheap, and right unless a filter applies); then the hash with
    the repository's filters (a CRLF checkout). Raises :class:`OSError` if unreadable."""
    if not isinstance(blob, str) or not blob:
        return False
    with open(os.path.join(project.root, rel), "rb") as fh:
        if git_blob_id(fh.read()) == blob:
            return True
    return worktree_blob_id(project, rel) == blob


@dataclass
class ModuleState:
    """The state of one module (or orphan file) and why."""

    name: str | None
    path: str
    state: str
    reason: str
    prompt: str | None = None
    fingerprint: str | None = None
    note: dict[str, Any] | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        return {"module": self.name, "path": self.path, "prompt": self.prompt, "state": self.state,
                "reason": self.reason, "fingerprint": self.fingerprint}


def latest_outcomes(project: Project) -> dict[str, dict[str, Any]]:
    """Per module, the newest run-record entry (see :mod:`pdd.runs`)."""
    from pdd.runs import latest_module_outcomes

    return latest_module_outcomes(project.root)


def file_state(project: Project, spec: PromptSpec, inputs: ModuleInputs | None, have_notes: bool,
               outcomes: dict[str, dict[str, Any]] | None = None) -> ModuleState:
    """The state of ``spec``'s generated file in the working tree."""
    path = project.root / spec.output
    base = dict(name=spec.name, path=spec.output, prompt=spec.path, fingerprint=inputs.fingerprint if inputs else None)
    if not path.is_file():
        return ModuleState(state="missing", reason="no generated file; run `pdd build " + spec.name + "`", **base)
    blob = git_blob_id(path.read_bytes())
    records = records_for_path(read_notes(project.repo, blob), spec.output) if have_notes else []
    if have_notes and not records:  # perhaps a filtered (e.g. CRLF) checkout
        blob = worktree_blob_id(project, spec.output)
        records = records_for_path(read_notes(project.repo, blob), spec.output)
    if not have_notes:
        return ModuleState(state="unknown", reason=f"no notes ref {'refs/notes/pdd'}; fetch it: {FETCH_NOTES_HINT}", **base)
    if not records:
        return ModuleState(state="edited", reason=f"blob {blob[:10]} has no pdd note for this path: edited by hand; "
                                                   f"run `pdd fix {spec.output}` or `pdd build --force {spec.name}`", **base)
    note = records[-1]
    untested = untested_problem(spec, lambda t: (project.root / t).is_file())
    if untested is not None:
        return ModuleState(state="untested", reason=f"{untested}; or opt out with `tests: []` and `untested_reason:`",
                           note=note, **base)
    if inputs is None:
        return ModuleState(state="stale", reason="a dependency is missing or does not parse", note=note, **base)
    outcome = (outcomes or {}).get(spec.name)
    if outcome and outcome.get("fingerprint") == inputs.fingerprint and outcome.get("status") == "failed":
        what = ("the last build's behavior tests failed: " if outcome.get("tests") in ("failed", "timeout", "error")
                else "the last build failed: ")
        return ModuleState(state="failing", reason=what + str(outcome.get("error") or ""), note=note, **base)
    if any(r.get("fingerprint") == inputs.fingerprint for r in records):
        return ModuleState(state="fresh", reason="genuine and up to date", note=note, **base)
    own = built_by_other_generator(spec, inputs, records)
    if own is not None:
        return ModuleState(state="generator-changed", reason=(
            f"built with another generator ({generator_change((own.get('inputs') or {}).get('generator'), inputs.generator)}); "
            f"prompt and dependencies unchanged, so not stale; `pdd build --force {spec.name}` regenerates it"),
            note=own, **base)
    return ModuleState(state="stale", reason=_why_stale(note, inputs), note=note, **base)


def built_by_other_generator(spec: PromptSpec, inputs: ModuleInputs, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The note record that matches ``inputs`` except for its generator, or None
    (see :func:`pdd.fingerprint.record_with_own_generator`)."""
    return record_with_own_generator(spec, inputs.rendered, inputs.dep_digests, records, inputs.uses_digests)


def _why_stale(note: dict[str, Any], inputs: ModuleInputs) -> str:
    recorded = note.get("inputs") or {}
    reasons = []
    if note.get("prompt_blob") and note.get("prompt_blob") != inputs.prompt_blob:
        reasons.append("prompt changed")
    if recorded.get("includes") not in (None, inputs.includes):
        reasons.append("an included fragment changed")
    if recorded.get("deps") not in (None, inputs.dep_digests):
        reasons.append("a dependency's interface changed")
    return (", ".join(reasons) or "fingerprint changed") + "; run `pdd build`"


def project_states(project: Project) -> list[ModuleState]:
    """States of every module and every orphan file, sorted by path. A module whose
    prompt (or a dependency's) is broken is in state ``broken`` with the error (file
    and line) as its reason; the other modules' states are still computed."""
    specs, broken = project.usable_specs()
    have_notes = notes_ref_exists(project.repo)
    outcomes = latest_outcomes(project)
    states: list[ModuleState] = []
    for name in sorted(specs):
        spec = specs[name]
        try:
            inputs: ModuleInputs | None = module_inputs(project, spec)
        except DependencyUnavailable:
            inputs = None
        states.append(file_state(project, spec, inputs, have_notes, outcomes))
    for name, exc in broken.items():
        states.append(ModuleState(name=name, path=exc.path, state="broken", reason=str(exc).replace("\n", " ")))
    outputs = {s.output for s in specs.values()} | {f"{GENERATED_DIR}/{n}.py" for n in broken}
    gen = project.root / GENERATED_DIR
    if gen.is_dir():
        for p in sorted(gen.rglob("*.py")):
            rel = p.relative_to(project.root).as_posix()
            if p.name == "__init__.py" or rel in outputs or "__pycache__" in p.parts:
                continue
            states.append(ModuleState(name=None, path=rel, state="orphan", reason="no prompt generates this file; "
                                      f"delete it (git rm {rel}) or write its prompt"))
    return sorted(states, key=lambda s: s.path)
