"""Model backends behind one small interface.

A backend turns a :class:`Request` (chat messages and parameters) into a
:class:`Completion` (answer text, tokens, cost). Backends are chosen by name in
``.pdd/config.yaml`` or ``PDD_BACKEND``; their modules, and the model SDKs they
use, are imported only when a model is actually called, so commands that call no
model do not pay for importing the clients.

=============  ===========================================================
``openai``     OpenAI-compatible Chat Completions (official ``openai`` SDK)
``anthropic``  Anthropic Messages API (official ``anthropic`` SDK)
``command``    a program reading the prompt on stdin (``claude -p``, ``codex exec``, ...)
``replay``     recorded responses only; never calls out
=============  ===========================================================

The :data:`REGISTRY` says, for each, its settings schema and capability flags
(:class:`BackendInfo`); nothing outside this package names a backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pdd.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from pdd.backends.api import Backend
    from pdd.config import Config

_API = ("Request", "Completion", "Backend")


def __getattr__(name: str) -> Any:
    """``Request``, ``Completion`` and ``Backend`` (:mod:`pdd.backends.api`), imported on
    first use so that reading the registry costs the hook path nothing."""
    if name in _API:
        from pdd.backends import api

        return getattr(api, name)
    raise AttributeError(f"module 'pdd.backends' has no attribute {name!r}")


class BackendInfo:
    """One registry entry: what pdd knows about a backend without importing it.

    ``name``: the value of ``backend:`` / ``PDD_BACKEND`` and of the backend's settings
    section; ``factory``: ``"module:function"``, the function called as
    ``function(config, root)`` to build the :class:`Backend` (its module, and any SDK
    it needs, is imported only then); ``settings_schema``: key -> accepted type(s) of
    its section in ``.pdd/config.yaml`` (checked by :mod:`pdd.config`; a key named
    ``timeout`` must be a number of seconds above 0); capability flags in the manner of
    simonw/llm's model attributes: ``deterministic`` (answers are recorded ones: free,
    repeatable, never worth recording again or pricing), ``records`` (its section's
    ``dir`` is the recordings folder that ``--record`` writes); ``summary`` for help.
    A plain class, not a dataclass: this module is on the pre-commit hook's import path.
    """

    __slots__ = ("name", "factory", "summary", "settings_schema", "deterministic", "records")

    def __init__(self, name: str, factory: str, summary: str, settings_schema: "dict[str, Any] | None" = None, *,
                 deterministic: bool = False, records: bool = False) -> None:
        self.name = name
        self.factory = factory
        self.summary = summary
        self.settings_schema: dict[str, Any] = dict(settings_schema or {})
        self.deterministic = deterministic
        self.records = records

    def __repr__(self) -> str:
        return f"BackendInfo({self.name!r}, deterministic={self.deterministic})"

    def create(self, config: "Config", root: "Path") -> "Backend":
        """The backend for ``config`` in repository ``root``. Raises :class:`ConfigError`."""
        import importlib

        module, _, function = self.factory.partition(":")
        return getattr(importlib.import_module(module), function)(config, root)


_URL = (str, type(None))
_SECONDS = (int, float)

#: Every backend, in the order help text lists them (the shape of pre-commit's
#: ``all_languages``): one entry per module of this package. Adding a backend is one
#: module with a ``create(config, root)`` function and one entry here (docs/backends.md).
REGISTRY: dict[str, BackendInfo] = {info.name: info for info in (
    BackendInfo("openai", "pdd.backends.openai:create",
                "OpenAI-compatible Chat Completions (official ``openai`` SDK)",
                {"base_url": _URL, "timeout": _SECONDS, "max_retries": int, "stream": bool}),
    BackendInfo("anthropic", "pdd.backends.anthropic:create", "Anthropic Messages API (official ``anthropic`` SDK)",
                {"base_url": _URL, "timeout": _SECONDS, "max_retries": int}),
    BackendInfo("command", "pdd.backends.command:create",
                "a program reading the prompt on stdin (``claude -p``, ``codex exec``, ...)",
                {"argv": list, "preset": _URL, "base_url": _URL, "timeout": _SECONDS, "max_retries": int}),
    BackendInfo("replay", "pdd.backends.replay:create", "recorded responses only; never calls out",
                {"dir": str}, deterministic=True, records=True),
)}

#: The backend of a project with no ``backend:`` setting (``pdd init`` writes it).
DEFAULT = "replay"
#: The settings section whose ``dir`` is the recordings folder (``replay.dir``).
RECORDINGS_SECTION = next(info.name for info in REGISTRY.values() if info.records)


def names() -> tuple[str, ...]:
    """The registered backend names."""
    return tuple(REGISTRY)


def lookup(name: Any, where: str = ".pdd/config.yaml") -> BackendInfo:
    """The registry entry of backend ``name``. Raises :class:`ConfigError` (exit 2)
    starting with ``where`` (a file:line or a variable), with a did-you-mean
    suggestion (``difflib.get_close_matches``) and the list of names."""
    info = REGISTRY.get(name) if isinstance(name, str) else None
    if info is not None:
        return info
    import difflib

    close = difflib.get_close_matches(str(name), names(), n=1)
    raise ConfigError(f"{where}: unknown backend '{name}'" + (f": did you mean '{close[0]}'?" if close else ""),
                      hint=f"use one of: {', '.join(names())}")


def make_backend(config: "Config", root: "Path") -> "Backend":
    """Instantiate the configured backend (:data:`REGISTRY`). Raises :class:`ConfigError`
    for an unknown or unavailable one."""
    return lookup(config.backend, "backend").create(config, root)
