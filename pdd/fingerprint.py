"""Module fingerprints (product contract, "Fingerprint and freshness").

A fingerprint is the SHA-256 (64 hex digits) of the canonical JSON
(:mod:`pdd.canonical`) of::

    {"v": 1,
     "module": "billing/invoice", "output": "generated/billing/invoice.py",
     "prompt": <rendered prompt text>,
     "generator": {"backend", "model", "temperature", "max_tokens", "template"},
     # "model" is the list of rungs for a ladder (pdd.policy), so the rung that
     # produced the file is not part of it
     "deps": {<dependency name>: <SHA-256 of its interface text>, ...},
     "uses": {<project file>: <SHA-256 of its interface text>, ...}}   # only if any

(``uses``: the front-matter key, :mod:`pdd.uses`; absent when empty, so prompts
without it keep their fingerprints.)

Behavior tests are deliberately not part of it: changing a test re-runs tests, it
does not regenerate. Dependencies enter only through their public interface
(:mod:`pdd.interface`), so a change inside a dependency's function bodies does not
cascade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pdd.canonical import digest
from pdd.config import Config
from pdd.generation import TEMPLATE_VERSION
from pdd.prompt import PromptSpec

FINGERPRINT_VERSION = 1


@dataclass(frozen=True)
class Generator:
    """The generator identity: what, besides the prompt, determines the code."""

    backend: str
    model: str
    temperature: float
    max_tokens: int
    template: str = TEMPLATE_VERSION
    ladder: tuple[str, ...] = ()  # every rung when ``model`` is a ladder; ``model`` is rung 1

    def to_json(self) -> dict[str, object]:
        return {"backend": self.backend, "model": list(self.ladder) if self.ladder else self.model,
                "temperature": self.temperature,
                "max_tokens": self.max_tokens, "template": self.template}


def generator_for(spec: PromptSpec, config: Config) -> Generator:
    """The generator identity of ``spec`` under ``config`` (front matter ``model`` and
    ``temperature`` override the configured ones, environment overrides included)."""
    ladder = spec.ladder if spec.model else config.ladder
    return Generator(
        backend=config.backend,
        model=spec.model or config.model,
        temperature=spec.temperature if spec.temperature is not None else config.temperature,
        max_tokens=config.max_tokens,
        ladder=ladder,
    )


def compute_fingerprint(spec: PromptSpec, rendered_text: str, generator: Generator, dep_digests: Mapping[str, str],
                        uses_digests: Mapping[str, str] | None = None) -> str:
    """The fingerprint of ``spec`` given its rendered prompt, generator identity and
    the interface digests of its dependencies (by module name) and of its used
    project files (by path)."""
    extra = {"uses": dict(sorted(uses_digests.items()))} if uses_digests else {}
    return digest({
        **extra,
        "v": FINGERPRINT_VERSION,
        "module": spec.name,
        "output": spec.output,
        "prompt": rendered_text,
        "generator": generator.to_json(),
        "deps": dict(sorted(dep_digests.items())),
    })


# -- generator-changed: the rule for environment overrides ---------------------------------------------------------
#
# A note records the generator that built the file (``inputs.generator``). When the
# fingerprint computed with *that* generator still equals the note's fingerprint,
# the prompt, its fragments and its dependencies' interfaces are unchanged: the file
# is not stale. If the configured generator differs (another backend or model, e.g.
# from PDD_BACKEND / PDD_MODEL in one person's environment, or other parameters or
# template), the state is ``generator-changed``: a warning, never a failure of
# ``pdd check`` or the hook, and ``pdd build`` keeps the file (``--force``
# regenerates it with the configured generator).


def generator_from_json(data: object) -> Generator | None:
    """The :class:`Generator` of a note's ``inputs.generator`` object, or None if malformed."""
    if not isinstance(data, dict):
        return None
    try:
        model = data["model"]
        ladder = tuple(str(m) for m in model) if isinstance(model, list) else ()
        if isinstance(model, list):  # a ladder (pdd.policy): rung 1 is the model
            if not model:
                return None
            model = model[0]
        return Generator(backend=str(data["backend"]), model=str(model),
                         temperature=data["temperature"], max_tokens=data["max_tokens"],
                         template=str(data["template"]), ladder=ladder)
    except (KeyError, TypeError):
        return None


def record_with_own_generator(spec: PromptSpec, rendered_text: str, dep_digests: Mapping[str, str],
                              records: list[Any], uses_digests: Mapping[str, str] | None = None) -> Any:
    """The newest :class:`pdd.provenance.record.NoteRecord` of ``records`` whose fingerprint equals the fingerprint computed now
    with the generator *it* recorded (prompt, dependency and ``uses`` inputs
    unchanged), or None."""
    for r in reversed(records):
        g = generator_from_json(r.generator)
        if g is not None and compute_fingerprint(spec, rendered_text, g, dep_digests, uses_digests) == r.fingerprint:
            return r
    return None


def generator_change(recorded: object, current: Generator) -> str:
    """A short account of how the recorded generator (a note's ``inputs.generator``)
    differs from ``current``, e.g. ``model qwen -> fake-model``."""
    rec = recorded if isinstance(recorded, dict) else {}
    now = current.to_json()
    diffs = [f"{k} {rec.get(k)} -> {now[k]}" for k in now if rec.get(k) != now[k]]
    return ", ".join(diffs) or "generator changed"
