"""The model call: one :class:`Request` from a generator, through the generation
cache, the budget and the backend, with recording and the spend tally.

Every command that asks a model (``build``, ``fix``, ``probe``, ``critique``,
``adopt``, the reviewer) goes through :class:`ModelCaller`; none of them needs the
build scheduler for it. Algorithm of one call (:meth:`ModelCaller.__call__`):

1. key = :func:`pdd.cache.cache_key` (backend name, model, parameters, messages);
   a cache hit is the answer (priced from the ``prices`` table; no request);
2. otherwise reserve the request's estimated cost against the budget
   (:class:`pdd.spend.Budget`; ``BudgetExceeded`` before anything is sent), ask the
   backend, settle the reservation with the actual cost and store the answer in the
   cache; an answer of a ``deterministic`` backend (the registry's flag: recorded
   answers) costs 0, not "unknown";
3. tally it in :attr:`ModelCaller.spend` (:class:`pdd.runs.Spend`), and with
   ``record`` write it to the recordings folder for the replay backend (not when
   the answer is itself a recording).

The backend is built once per caller (:meth:`ModelCaller.backend`), outside any
worker's critical path when :meth:`ModelCaller.prepare` is called before the
workers fan out (SDK import and client construction take about a second).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Iterable

from pdd.backends import Backend, BackendInfo, Completion, Request, lookup
from pdd.cache import GenerationCache, cache_key
from pdd.errors import PddError
from pdd.runs import Spend

if TYPE_CHECKING:
    from pdd.fingerprint import Generator
    from pdd.project import Project
    from pdd.spend import Price


def request_for(generator: "Generator", messages: Iterable[dict[str, str]], module: str, *,
                model: str | None = None, temperature: float | None = None, seed: int | None = None,
                max_tokens: int | None = None) -> Request:
    """The :class:`Request` of ``messages`` for module ``module`` (its name, e.g.
    ``billing/invoice``) under ``generator``: its model (or ``model``, a ladder's rung),
    its temperature (or ``temperature``, e.g. a retry's), its ``max_tokens`` (or
    ``max_tokens``, a lower cap for an answer that is not a module), and
    ``seed`` (``None``: not sent). The one place a request is made from a generator,
    so that its bytes (and the cache and replay keys) never drift between commands."""
    return Request(messages=tuple(messages), model=generator.model if model is None else model,
                   temperature=generator.temperature if temperature is None else temperature,
                   max_tokens=generator.max_tokens if max_tokens is None else max_tokens,
                   module=module, seed=seed)


class ModelCaller:
    """Requests through the cache, then the backend; optionally records for replay.

    ``project``: the repository (its config names the backend); ``record``: write
    every fresh answer to the recordings folder; ``budget``: a USD limit for this
    caller (``None``: none). ``backend`` (a registered name) overrides the configured
    backend, and ``share`` another caller whose budget and prices this one uses (one
    limit across, e.g., a build's generator and its reviewer). Raises
    :class:`pdd.errors.ConfigError` (exit 2) for a bad ``prices`` table or an unknown
    backend, before any write. Thread-safe.
    """

    def __init__(self, project: "Project", record: bool = False, budget: float | None = None, *,
                 backend: str | None = None, share: "ModelCaller | None" = None) -> None:
        from dataclasses import replace

        from pdd.spend import Budget, parse_prices

        self.project = project
        config = project.config
        self.config = config if backend is None or backend == config.backend else replace(config, backend=backend)
        self.info: BackendInfo = lookup(self.config.backend, "backend")
        self.cache = GenerationCache(project.root)
        self._backend: Backend | None = None
        self._lock = threading.Lock()
        self.record = record
        if share is not None:
            self.prices: dict[str, Price] = share.prices
            self.budget: Budget | None = share.budget
        else:
            self.prices = parse_prices(self.config.prices)  # ConfigError (exit 2) before any write
            self.budget = Budget(budget, self.prices) if budget is not None else None
        self.spend = Spend()  # every answer through this caller (see pdd.runs.Spend)
        self._spend_lock = threading.Lock()

    @property
    def deterministic(self) -> bool:
        """True if the backend answers with recordings (free and repeatable; the registry's flag)."""
        return self.info.deterministic

    def backend(self) -> Backend:
        """The backend, built on first use (once). Raises :class:`pdd.errors.PddError`."""
        with self._lock:
            if self._backend is None:
                self._backend = self.info.create(self.config, self.project.root)
            return self._backend

    def prepare(self) -> None:
        """Build the backend now (before worker threads need it), so no worker waits
        on its construction. A failure is not raised here: the first call raises it
        as it always did, where the caller handles it."""
        try:
            self.backend()
        except PddError:
            pass

    def require_prices(self, models: Iterable[str | None], *, budgeted: bool | None = None) -> None:
        """When a budget applies (``budgeted``; default: this caller has one) and the
        backend is not deterministic, raise :class:`pdd.errors.ConfigError` (exit 2)
        naming the ``models`` with no price."""
        if (self.budget is not None if budgeted is None else budgeted) and not self.deterministic:
            from pdd.spend import require_prices

            require_prices({m for m in models if m is not None}, self.prices)

    def __call__(self, request: Request, *, lookup: bool = True,
                 progress: Any = None) -> tuple[Completion, bool]:
        """``(completion, cache_hit)``. Raises :class:`BackendError`. With ``lookup=False``
        the cache is not consulted (a fresh answer, still stored), e.g. for ``pdd probe``.
        ``progress(tokens_received)`` is called while a streaming backend receives."""
        from pdd.spend import with_cost

        key = cache_key(self.config.backend, request)
        hit = self.cache.get(key) if lookup else None
        if hit is not None:
            completion, cached = with_cost(hit, self.prices, request.model), True
        else:
            reserved = self.budget.reserve(request) if self.budget is not None else None  # BudgetExceeded
            try:
                backend = self.backend()
                answer = (backend.complete(request, progress=progress)  # type: ignore[call-arg]
                          if progress is not None and getattr(backend, "streams", False) else backend.complete(request))
                completion = with_cost(answer, self.prices, request.model)
                if self.deterministic:  # a recorded answer is free: cost 0, not unknown
                    from dataclasses import replace

                    completion = replace(completion, cost_usd=0.0)
            except BaseException:
                if reserved is not None:
                    self.budget.release(reserved)  # type: ignore[union-attr]
                raise
            if reserved is not None:
                self.budget.settle(reserved, completion.cost_usd)  # type: ignore[union-attr]
            self.cache.put(key, completion)
            cached = False
        with self._spend_lock:
            self.spend.add(completion, cached)
        if self.record and not self.deterministic:
            from pdd.backends.replay import record
            from pdd.repopath import require_inside

            record(require_inside(self.project.root, self.config.replay_dir, "replay.dir (where --record writes)"),
                   request, completion, backend=self.config.backend)
        return completion, cached


__all__ = ["ModelCaller", "request_for"]
