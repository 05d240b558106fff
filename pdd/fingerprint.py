"""Module fingerprints (product contract, "Fingerprint and freshness").

A fingerprint is the SHA-256 (64 hex digits) of the canonical JSON
(:mod:`pdd.canonical`) of::

    {"v": 1,
     "module": "billing/invoice", "output": "generated/billing/invoice.py",
     "prompt": <rendered prompt text>,
     "generator": {"backend", "model", "temperature", "max_tokens", "template"},
     # "model" is the list of rungs for a ladder (pdd.policy), so the rung that
     # produced the file is not part of it
     "deps": {<dependency name>: <SHA-256 of its interface text>, ...}}

Behavior tests are deliberately not part of it: changing a test re-runs tests, it
does not regenerate. Dependencies enter only through their public interface
(:mod:`pdd.interface`), so a change inside a dependency's function bodies does not
cascade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


def compute_fingerprint(spec: PromptSpec, rendered_text: str, generator: Generator, dep_digests: Mapping[str, str]) -> str:
    """The fingerprint of ``spec`` given its rendered prompt, generator identity and
    the interface digests of its dependencies (by module name)."""
    return digest({
        "v": FINGERPRINT_VERSION,
        "module": spec.name,
        "output": spec.output,
        "prompt": rendered_text,
        "generator": generator.to_json(),
        "deps": dict(sorted(dep_digests.items())),
    })
