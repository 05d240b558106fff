"""Model policy: the escalation ladder, the reviewer and the build budget.

**Ladder.** ``model`` (config or front matter) may be a list, ``[cheap, strong]``.
A module is generated on rung 1 (the first model) for up to ``build.attempts``
attempts; while its tests (or a blocking review) fail, the next rung continues the
same conversation, so its first request carries the previous rung's failing code
and test output as feedback. The fingerprint holds the whole ladder
(:class:`pdd.fingerprint.Generator`), not the rung, so a module accepted on rung 2
is fresh. The note and the run record name the requested ``model``, the ``rung``
(counted from 1) and the ``ladder``.

**Reviewer.** ``review: {model, backend?, block?}`` in ``.pdd/config.yaml``. After a
candidate passes its behavior tests, the reviewer model gets the rendered prompt
and the code -- never the generator's conversation -- and answers, per the product
contract ("Model answers"), one ```` ```json ```` block
``{"verdicts": [{"id", "verdict": "kept"|"violated"|"unclear", "reason"}]}`` with one
entry per requirement id of the prompt (``[R1]`` items; where a prompt has none, its
Acceptance list items as ``"Acceptance 1"``, ``"Acceptance 2"``...). An answer of any
other shape is an *unclear* review: recorded, never a crash. A reviewer model equal
to any rung of the generator is refused (exit 2: an author does not review its own
work), whatever the backends. With ``block: true`` a ``violated`` verdict fails the
candidate and its reasons go back to the generator like test output, within the
attempts; otherwise the verdict is only recorded (note ``review``, ``pdd explain``).
The reviewer's requests go through the generation cache and the budget like every
request; they are not part of the fingerprint.

**Budget.** ``budget.max_usd_per_build`` is a repository policy with the semantics of
``--budget`` (:mod:`pdd.spend`): checked before each request that is not a cache
hit. With both, the smaller limit applies.

This module is imported by :mod:`pdd.config` (on the pre-commit hook's path): its
top level uses the standard library only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pdd import targets
from pdd.errors import ConfigError

if TYPE_CHECKING:
    from pdd.backends import Completion
    from pdd.modelcall import ModelCaller
    from pdd.project import Project

VERDICTS = ("kept", "violated", "unclear")
_CONFIG = ".pdd/config.yaml"


# -- configuration ---------------------------------------------------------------------------------------------------

def parse_ladder(value: Any) -> tuple[str, ...]:
    """A ``model`` list as a ladder: non-empty, distinct model names. Raises :class:`ValueError`
    saying what is wrong."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"a model ladder must be a non-empty list of model names, got {value!r}")
    for m in value:
        if not isinstance(m, str) or not m.strip():
            raise ValueError(f"every rung of the ladder must be a model name, got {m!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"the ladder {value!r} names a model twice")
    return tuple(value)


def _line(data: Any, *keys: str) -> str:
    node = data
    try:
        for k in keys[:-1]:
            node = node[k]
        return f":{node.lc.key(keys[-1])[0] + 1}"
    except Exception:
        return ""


def parse_policy(plain: Mapping[str, Any], data: Any, env: Mapping[str, str], backend: str) -> dict[str, Any]:
    """The policy fields of :class:`pdd.config.Config` from the validated config (``plain``;
    ``data`` the round-trip document, for line numbers). ``PDD_MODEL`` replaces the ladder by
    one model. Raises :class:`ConfigError` (exit 2) naming the file and line."""
    raw = plain.get("model")
    ladder: tuple[str, ...] = ()
    if env.get("PDD_MODEL"):
        model = env["PDD_MODEL"]
    elif isinstance(raw, list):
        try:
            ladder = parse_ladder(raw)
        except ValueError as exc:
            raise ConfigError(f"{_CONFIG}{_line(data, 'model')}: model: {exc}",
                              hint="e.g. model: [small-model, large-model]") from None
        model, ladder = ladder[0], (ladder if len(ladder) > 1 else ())
    else:
        model = raw or "recorded"
    review = plain.get("review") or {}
    review_model = review.get("model")
    review_backend = review.get("backend")
    if review and not review_model:
        raise ConfigError(f"{_CONFIG}{_line(data, 'review')}: review needs a model",
                          hint="e.g. review: {model: other-model, block: false}; remove `review:` for no reviewer")
    if review_backend is not None:
        from pdd.backends import lookup

        try:
            lookup(review_backend, f"{_CONFIG}{_line(data, 'review', 'backend')}: review.backend")
        except ConfigError as exc:
            raise ConfigError(exc.message, hint=f"{exc.hint}, or leave it out") from None
    if review_model:
        require_distinct_reviewer(review_model, ladder or (model,), f"{_CONFIG}{_line(data, 'review', 'model')}")
    limit = (plain.get("budget") or {}).get("max_usd_per_build")
    if limit is not None and not (math.isfinite(limit) and limit >= 0):
        raise ConfigError(f"{_CONFIG}{_line(data, 'budget', 'max_usd_per_build')}: budget.max_usd_per_build must be "
                          f"a number of USD (>= 0), got {limit!r}", hint="e.g. budget: {max_usd_per_build: 2.50}")
    return {"model": model, "ladder": ladder, "review_model": review_model or None,
            "review_backend": review_backend, "review_block": bool(review.get("block")),
            "max_usd_per_build": None if limit is None else float(limit)}


def require_distinct_reviewer(reviewer: str, generator_models: tuple[str, ...], where: str) -> None:
    """Raise :class:`ConfigError` (exit 2) if the reviewer model is one of the generator's."""
    if reviewer in generator_models:
        raise ConfigError(f"{where}: review.model {reviewer!r} is also the generator "
                          f"({'ladder ' + ', '.join(generator_models) if len(generator_models) > 1 else 'model'}); "
                          "a model does not review its own work",
                          hint="set review.model to a different model (or remove `review:`)")


def effective_budget(cli_budget: float | None, policy: float | None) -> float | None:
    """The limit of one build: the smaller of ``--budget`` and ``budget.max_usd_per_build``."""
    limits = [b for b in (cli_budget, policy) if b is not None]
    return min(limits) if limits else None


# -- ladder ----------------------------------------------------------------------------------------------------------

def ladder_of(generator: Any) -> tuple[str, ...]:
    """The rungs of a :class:`pdd.fingerprint.Generator` (one model: a ladder of one)."""
    return tuple(generator.ladder) or (generator.model,)


def schedule(ladder: tuple[str, ...], attempts: int) -> Iterator[tuple[int, str, int]]:
    """``(rung, model, attempt)`` for every attempt of a build: ``attempts`` per rung, rungs
    and attempts counted from 1, ``attempt`` counting across rungs."""
    n = 0
    for rung, model in enumerate(ladder, 1):
        for _ in range(attempts):
            n += 1
            yield rung, model, n


def add_rung_usage(result: Any, rung: int, model: str, completion: "Completion", hit: bool) -> None:
    """Tally one generator answer in ``result.by_rung`` (run record ``by_rung``: per rung its
    model, requests, cache hits, tokens and cost) and the served model seen."""
    entry = result.by_rung.setdefault(str(rung), {"rung": rung, "model": model, "requests": 0, "cache_hits": 0,
                                                  "tokens_in": None, "tokens_out": None, "cost_usd": 0.0})
    _tally(entry, completion, hit)
    result.served_model = completion.model
    fp = completion.extra.get("system_fingerprint")
    result.system_fingerprint = fp if isinstance(fp, str) else None


def _tally(entry: dict[str, Any], completion: "Completion", hit: bool) -> None:
    if hit:
        entry["cache_hits"] += 1
        return
    entry["requests"] += 1
    for attr in ("tokens_in", "tokens_out"):
        v = getattr(completion, attr)
        if v is not None:
            entry[attr] = (entry[attr] or 0) + v
    if completion.cost_usd is None or entry["cost_usd"] is None:
        entry["cost_usd"] = None
    else:
        entry["cost_usd"] = round(entry["cost_usd"] + completion.cost_usd, 10)


# -- reviewer --------------------------------------------------------------------------------------------------------

REVIEW_SYSTEM = f"""\
You are the reviewer of pdd, a prompt-driven development toolchain. You did not write the code.
You get a specification and the {targets.get().MODULE_KIND} generated from it. For each listed requirement id,
judge whether the code keeps it: "kept", "violated" or "unclear", with a one-sentence reason.
Answer with exactly one fenced code block tagged `json` holding
{{"verdicts": [{{"id": "<requirement id>", "verdict": "kept" | "violated" | "unclear", "reason": "<why>"}}]}}
with one entry per requirement id, and nothing after it.
"""

_ACCEPTANCE = re.compile(r"^#{1,6}[ \t]+acceptance\b", re.IGNORECASE)
_HEADING = re.compile(r"^#{1,6}[ \t]")
_TOP_ITEM = re.compile(r"^(?:[-*+]|\d{1,9}[.)])[ \t]+(?P<text>\S.*)$")
_JSON_BLOCK = re.compile(r"```json[ \t]*\n(?P<body>.*?)\n```", re.DOTALL)


def review_items(body: str) -> list[tuple[str, str]]:
    """``(id, text)`` of what the reviewer judges: the prompt's requirement ids
    (:mod:`pdd.requirements`); where it has none, the top-level list items of its
    Acceptance section(s) as ``"Acceptance 1"``, ``"Acceptance 2"``... (in order)."""
    from pdd.requirements import parse

    found = parse(body).by_id()
    if found:
        return [(r.id, r.text) for r in found.values()]
    items: list[tuple[str, str]] = []
    inside = False
    for line in body.splitlines():
        if _HEADING.match(line):
            inside = bool(_ACCEPTANCE.match(line))
            continue
        m = _TOP_ITEM.match(line) if inside else None
        if m:
            items.append((f"Acceptance {len(items) + 1}", m.group("text").strip()))
    return items


def review_messages(module: str, prompt_text: str, code: str, items: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The reviewer's messages: system rules, then the specification, the requirement ids and the code."""
    listed = "\n".join(f"- {i}: {t}" for i, t in items) or "- (the prompt names no requirement; answer {\"verdicts\": []})"
    user = (f"Module under review: {module}\n\n## Specification\n\n{prompt_text.rstrip()}\n\n"
            f"## Requirements to judge\n\n{listed}\n\n## Code\n\n```{targets.get().FENCE_TAG}\n{code.rstrip()}\n```\n")
    return [{"role": "system", "content": REVIEW_SYSTEM}, {"role": "user", "content": user}]


@dataclass
class Review:
    """A reviewer's verdict on one candidate. ``status``: ``ok`` (a well-formed answer) or
    ``unclear`` (the answer was not the contract's JSON; ``problem`` says why). ``verdicts``:
    ``[{"id", "verdict", "reason"}]`` in the prompt's order; ids the answer left out are
    ``unclear``, ids it invented are dropped."""

    model: str
    served_model: str | None = None
    status: str = "ok"
    verdicts: list[dict[str, str]] = field(default_factory=list)
    problem: str | None = None
    blocked: bool = False
    cached: bool = False

    @property
    def violated(self) -> list[dict[str, str]]:
        return [v for v in self.verdicts if v["verdict"] == "violated"]

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for v in self.verdicts if v["verdict"] == k) for k in VERDICTS}

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "served_model": self.served_model, "status": self.status,
                "verdicts": self.verdicts, "problem": self.problem, "blocked": self.blocked,
                "counts": self.counts()}

    def feedback(self) -> str:
        """The violated verdicts as feedback for the generator (like test output)."""
        lines = ["A reviewer checked the module against the specification and found requirements violated:"]
        lines += [f"- {v['id']}: {v['reason']}" for v in self.violated]
        return "\n".join(lines)


