"""Public interface of a generated (or used) module, and its digest.

A dependency's interface, not its whole source, is what its dependents' prompts
see and what their fingerprints cover, so a change inside a function body does not
rebuild the dependents (early cutoff, as in ninja's ``restat`` or Bazel's
interface jars). The interface text is the output language's
(:meth:`pdd.targets.Target.extract_interface`; for the default target a stub module
made with :mod:`ast`, :mod:`pdd.targets.pyast`); its digest is SHA-256 of that text.
"""

from __future__ import annotations

import hashlib


def interface_digest(interface: str) -> str:
    """SHA-256 (hex) of an interface text."""
    return hashlib.sha256(interface.encode("utf-8")).hexdigest()
