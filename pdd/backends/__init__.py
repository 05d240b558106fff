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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pdd.errors import ConfigError

if TYPE_CHECKING:
    from pdd.config import Config


@dataclass(frozen=True)
class Request:
    """One model request.

    ``messages``: ``({"role", "content"}, ...)`` in Chat Completions form;
    ``model``: model name; ``temperature``: 0 to 2; ``max_tokens``: answer limit;
    ``module``: the module it is for (for messages only, not part of any key);
    ``seed``: sampling seed for backends that take one (``openai``), or ``None``
    (then it is not sent and not part of the cache key, so keys made before it
    existed are unchanged).
    """

    messages: tuple[dict[str, str], ...]
    model: str
    temperature: float
    max_tokens: int
    module: str = ""
    seed: int | None = None

    def params(self) -> dict[str, Any]:
        """The generation parameters that change the answer (part of the cache key)."""
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.seed is not None:
            params["seed"] = self.seed
        return params


@dataclass(frozen=True)
class Completion:
    """A model answer. Token counts and cost are ``None`` when unknown (never 0 for unknown).

    ``model`` is the model the provider says it served (the response's ``model``), else the
    requested one; ``extra["system_fingerprint"]`` the OpenAI-style configuration id where given.
    ``extra["backend_info"]``, when a backend sets it, is a small JSON-ready dict saying how the
    answer was obtained (e.g. the ``command`` backend's preset and program); it is kept in the
    generation cache and recorded in the provenance note as ``backend_info``.
    """

    text: str
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the completion."""
        data = {"text": self.text, "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
                "cost_usd": self.cost_usd, "model": self.model}
        if isinstance(self.extra.get("backend_info"), dict):
            data["backend_info"] = self.extra["backend_info"]
        if isinstance(self.extra.get("system_fingerprint"), str):
            data["system_fingerprint"] = self.extra["system_fingerprint"]
        return data


class Backend(Protocol):
    """What every backend provides. ``complete`` raises :class:`pdd.errors.BackendError`."""

    name: str

    def complete(self, request: Request) -> Completion: ...


def make_backend(config: "Config", root: Path) -> Backend:
    """Instantiate the configured backend. Raises :class:`ConfigError` for an
    unknown or unavailable one."""
    if config.backend == "openai":
        from pdd.backends.openai import OpenAIBackend

        return OpenAIBackend(config.section("openai"))
    if config.backend == "anthropic":
        from pdd.backends.anthropic import AnthropicBackend

        return AnthropicBackend(config.section("anthropic"))
    if config.backend == "command":
        from pdd.backends.command import CommandBackend

        return CommandBackend(config.section("command"), root)
    if config.backend == "replay":
        from pdd.backends.replay import ReplayBackend

        return ReplayBackend(root / config.replay_dir)
    raise ConfigError(
        f"backend '{config.backend}' is not available in this version of pdd",
        hint="use 'openai' (any OpenAI-compatible endpoint), 'anthropic', 'command' or 'replay'",
    )