def parse_review(text: str, ids: list[str], model: str) -> Review:
    """Read a reviewer's answer (see the module docstring). Never raises."""
    review = Review(model=model)

    def unclear(why: str) -> Review:
        review.status, review.problem = "unclear", why
        review.verdicts = [{"id": i, "verdict": "unclear", "reason": f"unclear review: {why}"} for i in ids]
        return review

    blocks = _JSON_BLOCK.findall(text or "")
    if len(blocks) != 1:
        first = (text or "").strip().splitlines()[:1]
        return unclear(f"expected one ```json block, found {len(blocks)}" + (f" (answer began: {first[0][:80]!r})"
                                                                              if first and not blocks else ""))
    try:
        data = json.loads(blocks[0])
    except ValueError as exc:
        return unclear(f"the json block is not valid JSON ({exc})")
    entries = data.get("verdicts") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return unclear('the json block has no "verdicts" list')
    given: dict[str, dict[str, str]] = {}
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("id"), str) or e.get("verdict") not in VERDICTS:
            return unclear(f"a verdict is not {{\"id\", \"verdict\": kept|violated|unclear, \"reason\"}}: {e!r:.120}")
        reason = e.get("reason")
        given.setdefault(e["id"], {"id": e["id"], "verdict": e["verdict"],
                                   "reason": reason.strip()[:500] if isinstance(reason, str) else ""})
    review.verdicts = [given.get(i) or {"id": i, "verdict": "unclear", "reason": "the reviewer gave no verdict"}
                       for i in ids]
    return review


