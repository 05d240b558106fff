"""Output languages ("targets") behind one seam.

A target is everything pdd needs to know about the language it generates: where a
prompt's module is written and the name it is imported by, how the module is taken
out of a model answer and checked, its public interface (early cutoff), the words
of the generation template, the scaffold of ``pdd new``/``pdd init``, the
language-dependent lint rules, how a differential run loads source texts, and how
the module's behavior tests are run. The protocol is :class:`Target`
(:mod:`pdd.targets.protocol`); an implementation is a module providing those names,
in the shape of pre-commit's ``Language`` protocol and its ``all_languages``
registry (a table from a language name to the module implementing it).

There is one target today, ``python`` (:mod:`pdd.targets.python`). It is selected
in one place, :data:`DEFAULT`: the product contract has no per-prompt or
per-project target key yet, and every caller asks :func:`get` with no argument.

This module imports nothing at load (the pre-commit hook's path stays light); the
implementation is imported on the first :func:`get`, and :class:`Target` on first
access.
"""

from __future__ import annotations

DEFAULT = "python"

#: name -> module implementing :class:`Target`, imported on first use.
REGISTRY = {"python": "pdd.targets.python"}

_loaded: dict = {}


def names() -> tuple:
    """The registered target names, e.g. ``("python",)``."""
    return tuple(REGISTRY)


def get(name: str = DEFAULT):
    """The target implementation registered as ``name`` (default :data:`DEFAULT`).

    Returns a module satisfying :class:`Target`. Raises :class:`KeyError` naming the
    known targets (and the closest one) for an unknown name; the error is the
    caller's to turn into a file:line message if the name came from input.
    """
    target = _loaded.get(name)
    if target is not None:
        return target
    if name not in REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"unknown target {name!r}{hint}; known targets: {', '.join(REGISTRY)}")
    import importlib

    target = _loaded[name] = importlib.import_module(REGISTRY[name])
    return target


def __getattr__(attr: str):  # PEP 562: the protocol class without importing typing at load
    if attr == "Target":
        from pdd.targets.protocol import Target

        return Target
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
