"""Spend: the cost of model requests, and the ``--budget`` guard.

Prices come from the ``prices`` table of ``.pdd/config.yaml``, per model name::

    prices:
      gpt-4.1-mini: {input: 0.40, output: 1.60, date: 2025-04-14}   # USD per 1M tokens

A completion's cost is, unless the backend reported one itself (the ``claude``
command preset does)::

    tokens_in * input / 1e6 + tokens_out * output / 1e6

A model without a price, or an answer without token counts, has cost ``None``,
shown as "unknown" -- never 0. The model is looked up by the name pdd asked for
(config ``model``, ``PDD_MODEL`` or the prompt's ``model:``), then by the name the
service reported.

Budget (``pdd build --budget USD``): before each request that is not a cache hit,
its cost is estimated as ``ceil(prompt characters / 4)`` input tokens plus
``max_tokens`` output tokens (the most the answer may use), priced by the table.
If that estimate exceeds what is left of the budget (the budget minus the cost of
the requests made so far minus the estimates of requests in flight), the request
is not sent and :class:`BudgetExceeded` (exit 3) is raised; from then on every
further request is refused too, so the build stops, keeping what it finished.
After a request its estimate is replaced by its actual cost (by the estimate
when the actual cost is unknown). A budget without prices for the models used is
refused up front (:func:`require_prices`, exit 2).
"""

from __future__ import annotations

import datetime as _dt
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pdd.errors import BackendError, ConfigError

if TYPE_CHECKING:
    from pdd.backends import Completion, Request

CHARS_PER_TOKEN = 4
PER_TOKENS = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens, and the date the price was taken."""

    input: float
    output: float
    date: str | None = None


def parse_prices(table: Mapping[str, Any] | None) -> dict[str, Price]:
    """The ``prices`` config table as :class:`Price` by model. Raises :class:`ConfigError`."""
    prices: dict[str, Price] = {}
    for model, entry in (table or {}).items():
        where = f".pdd/config.yaml: prices.{model}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a mapping {{input: USD per 1M, output: USD per 1M, date: YYYY-MM-DD}}",
                              hint="e.g. prices: {gpt-4.1-mini: {input: 0.40, output: 1.60, date: 2025-04-14}}")
        unknown = set(entry) - {"input", "output", "date"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                              hint="a price has input, output (USD per 1M tokens) and date")
        values = {}
        for key in ("input", "output"):
            v = entry.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{where}.{key} must be a number of USD per 1M tokens (>= 0), got {v!r}")
            values[key] = float(v)
        date = entry.get("date")
        if isinstance(date, (_dt.date, _dt.datetime)):
            date = date.isoformat()[:10]
        elif date is not None:
            date = str(date)
        prices[str(model)] = Price(values["input"], values["output"], date)
    return prices


def price_for(prices: Mapping[str, Price], *models: str | None) -> Price | None:
    """The price of the first of ``models`` that has one."""
    for m in models:
        if m and m in prices:
            return prices[m]
    return None


def compute_cost(price: Price | None, tokens_in: int | None, tokens_out: int | None) -> float | None:
    """USD for the token counts at ``price``; ``None`` if the price or a count is unknown."""
    if price is None or tokens_in is None or tokens_out is None:
        return None
    return (tokens_in * price.input + tokens_out * price.output) / PER_TOKENS


def with_cost(completion: "Completion", prices: Mapping[str, Price], model: str) -> "Completion":
    """``completion`` with ``cost_usd`` filled in from ``prices`` unless the backend reported it."""
    if completion.cost_usd is not None:
        return completion
    cost = compute_cost(price_for(prices, model, completion.model), completion.tokens_in, completion.tokens_out)
    return completion if cost is None else replace(completion, cost_usd=cost)


def prompt_chars(request: "Request") -> int:
    """Characters of all message contents of ``request``."""
    return sum(len(m.get("content") or "") for m in request.messages)


def estimate_tokens_in(request: "Request") -> int:
    """Estimated input tokens: ``ceil(characters / 4)``."""
    return -(-prompt_chars(request) // CHARS_PER_TOKEN)


def estimate_cost(request: "Request", prices: Mapping[str, Price]) -> float | None:
    """The most ``request`` should cost: estimated input plus ``max_tokens`` output, priced."""
    return compute_cost(price_for(prices, request.model), estimate_tokens_in(request), request.max_tokens)


def format_usd(value: float | None) -> str:
    """``$0.0123``-style text; ``unknown`` for ``None``."""
    if value is None:
        return "unknown"
    if value == 0:
        return "$0.00"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if abs(value) >= 0.01:
        return f"${value:.4f}"
    return f"${value:.6f}"


def require_prices(models: Iterable[str], prices: Mapping[str, Price]) -> None:
    """Raise :class:`ConfigError` (exit 2) if a budget is set and a model has no price."""
    missing = sorted({m for m in models if m not in prices})
    if missing:
        raise ConfigError(
            f"--budget needs a price for every model used, and there is none for: {', '.join(missing)}",
            hint="add them to the prices table of .pdd/config.yaml, e.g.\n"
                 f"    prices:\n      {missing[0]}: {{input: 0.40, output: 1.60, date: {_dt.date.today().isoformat()}}}"
                 "   # USD per 1M tokens",
        )


class BudgetExceeded(BackendError):
    """The next request would exceed ``--budget``; it was not sent (exit 3)."""


class Budget:
    """A spending limit shared by the threads of one run. See the module docstring."""

    def __init__(self, limit_usd: float, prices: Mapping[str, Price]) -> None:
        self.limit = float(limit_usd)
        self.prices = prices
        self.spent = 0.0
        self.reserved = 0.0
        self.stopped = False
        self._lock = threading.Lock()

    @property
    def remaining(self) -> float:
        return self.limit - self.spent - self.reserved

    def reserve(self, request: "Request") -> float:
        """Reserve the estimate of ``request``; return it. Raises :class:`BudgetExceeded`."""
        estimate = estimate_cost(request, self.prices)
        if estimate is None:  # require_prices should have caught it
            raise BudgetExceeded(f"budget: no price for model {request.model!r}, so the cost of the request for "
                                 f"{request.module or 'a module'} cannot be estimated; it was not sent",
                                 hint="add the model to the prices table of .pdd/config.yaml")
        with self._lock:
            remaining = self.remaining
            if self.stopped or estimate > remaining + 1e-12:
                first = not self.stopped
                self.stopped = True
                message = (
                    f"budget: the request for {request.module or 'a module'} was not sent: estimated "
                    f"{format_usd(estimate)} (~{estimate_tokens_in(request):,} tokens in + up to "
                    f"{request.max_tokens:,} out) but only {format_usd(max(remaining, 0.0))} of the "
                    f"{format_usd(self.limit)} budget is left"
                    if first else
                    f"budget: the request for {request.module or 'a module'} was not sent: the build stopped at the "
                    f"{format_usd(self.limit)} budget"
                )
                raise BudgetExceeded(message, hint="finished modules were kept; raise --budget (or lower max_tokens, "
                                                   "which bounds the estimate) and run the command again")
            self.reserved += estimate
            return estimate

    def release(self, estimate: float) -> None:
        """Give back a reservation whose request was not answered."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - estimate)

    def settle(self, estimate: float, actual: float | None) -> None:
        """Replace a reservation by the actual cost (the estimate when unknown)."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - estimate)
            self.spent += estimate if actual is None else actual
