"""Module inputs in the working tree, and the states of a project's modules.

:func:`module_inputs` renders a prompt and computes its fingerprint from the
dependencies' current files (for ``pdd build``); :func:`project_states` (``pdd
status``) and :func:`file_state` judge each module with the one judge,
:func:`pdd.provenance.state.judge` (the states and their definitions are there),
reading the working tree through :class:`pdd.provenance.source.WorktreeSource`: a
module whose recorded inputs are unchanged is judged without rendering its prompt.
The pre-commit hook and ``check`` use the index and trees instead (:mod:`pdd.check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pdd.fingerprint import Generator, compute_fingerprint, generator_for
from pdd.generation import DependencyContext
from pdd import targets
from pdd.interface import interface_digest
from pdd.project import Project
from pdd.prompt import GENERATED_DIR, TARGET, PromptSpec, default_output, untested_problem
from pdd.provenance.source import Notes, WorktreeSource
from pdd.provenance.state import ModuleState, judge
from pdd.render import render_prompt

if TYPE_CHECKING:  # pragma: no cover
    from pdd.render import Rendered


def worktree_source(project: Project, notes: Notes | None = None) -> WorktreeSource:
    """The working tree of ``project`` as a :class:`pdd.provenance.source.Source`, hashing
    with the repository's filters through its pygit2 repository."""
    return WorktreeSource(project.root, notes, lambda: project.repo)  # pygit2 only when a filtered hash is needed


def worktree_blob_id(project: Project, rel: str) -> str:
    """The blob id ``git add`` would give working-tree file ``rel``: the repository's
    filters (``core.autocrlf``, ``.gitattributes`` ``eol``/``text``) applied, so it
    equals the id in the index and in notes. Raises :class:`OSError` if unreadable or absent."""
    blob = worktree_source(project).filtered_blob(rel)
    if blob is None:
        raise OSError(f"{rel}: no such file")
    return blob


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
        return targets.get().extract_interface(source, dep.output)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
        raise DependencyUnavailable(f"{dep.output}: {exc.__class__.__name__}: {exc}") from None


def module_inputs(project: Project, spec: PromptSpec, rendered: "Rendered | None" = None) -> ModuleInputs:
    """Render ``spec`` (unless ``rendered``, its rendering, is given) and compute its
    fingerprint from the dependencies' current files. Raises
    :class:`pdd.errors.InputError` or :class:`DependencyUnavailable`."""
    specs = project.usable_specs()[0]  # its dependencies are usable (a broken prompt is not one)
    if rendered is None:
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


def latest_outcomes(project: Project) -> dict[str, dict[str, Any]]:
    """Per module, the newest run-record entry (see :mod:`pdd.runs`)."""
    from pdd.runs import latest_module_outcomes

    return latest_module_outcomes(project.root)


def file_state(project: Project, spec: PromptSpec, notes: Notes, outcomes: dict[str, dict[str, Any]] | None = None,
               digests: dict[str, str | None] | None = None) -> ModuleState:
    """The state of ``spec``'s generated file in the working tree (:func:`pdd.provenance.state.judge`).
    ``notes``: the notes read; ``digests``: a cache of dependencies' interface digests
    by output path, shared across calls. Raises :class:`pdd.errors.InputError` for a
    prompt that does not render (rendered unless its recorded inputs are unchanged: the
    fingerprint is reported in every state)."""
    specs = project.usable_specs()[0]
    cache = {} if digests is None else digests
    deps: dict[str, str] | str = {}
    for d in spec.depends:
        dep = specs[d]
        if dep.output not in cache:
            try:
                cache[dep.output] = interface_digest(dependency_interface(project, dep))
            except DependencyUnavailable:
                cache[dep.output] = None
        if cache[dep.output] is None:
            deps = f"dependency {d} has no usable generated module"
            break
        deps[d] = cache[dep.output]  # type: ignore[index]
    uses = worktree_uses(project, spec)[1] if spec.uses else {}
    untested = untested_problem(spec, lambda t: (project.root / t).is_file())
    return judge(spec, worktree_source(project, notes), have_notes=notes.exists, generator=generator_for(spec, project.config),
                 deps=deps, uses=uses, untested=untested, outcome=(outcomes or {}).get(spec.name), want_fingerprint=True,
                 render=lambda: render_prompt(spec, project.root, project.config.prompts_dir).text)


def project_states(project: Project) -> list[ModuleState]:
    """States of every module and every orphan file, sorted by path. A module whose
    prompt (or a dependency's) is broken is in state ``broken`` with the error (file
    and line) as its reason; the other modules' states are still computed."""
    specs, broken = project.usable_specs()
    notes = Notes(project.root)
    outcomes = latest_outcomes(project)
    states: list[ModuleState] = []
    digests: dict[str, str | None] = {}
    try:
        if notes.exists and len(specs) > 16:
            notes.load_listing()
        for name in sorted(specs):
            states.append(file_state(project, specs[name], notes, outcomes, digests))
    finally:
        notes.close()
    for name, exc in broken.items():
        states.append(ModuleState(name=name, path=exc.path, state="broken", why=str(exc).replace("\n", " ")))
    outputs = {s.output for s in specs.values()} | {default_output(n) for n in broken}
    gen = project.root / GENERATED_DIR
    if gen.is_dir():
        for p in sorted(gen.rglob("*" + TARGET.SUFFIX)):
            rel = p.relative_to(project.root).as_posix()
            if p.name == TARGET.PACKAGE_FILE or rel in outputs or "__pycache__" in p.parts:
                continue
            states.append(ModuleState(name=None, path=rel, state="orphan", why="no prompt generates this file; "
                                      f"delete it (git rm {rel}) or write its prompt"))
    return sorted(states, key=lambda s: s.path)
