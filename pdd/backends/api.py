"""What every backend shares: :class:`Request`, :class:`Completion`, the :class:`Backend`
protocol (re-exported by :mod:`pdd.backends`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
    ``extra["truncated"]`` is ``True`` when the provider says the answer stopped at the
    request's ``max_tokens`` (OpenAI ``finish_reason: "length"``, Anthropic
    ``stop_reason: "max_tokens"``): the text is cut off (see :func:`truncation_note`).
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
        if self.truncated:
            data["truncated"] = True
        return data

    @property
    def truncated(self) -> bool:
        """True if the provider cut the answer off at ``max_tokens`` (``extra["truncated"]``)."""
        return self.extra.get("truncated") is True

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Completion":
        """The completion :meth:`to_json` wrote (the generation cache, recordings).
        Raises ``TypeError`` if ``data`` is not a JSON object, its ``text`` not a string
        (absent included) or its token counts not integers."""
        if not isinstance(data, dict):
            raise TypeError(f"a completion is a JSON object, not {type(data).__name__}")
        if not isinstance(data.get("text"), str) or not all(
                data.get(k) is None or isinstance(data[k], int) and not isinstance(data[k], bool)
                for k in ("tokens_in", "tokens_out")):
            raise TypeError("a completion's text is a string and its token counts integers")
        extra: dict[str, Any] = {}
        if isinstance(data.get("backend_info"), dict):
            extra["backend_info"] = data["backend_info"]
        if isinstance(data.get("system_fingerprint"), str):
            extra["system_fingerprint"] = data["system_fingerprint"]
        if data.get("truncated") is True:
            extra["truncated"] = True
        return cls(text=data["text"], tokens_in=data.get("tokens_in"), tokens_out=data.get("tokens_out"),
                   cost_usd=data.get("cost_usd"), model=data.get("model"), extra=extra)


def truncation_note(completion: "Completion", max_tokens: int) -> str:
    """``""``, or, for an answer cut off at ``max_tokens`` (``extra["truncated"]``), a
    sentence saying so, for the user and for the model's retry feedback."""
    if not completion.truncated:
        return ""
    return (f"the answer was cut off at max_tokens ({max_tokens} tokens) before it ended: "
            "answer with the code only, without explanations")


class Backend(Protocol):
    """What every backend provides. ``complete`` raises :class:`pdd.errors.BackendError`."""

    name: str

    def complete(self, request: Request) -> Completion: ...
