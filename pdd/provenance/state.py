"""The state of a module, judged in one place: :func:`judge`.

States (product contract, "Provenance in git notes"; :data:`State`):

* **missing**: a prompt without its module; **orphan**: a module under ``generated/``
  without a prompt; **broken**: its prompt (or a dependency's) does not parse or render
  (``orphan`` and ``broken`` come from the project listing, :func:`project_states`);
* **unknown**: no notes ref (a clone that never fetched the notes), so provenance cannot
  be judged — never reported as edited;
* **edited**: the file's blob has no note line naming its path (a hand edit);
* **untested**: its behavior-test files are missing (and it did not opt out);
* **failing**: the newest run record for the module failed with the current fingerprint;
* **fresh**: genuine, and a note line carries the fingerprint computed now;
* **generator-changed**: genuine, not stale, but built by another generator than the
  configured one (a warning; see :mod:`pdd.fingerprint`);
* **stale**: genuine, but no note line matches the current inputs.

Freshness is decided by an exact **fast path** first (:func:`matching_record`): a note
records the fingerprint's inputs — the prompt's and included fragments' blob ids, the
dependencies' and used files' interface digests, the generator — and when they all
equal the current ones the fingerprint is necessarily equal, so nothing is rendered and
no fingerprint computed. Only otherwise is the prompt rendered (once) and the
fingerprint compared. ``pdd build``, ``pdd check`` and the hook, ``pdd status`` and
``pdd explain`` all call :func:`judge`; each reason is written here once, and each
command only adds its own fix text. Adding a state is one :data:`State` value and one
branch in :func:`judge` (and its ``pdd status`` hint in :data:`STATUS_FIX`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal

from pdd.provenance.record import FETCH_NOTES_HINT, NOTES_REF, NoteRecord

if TYPE_CHECKING:  # pragma: no cover
    from pdd.fingerprint import Generator
    from pdd.prompt import PromptSpec
    from pdd.provenance.source import Source

State = Literal["fresh", "generator-changed", "stale", "edited", "missing", "orphan", "failing", "untested",
                "unknown", "broken"]

# What `pdd status` adds to a state's reason: the command that mends it ({name}, {output}: the module's).
STATUS_FIX: dict[str, str] = {
    "missing": "run `pdd build {name}`",
    "unknown": "",
    "edited": "run `pdd fix {output}` or `pdd build --force {name}`",
    "untested": "or opt out with `tests: []` and `untested_reason:`",
    "stale": "run `pdd build`",
    "generator-changed": "`pdd build --force {name}` regenerates it",
    "failing": "",
    "fresh": "",
}


@dataclass
class ModuleState:
    """The state of one module (or orphan file) and why. ``why``: the reason (from
    :func:`judge`); ``reason``: it with the ``pdd status`` fix (:data:`STATUS_FIX`).
    ``note``: the newest record naming the path (for generator-changed: the matching
    one); ``fingerprint``: computed now (``None`` when the fast path made it needless and
    no record carried it); ``blob``: the file's blob id (``None`` if absent)."""

    name: str | None
    path: str
    state: str
    why: str
    prompt: str | None = None
    fingerprint: str | None = None
    note: NoteRecord | None = None
    blob: str | None = None
    others: tuple[str, ...] = ()  # other paths named by the blob's note (edited: copied or renamed?)

    @property
    def reason(self) -> str:
        fix = STATUS_FIX.get(self.state, "").format(name=self.name, output=self.path)
        return f"{self.why}; {fix}" if fix else self.why

    def to_json(self) -> dict[str, Any]:
        return {"module": self.name, "path": self.path, "prompt": self.prompt, "state": self.state,
                "reason": self.reason, "fingerprint": self.fingerprint}


def matching_record(spec: "PromptSpec", source: "Source", records: list[NoteRecord], generator: dict[str, Any],
                    deps: dict[str, str], uses: dict[str, str]) -> tuple[NoteRecord | None, bool]:
    """The fast path: ``(record, same_generator)`` for the newest-first record whose input
    manifest (prompt blob, included fragments' blobs, dependency and ``uses`` digests)
    equals the current inputs in ``source`` and whose prompt is ``spec``'s path; ``same_generator`` if its generator is also
    ``generator`` (:meth:`pdd.fingerprint.Generator.to_json`). ``(None, False)`` if none
    does (a record with computed includes never matches: it must be rendered).
    Raises :class:`OSError` if a working-tree file is unreadable."""
    changed = None
    for r in reversed(records):
        inputs = r.inputs
        if not isinstance(inputs, dict):
            continue
        includes = inputs.get("includes")
        if (r.prompt != spec.path  # a renamed prompt is another module: its fingerprint differs
                or not isinstance(inputs.get("generator"), dict) or inputs.get("deps") != deps
                or (inputs.get("uses") or {}) != uses or not isinstance(includes, dict)):
            continue
        if source.matches(spec.path, r.prompt_blob) and all(source.matches(p, b) for p, b in includes.items()):
            if inputs["generator"] == generator:
                return r, True
            changed = changed or r
    return changed, False


