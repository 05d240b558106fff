"""``pdd build --estimate``: predict a build's spend without calling a model.

The plan is the build's own (:meth:`pdd.build.Builder.plan`: targets, dependencies,
``--force``). Per module:

* **fresh** (its note's fingerprint matches, or its recorded inputs are unchanged),
  **cached** (the first request is in the generation cache) and **untested**
  (the build refuses it without a request) cost 0;
* otherwise the first request is rendered exactly as the build would send it, and

  - *input tokens* are counted with ``tiktoken`` when it is installed and knows the
    model (``tiktoken.encoding_for_model``; its encodings must be available
    offline), else by the rule ``ceil(characters / 4)`` (:func:`pdd.spend.estimate_tokens_in`);
  - *output tokens* are the mean ``tokens_out`` per request of the module's past
    builds in the project's run records (``.pdd/runs/``), else the current
    generated file's ``ceil(characters / 4)`` plus 16 for the fence and a line of
    prose, else ``max_tokens``;
  - with a reviewer (``review:``), one review request: the specification plus the
    code (the output tokens above) in, and the reviewer's mean past ``tokens_out``
    (else 40 per requirement) out.

* **expected** cost: that first request on rung 1 passes (one generation plus one
  review), priced by the ``prices`` table;
* **worst case**: every attempt on every rung fails: ``attempts x rungs`` requests,
  request *k* (from 0) carrying ``k x (max_tokens + 2,000)`` more input tokens (the
  previous answer and at most 8,000 characters of test output), each answering
  ``max_tokens``; plus a review after each attempt.

A model without a price makes the module's cost ``None`` ("unknown"), never 0.

Tolerance: when a module's history is representative (same prompt size and answer
length) and its first attempt passes, the expected cost is within
:data:`TOLERANCE` (±25 %) of the recorded spend; the chars/4 rule alone is typically
within 10-20 % of a real tokenizer on English and Python. The worst case is an upper
bound, not a forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pdd.spend import Price, compute_cost, price_for

TOLERANCE = 0.25
FEEDBACK_TOKENS = 2000  # 8,000 characters of test output at 4 characters per token
FENCE_TOKENS = 16
REVIEW_TOKENS_PER_REQUIREMENT = 40


def count_tokens(messages: list[dict[str, str]], model: str) -> tuple[int, str]:
    """``(tokens, method)`` of the message contents: ``tiktoken`` where it knows ``model``
    (method ``tiktoken:<encoding>``), else ``chars/4``."""
    text_chars = sum(len(m.get("content") or "") for m in messages)
    try:
        import tiktoken  # optional

        enc = tiktoken.encoding_for_model(model)
        return sum(len(enc.encode(m.get("content") or "")) for m in messages), f"tiktoken:{enc.name}"
    except Exception:  # not installed, unknown model, or its encoding not available offline
        return -(-text_chars // 4), "chars/4"


def output_history(runs: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean output tokens per request by module, for generation and for review, from run records."""
    gen: dict[str, list[int]] = {}
    rev: dict[str, list[int]] = {}
    for run in runs:
        for name, entry in (run.get("modules") or {}).items():
            if not isinstance(entry, dict):
                continue
            rungs = entry.get("by_rung")  # generator requests only; older records: the module's totals
            review = entry.get("review_spend") if isinstance(entry.get("review_spend"), dict) else {}
            for acc, parts in ((gen, rungs if isinstance(rungs, list) else [entry]), (rev, [review])):
                for part in parts:
                    if isinstance(part, dict) and isinstance(part.get("tokens_out"), int) and part.get("requests"):
                        totals = acc.setdefault(name, [0, 0])
                        totals[0] += part["tokens_out"]
                        totals[1] += part["requests"]
    return ({k: t / n for k, (t, n) in gen.items() if n > 0}, {k: t / n for k, (t, n) in rev.items() if n > 0})


@dataclass
class ModuleEstimate:
    """One module's predicted spend. ``status``: fresh | cached | untested | estimate."""

    name: str
    status: str
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    requests: int = 0
    cost_usd: float | None = 0.0
    worst_requests: int = 0
    worst_cost_usd: float | None = 0.0
    method: str | None = None
    output_from: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Estimate:
    """Per-module estimates in build order and their totals (``None`` when a cost is unknown)."""

    modules: list[ModuleEstimate] = field(default_factory=list)

    def total(self, attr: str) -> float | None:
        values = [getattr(m, attr) for m in self.modules]
        return None if any(v is None for v in values) else round(sum(values), 10)

    def to_json(self) -> dict[str, Any]:
        return {"estimate": True, "modules": {m.name: m.to_json() for m in self.modules},
                "total": {"requests": sum(m.requests for m in self.modules), "cost_usd": self.total("cost_usd"),
                          "worst_requests": sum(m.worst_requests for m in self.modules),
                          "worst_cost_usd": self.total("worst_cost_usd")},
                "tolerance": TOLERANCE}