class Reviewer:
    """Runs the configured reviewer on candidates of a build (through the cache and budget)."""

    def __init__(self, project: "Project", generator_caller: "ModelCaller", record: bool) -> None:
        from pdd.modelcall import ModelCaller

        config = project.config
        self.model = str(config.review_model)
        self.block = config.review_block
        # its own backend and spend; the generator's budget and prices (one limit for the whole build)
        self.caller = ModelCaller(project, record, backend=config.review_backend or config.backend,
                                  share=generator_caller)

    @property
    def backend(self) -> str:
        return self.caller.config.backend

    def review(self, spec: Any, prompt_text: str, code: str, result: Any) -> str | None:
        """Review ``code`` of ``spec``; store the verdict in ``result.review`` and its spend in
        ``result.review_spend``. Returns the feedback for the generator when ``block`` is on
        and a requirement is violated, else ``None``. Raises :class:`pdd.errors.BackendError`."""
        from pdd.backends import Request

        items = review_items(spec.body)
        request = Request(messages=tuple(review_messages(spec.module, prompt_text, code, items)), model=self.model,
                          temperature=0.0, max_tokens=self.caller.config.max_tokens, module=spec.name)
        completion, hit = self.caller(request)
        _tally(result.review_spend, completion, hit)
        result.requests += 0 if hit else 1  # the module's spend includes its reviews
        result.cache_hits += 1 if hit else 0
        if not hit:
            result.add_usage(completion)
        review = parse_review(completion.text, [i for i, _ in items], self.model)
        review.served_model, review.cached = completion.model, hit
        review.blocked = self.block and bool(review.violated)
        result.review = review.to_json()
        return review.feedback() if review.blocked else None