def judge(spec: "PromptSpec", source: "Source", *, have_notes: bool, generator: "Generator",
          deps: "dict[str, str] | str", uses: dict[str, str], render: Callable[[], str],
          untested: str | None = None, outcome: dict[str, Any] | None = None,
          want_fingerprint: bool = False) -> ModuleState:
    """The state of ``spec``'s generated file in ``source`` (a :class:`pdd.provenance.source.Source`).

    ``have_notes``: a notes ref exists; ``generator``: the configured generator of the
    module; ``deps``: each dependency's interface digest now, or (a string) why one is
    unusable; ``uses``: the ``uses`` files' interface digests now; ``render``: the
    rendered prompt's text, called at most once and only when the fast path does not
    decide; ``untested``: why the module has no behavior tests (``None``: it has, or the
    caller reports it itself); ``outcome``: the newest run-record entry of the module
    (``failing``); ``want_fingerprint``: compute the fingerprint whatever the state
    (``pdd status`` reports it, and so reports a prompt that does not render), rendering
    unless the fast path gives it. Raises what ``render`` raises and :class:`OSError`
    for an unreadable working-tree file."""
    from pdd.fingerprint import compute_fingerprint, generator_change, record_with_own_generator

    blob, records, others = source.provenance(spec.output)
    base = dict(name=spec.name, path=spec.output, prompt=spec.path, blob=blob, others=tuple(others))
    rendered: list[str] = []
    match: NoteRecord | None = None
    same = False

    def fingerprint() -> str | None:
        if isinstance(deps, str):
            return None  # a dependency is unusable: no fingerprint
        if match is not None and same and match.fingerprint:
            return match.fingerprint  # equal inputs: equal fingerprint, nothing rendered
        if not rendered:
            rendered.append(render())
        return compute_fingerprint(spec, rendered[0], generator, deps, uses)

    def early(state: str, why: str, note: NoteRecord | None = None) -> ModuleState:
        return ModuleState(state=state, why=why, note=note, fingerprint=fingerprint() if want_fingerprint else None, **base)

    if blob is None:
        return early("missing", "no generated file")
    if not have_notes:
        return early("unknown", f"no notes ref {NOTES_REF}; fetch it: {FETCH_NOTES_HINT}")
    if not records:
        return early("edited", f"its note names {', '.join(others)}, not this path (copied or renamed by hand?)" if others
                     else f"its blob {blob[:10]} has no pdd note for this path: edited by hand")
    note = records[-1]
    if untested is not None:
        return early("untested", untested, note)
    if isinstance(deps, str):
        return early("stale", deps, note)
    match, same = matching_record(spec, source, records, generator.to_json(), deps, uses)

    if outcome and outcome.get("status") == "failed" and outcome.get("fingerprint") == fingerprint():
        what = ("the last build's behavior tests failed: " if outcome.get("tests") in ("failed", "timeout", "error")
                else "the last build failed: ")
        return ModuleState(state="failing", why=what + str(outcome.get("error") or ""), note=note,
                           fingerprint=fingerprint(), **base)
    if match is not None and same:
        return ModuleState(state="fresh", why="genuine and up to date", note=match, fingerprint=match.fingerprint, **base)
    own = match
    if own is None:
        fp = fingerprint()
        if any(r.fingerprint == fp for r in records):
            return ModuleState(state="fresh", why="genuine and up to date", note=note, fingerprint=fp, **base)
        own = record_with_own_generator(spec, rendered[0], deps, records, uses)
    if own is not None:
        return ModuleState(state="generator-changed", note=own, why=(
            f"built with another generator ({generator_change(own.generator, generator)}); "
            "its prompt and dependencies are unchanged, so it is not stale"),
            fingerprint=fingerprint() if want_fingerprint else None, **base)
    reasons = []
    if note.prompt_blob and not source.matches(spec.path, note.prompt_blob):
        reasons.append("prompt changed")
    if isinstance(note.includes, dict) and not all(source.matches(p, b) for p, b in note.includes.items()):
        reasons.append("an included fragment changed")
    if note.deps is not None and note.deps != deps:
        reasons.append("a dependency's interface changed")
    if note.uses != uses:
        reasons.append("a used project file's interface changed")
    return ModuleState(state="stale", why=", ".join(reasons) or "fingerprint changed", note=note,
                       fingerprint=fingerprint(), **base)