def _cost(prices: dict[str, Price], model: str, tin: int, tout: int) -> float | None:
    return compute_cost(price_for(prices, model), tin, tout)


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def estimate_build(project: Any, options: Any) -> Estimate:
    """Predict the spend of ``pdd build`` with ``options`` (:class:`pdd.build.BuildOptions`)
    on ``project``; no model is called and nothing is written. Raises what the build's
    planning raises (:class:`pdd.errors.InputError`, :class:`pdd.errors.ConfigError`, exit 2)."""
    from pdd.build import Builder
    from pdd.cache import GenerationCache, cache_key
    from pdd.fingerprint import generator_for
    from pdd.freshness import DependencyUnavailable, module_inputs
    from pdd.render import render_prompt
    from pdd.generation import initial_messages
    from pdd.modelcall import request_for
    from pdd.policy import ladder_of, review_items, review_messages
    from pdd.runs import load_runs

    class _Quiet:
        def message(self, text: str) -> None: ...

    builder = Builder(project, options, _Quiet())  # type: ignore[arg-type]
    specs, order, forced = builder.plan()
    config = project.config
    prices = builder.caller.prices
    cache = GenerationCache(project.root)
    gen_hist, rev_hist = output_history(load_runs(project.root))
    attempts = builder.attempts
    out = Estimate()
    for name in order:
        spec = specs[name]
        if name in builder.untested:
            out.modules.append(ModuleEstimate(name, "untested", note="refused without a request: no behavior tests"))
            continue
        if name in builder.known_fresh and name not in forced:
            out.modules.append(ModuleEstimate(name, "fresh"))
            continue
        current, records = builder._current_records(spec)
        pending = None
        try:
            inputs = module_inputs(project, spec)
            rendered, contexts, gen = inputs.rendered, list(inputs.dep_contexts), inputs.generator
            if name not in forced and current is not None and any(r.fingerprint == inputs.fingerprint
                                                                  for r in records):
                out.modules.append(ModuleEstimate(name, "fresh"))
                continue
        except DependencyUnavailable:  # a dependency this build makes first: estimated without its interface
            rendered, contexts, gen = render_prompt(spec, project.root, config.prompts_dir).text, [], generator_for(spec, config)
            pending = "a dependency is not built yet: estimated without its interface"
        ladder = ladder_of(gen)
        messages = initial_messages(spec.module, spec.output, rendered, contexts)
        request = request_for(gen, messages, name, model=ladder[0])
        if cache.get(cache_key(config.backend, request)) is not None:
            out.modules.append(ModuleEstimate(name, "cached", model=ladder[0], note="the first request is in the cache"))
            continue
        tin, method = count_tokens(messages, ladder[0])
        if name in gen_hist:
            tout, source = round(gen_hist[name]), "history"
        elif current is not None:
            tout, source = -(-len(current.decode("utf-8", "replace")) // 4) + FENCE_TOKENS, "current file"
        else:
            tout, source = gen.max_tokens, "max_tokens"
        e = ModuleEstimate(name, "estimate", model=ladder[0], tokens_in=tin, tokens_out=tout, requests=1,
                           method=method, output_from=source, note=pending)
        e.cost_usd = _cost(prices, ladder[0], tin, tout)
        worst: float | None = 0.0
        k = 0
        for model in ladder:
            for _ in range(attempts):
                worst = _add(worst, _cost(prices, model, tin + k * (gen.max_tokens + FEEDBACK_TOKENS), gen.max_tokens))
                k += 1
        e.worst_requests = k
        if builder.reviewer is not None:
            items = review_items(spec.body)
            rmsgs = review_messages(spec.module, rendered, "", items)
            rin = count_tokens(rmsgs, builder.reviewer.model)[0] + tout
            rout = round(rev_hist.get(name, REVIEW_TOKENS_PER_REQUIREMENT * max(1, len(items))))
            rcost = _cost(prices, builder.reviewer.model, rin, rout)
            e.requests += 1
            e.tokens_in += rin
            e.tokens_out += rout
            e.cost_usd = _add(e.cost_usd, rcost)
            worst = _add(worst, None if rcost is None else k * _cost(prices, builder.reviewer.model, rin + gen.max_tokens,
                                                                      config.max_tokens))
            e.worst_requests += k
        e.worst_cost_usd = None if worst is None else round(worst, 10)
        if e.cost_usd is None:
            e.note = (f"{pending}; " if pending else "") + "no price for " + ", ".join(m for m in (*ladder, builder.reviewer.model if builder.reviewer else None)
                                                 if m and price_for(prices, m) is None)
        out.modules.append(e)
    return out


def format_estimate(est: Estimate) -> list[str]:
    """Lines for people: one per module, then the total and the worst case."""
    from pdd.spend import format_usd

    lines = ["pdd build --estimate (no model was called; an estimate, not a bill)"]
    width = max((len(m.name) for m in est.modules), default=0)
    for m in est.modules:
        if m.status != "estimate":
            lines.append(f"  {m.name:<{width}}  {m.status}: {format_usd(m.cost_usd) if m.cost_usd is not None else 'unknown'}"
                         + (f" ({m.note})" if m.note else ""))
            continue
        lines.append(f"  {m.name:<{width}}  {format_usd(m.cost_usd)} expected ({m.requests} request(s) on {m.model}: "
                     f"~{m.tokens_in:,} tokens in [{m.method}], ~{m.tokens_out:,} out [{m.output_from}]); "
                     f"worst {format_usd(m.worst_cost_usd)} ({m.worst_requests} requests)" + (f"; {m.note}" if m.note else ""))
    total, worst = est.total("cost_usd"), est.total("worst_cost_usd")
    lines.append(f"total: {format_usd(total)} expected (±{TOLERANCE:.0%} when history is representative), "
                 f"worst case {format_usd(worst)} (every attempt on every rung fails)")
    if total is None:
        lines.append("next: add the missing models to the prices table of .pdd/config.yaml to price them")
    return lines