def new_spend_entry(model: str | None = None) -> dict[str, Any]:
    """An empty per-rung / reviewer spend entry (run record shape)."""
    return {"model": model, "requests": 0, "cache_hits": 0, "tokens_in": None, "tokens_out": None, "cost_usd": 0.0}


def check_ladder_reviewer(config: Any, generators: list[Any]) -> None:
    """Raise :class:`ConfigError` if the reviewer equals a rung of any module's generator
    (front matter may name other models than the config)."""
    if not config.review_model:
        return
    for g in generators:
        require_distinct_reviewer(config.review_model, ladder_of(g), _CONFIG + " (review.model)")


def format_review(review: Mapping[str, Any]) -> str:
    """One line for ``pdd explain``: ``reviewer-x: 2 kept, 1 violated (R3: ...)``."""
    counts = review.get("counts") or {}
    text = f"{review.get('model')}" + (f" (served {review['served_model']})"
                                        if review.get("served_model") not in (None, review.get("model")) else "")
    text += ": " + ", ".join(f"{counts.get(k, 0)} {k}" for k in VERDICTS)
    if review.get("status") == "unclear":
        text += f"; unclear review: {review.get('problem')}"
    bad = [v for v in review.get("verdicts") or [] if isinstance(v, dict) and v.get("verdict") == "violated"]
    if bad:
        text += "; violated: " + "; ".join(f"{v.get('id')}: {v.get('reason')}" for v in bad)
    return text

