"""``pdd probe NAME``: find what a prompt leaves open by comparing implementations.

1. Generate ``n`` independent candidates of the module: the build's messages plus
   a ``candidate i of n`` note, so every request is distinct, sent through
   :class:`pdd.modelcall.ModelCaller` with the cache lookup bypassed (fresh answers;
   they are still stored). The temperature is the module's, or 1.0 when that is 0
   (identical samples would teach nothing); ``--temperature`` overrides it.
2. Run the behavior tests on each candidate (the build's candidate pipeline,
   :class:`pdd.candidate.Pipeline`: extract, compile, then the tests in the overlay,
   so ``generated/`` is never touched). Candidates that fail are out.
3. Compare the passing candidates against each other with hypothesis in a
   subprocess with a timeout (the differential engine, :mod:`pdd.differential`): every input on which they
   disagree is shrunk and reported, e.g. "for `parse('1,5')`, candidate 1 returns
   Decimal('1.5'), candidate 2 raises ValueError".

Exit code: 0 no disagreement; 1 disagreements found, or fewer than two candidates
could be compared, or the comparison failed or timed out; 2 bad input; 3 backend.
Nothing is written to ``generated/``; the answers land in the generation cache.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ProbeOptions:
    n: int = 3
    max_examples: int = 100
    run_tests: bool = True
    temperature: float | None = None
    timeout: float = 300.0
    call_timeout: float = 2.0


@dataclass
class Candidate:
    """One generated candidate. ``status``: passed | failed | untested | no-code |
    syntax-error | timeout | error."""

    index: int
    status: str
    detail: str = ""
    code: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "status": self.status, "detail": self.detail,
                "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
                "lines": None if self.code is None else self.code.count("\n")}


@dataclass
class ProbeReport:
    name: str
    output: str
    n: int
    temperature: float
    candidates: list[Candidate]
    compared: list[int] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: str | None = None
    max_examples: int = 100
    call_timeout: float = 2.0
    spend: dict[str, Any] | None = None  # requests, tokens, cost (pdd.runs.Spend.entry)

    @property
    def disagreements(self) -> list[dict[str, Any]]:
        from pdd.differential import differences_of

        return differences_of(self.targets)

    @property
    def exit_code(self) -> int:
        return 1 if self.disagreements or self.problem else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "module": self.name, "output": self.output, "n": self.n, "temperature": self.temperature,
            "max_examples": self.max_examples,
            "candidates": [c.to_json() for c in self.candidates], "compared": self.compared,
            "targets": self.targets,
            "disagreements": [{"target": t["target"], "call": t.get("call"), "text": sentence(t)}
                              for t in self.disagreements],
            "notes": self.notes, "problem": self.problem, "exit_code": self.exit_code, "spend": self.spend,
        }


def _who(idxs: list[int]) -> str:
    if len(idxs) == 1:
        return f"candidate {idxs[0]}"
    return "candidates " + ", ".join(map(str, idxs[:-1])) + f" and {idxs[-1]}"


def _plural(text: str, many: bool) -> str:
    if not many:
        return text
    verb, _, rest = text.partition(" ")
    verb = {"returns": "return", "raises": "raise", "does": "do"}.get(verb, verb)
    return f"{verb} {rest}".rstrip()


def sentence(target: dict[str, Any]) -> str:
    """``for `CALL`, candidate 1 returns X, candidate 2 raises ValueError``."""
    parts = [f"{_who(o['candidates'])} {_plural(o['text'], len(o['candidates']) > 1)}"
             for o in target.get("outcomes", [])]
    if target.get("kind") == "constant":
        parts = [p.replace(" returns ", " has ").replace(" return ", " have ") for p in parts]
        return f"for the constant `{target.get('call')}`, " + ", ".join(parts)
    return f"for `{target.get('call')}`, " + ", ".join(parts)


def _generate(project, spec, inputs, options: ProbeOptions, temperature: float) -> tuple[list[Candidate], Any]:
    """The candidates, and the :class:`pdd.runs.Spend` of their requests."""
    from pdd.candidate import NoCodeError, Pipeline
    from pdd.generation import initial_messages
    from pdd.modelcall import ModelCaller, request_for
    from pdd.sandbox import select

    config = project.config
    pipeline = Pipeline(project.root, config, spec, run_tests=options.run_tests, sandbox=select(config.test_sandbox))
    base = initial_messages(spec.module, spec.output, inputs.rendered, list(inputs.dep_contexts))
    caller = ModelCaller(project, record=False)

    def one(i: int) -> Candidate:
        messages = [dict(m) for m in base]
        messages[-1]["content"] = messages[-1]["content"].rstrip("\n") + (
            f"\n\n(pdd probe: candidate {i} of {options.n}. Write your own complete, independent implementation "
            f"of the specification.)\n")
        request = request_for(inputs.generator, messages, spec.name, temperature=temperature)
        completion, _ = pipeline.generate(caller, request, lookup=False)
        cand = Candidate(i, "error", tokens_in=completion.tokens_in, tokens_out=completion.tokens_out)
        try:
            cand.code = pipeline.extract(completion.text)
        except NoCodeError as exc:
            cand.status, cand.detail = "no-code", str(exc)
            return cand
        verdict = pipeline.trial(cand.code)
        if verdict.status in ("syntax-error", "untested"):
            cand.status, cand.detail = verdict.status, verdict.problem or ""
            return cand
        outcome = verdict.outcome
        assert outcome is not None
        cand.status = "passed" if outcome.passed else ("timeout" if outcome.status == "timeout" else "failed")
        if not outcome.passed:
            lines = [ln.strip() for ln in outcome.output.strip().splitlines() if ln.strip()]
            first = next((ln for ln in lines if ln.startswith(("FAILED", "ERROR", "E "))), None)
            cand.detail = (first or (lines[-1] if lines else outcome.status))[:300]
        return cand

    with ThreadPoolExecutor(max_workers=max(1, min(options.n, config.jobs)), thread_name_prefix="pdd-probe") as pool:
        futures = [pool.submit(one, i) for i in range(1, options.n + 1)]
        return [f.result() for f in futures], caller.spend


def _compare(root: Path, module: str, cands: list[Candidate], options: ProbeOptions,
             tests: list[str], sandbox: str = "auto") -> tuple[list[dict[str, Any]], str | None, list[str], int]:
    """Compare ``cands`` with :func:`pdd.differential.compare`;
    ``(targets, problem or None, notes, import failures)``."""
    from pdd.differential import EngineOptions, Implementation, compare

    impls = [Implementation(c.index, f"candidate {c.index}", c.code or "") for c in cands]
    out = compare(impls, module=module, deps_root=root, tests=tests,
                  options=EngineOptions(max_examples=options.max_examples, call_timeout=options.call_timeout,
                                        timeout=options.timeout, sandbox=sandbox))
    return out.targets, out.problem, [n.get("reason", "") for n in out.notes], out.import_failures


def _has_placeholder(path: Path) -> bool:
    from pdd.lint import PLACEHOLDER_MARKER

    try:
        return PLACEHOLDER_MARKER in path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def run_probe(project, name: str, options: ProbeOptions) -> ProbeReport:
    """Probe module ``name``. Raises :class:`pdd.errors.PddError` (2 bad input, 3 backend)."""
    from pdd.errors import UsageError
    from pdd.freshness import DependencyUnavailable, module_inputs

    specs = project.specs()
    (name,) = project.select([name])
    spec = specs[name]
    try:
        inputs = module_inputs(project, spec)
    except DependencyUnavailable as exc:
        raise UsageError(f"{name}: a dependency is not built ({exc})",
                         hint="run `pdd build` first: candidates import their dependencies from generated/") from None
    gen = inputs.generator
    temperature = options.temperature if options.temperature is not None else (gen.temperature or 1.0)
    started = time.monotonic()
    from pdd.runs import now_iso, write_model_run

    started_at = now_iso()
    candidates, spend = _generate(project, spec, inputs, options, temperature)
    write_model_run(project.root, "probe", name, "probed", spend, started=started_at, model=gen.model,
                    backend=project.config.backend, candidates=len(candidates))
    report = ProbeReport(name, spec.output, options.n, temperature, candidates, max_examples=options.max_examples,
                         call_timeout=options.call_timeout, spend=spend.entry())
    if options.run_tests and all(c.status == "untested" or c.code is None for c in candidates) and \
            any(c.status == "untested" for c in candidates):
        report.notes.append(f"no behavior-test file of {name} exists: comparing every candidate that compiles")
    comparable = [c for c in candidates if c.status in ("passed", "untested")]
    report.compared = [c.index for c in comparable]
    if len(comparable) < 2:
        report.problem = (f"only {len(comparable)} of {options.n} candidates passed the behavior tests: nothing to "
                          f"compare (make the prompt clearer, or use more candidates with --n)")
        if any(_has_placeholder(project.root / t) for t in spec.tests):
            report.problem += ("; the behavior tests still hold the placeholder of `pdd new`: write them, "
                               "or probe the prompt alone with --no-tests")
        return report
    tests = [(project.root / t).read_text(encoding="utf-8", errors="replace") for t in spec.existing_tests(project.root)]
    report.targets, report.problem, notes, broken = _compare(project.root, spec.module, comparable, options, tests,
                                                                      project.config.test_sandbox)
    report.notes.extend(notes)
    if len(comparable) - broken < 2 and not report.problem:
        report.problem = "fewer than two candidates could be imported for the comparison"
    report.notes.append(f"probe took {time.monotonic() - started:.1f} s")
    return report


def format_text(report: ProbeReport) -> str:
    """The human-readable report."""
    lines = [f"pdd probe {report.name}: {report.n} candidates (temperature {report.temperature:g})"]
    for c in report.candidates:
        status = {"passed": "passed the behavior tests", "untested": "compiles (not tested)",
                  "failed": "failed the behavior tests", "timeout": "behavior tests timed out",
                  "no-code": "no code in the answer", "syntax-error": "does not compile"}.get(c.status, c.status)
        lines.append(f"  candidate {c.index}: {status}" + (f" ({c.detail})" if c.detail and c.status != "passed" else ""))
    if report.compared and len(report.compared) >= 2:
        lines.append(f"compared candidates {', '.join(map(str, report.compared))} "
                     f"(up to {report.max_examples} examples per function):")
    for t in report.targets:
        status = t.get("status")
        if status == "disagree":
            lines.append(f"  {t['target']}: DISAGREE after {t.get('examples', 0)} example(s)")
            lines.append(f"    {sentence(t)}")
            for o in t.get("outcomes", []):
                if o.get("kind") == "raises" and o.get("message"):
                    lines.append(f"      {_who(o['candidates'])}: {o['type']}: {o['message']}")
        elif status == "agree":
            lines.append(f"  {t['target']}: agree ({t.get('examples', 0)} example(s))")
        elif status == "skipped":
            if (t.get("target") or "").split(".")[-1].startswith("__"):
                continue  # operator methods that cannot be driven: not worth a line
            lines.append(f"  {t['target']}: skipped: {t.get('reason', '')}")
        else:
            lines.append(f"  {t['target']}: {status}: {t.get('reason', '')}")
            if t.get("call"):
                lines.append(f"    {sentence(t)}")
    for note in report.notes:
        lines.append(f"note: {note}")
    if report.problem:
        lines.append(f"problem: {report.problem}")
    k = len(report.disagreements)
    if k:
        lines.append(f"{k} disagreement(s): the prompt leaves these cases open. Decide them in the prompt "
                     f"(and pin them with a behavior test), then probe again.")
    elif not report.problem:
        lines.append("no disagreements: the candidates behave alike on every input tried")
    return "\n".join(lines)
