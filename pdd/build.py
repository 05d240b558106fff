"""``pdd build``: compile prompts into modules, test them, record provenance.

Algorithm:

1. Resolve the targets (named modules, default all) and their dependencies.
2. Schedule in dependency order on a thread pool of ``jobs`` workers: a module
   starts when all its dependencies have finished; independent modules run
   concurrently. A module whose dependency failed is *blocked*.
3. Per module: render the prompt and compute the fingerprint from the
   dependencies' (possibly just rebuilt) interfaces. If the current file is
   genuine with that fingerprint, it is *fresh*: no request, nothing rewritten.
4. Otherwise generate: request (through the cache), take the code out of the
   answer, check it compiles, run the behavior tests against the candidate in an
   overlay (``generated/`` untouched), and on failure retry with the failure as
   feedback, up to ``attempts``. On success the file is written atomically and a
   note is queued for its blob; on failure the old file stays as it was.
5. Notes are flushed in batches (at least every second and at the end, also on
   Ctrl-C), so finished modules keep their provenance if a later one fails.

Exit code: 0 all good; 1 a module failed its tests or could not be generated;
3 the backend failed; 2 bad input (raised before anything is written).
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from pdd import __version__
from pdd.atomicfile import write_atomic
from pdd.backends import Backend, Completion, Request, make_backend
from pdd.cache import GenerationCache, cache_key
from pdd.errors import EXIT_BACKEND, EXIT_OK, EXIT_PROBLEM, BackendError, InputError, PddError
from pdd.extract import NoCodeError, check_compiles, extract_code
from pdd.freshness import DependencyUnavailable, ModuleInputs, git_blob_id, module_inputs
from pdd.generation import initial_messages, normalise_test_output, retry_messages
from pdd.graph import closure, topological_order
from pdd.notes import NotesWriter, notes_ref_exists, read_notes, records_for_path
from pdd.project import Project
from pdd.prompt import INIT_TEXT, PromptSpec
from pdd.runs import now_iso, write_run
from pdd.testrun import TestResult, run_tests

_FLUSH_SECONDS = 1.0


class Reporter(Protocol):
    """Progress events of a build (see :mod:`pdd.progress`)."""

    def start(self, total: int) -> None: ...
    def module_started(self, name: str) -> None: ...
    def module_finished(self, result: "ModuleResult") -> None: ...
    def message(self, text: str) -> None: ...
    def stop(self) -> None: ...


@dataclass
class ModuleResult:
    """What happened to one module. ``status``: built | fresh | failed | error | blocked."""

    name: str
    output: str
    status: str
    fingerprint: str | None = None
    attempts: int = 0
    requests: int = 0
    cache_hits: int = 0
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    tests: str = "not-run"
    error: str | None = None
    backend_failed: bool = False
    seconds: float = 0.0
    detail: str | None = None

    def add_usage(self, c: Completion) -> None:
        for attr in ("tokens_in", "tokens_out"):
            v = getattr(c, attr)
            if v is not None:
                setattr(self, attr, (getattr(self, attr) or 0) + v)
        if c.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + c.cost_usd

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("output", "status", "fingerprint", "attempts", "requests", "cache_hits",
                                              "tokens_in", "tokens_out", "cost_usd", "tests", "error", "seconds")}


@dataclass
class BuildOptions:
    """Options of one build. ``names`` empty means every module."""

    names: list[str] = field(default_factory=list)
    force: bool = False
    jobs: int | None = None
    attempts: int | None = None
    run_tests: bool = True
    record: bool = False
    write_notes: bool = True
    command: str = "build"


@dataclass
class BuildReport:
    """Results by module in build order, the run record path and the exit code."""

    results: list[ModuleResult]
    run_path: Path | None
    exit_code: int
    notes_missing_before: bool = False


class ModelCaller:
    """Requests through the cache, then the backend; optionally records for replay."""

    def __init__(self, project: Project, record: bool) -> None:
        self.project = project
        self.config = project.config
        self.cache = GenerationCache(project.root)
        self._backend: Backend | None = None
        self._lock = threading.Lock()
        self.record = record

    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                self._backend = make_backend(self.config, self.project.root)
            return self._backend

    def __call__(self, request: Request, *, lookup: bool = True) -> tuple[Completion, bool]:
        """``(completion, cache_hit)``. Raises :class:`BackendError`. With ``lookup=False``
        the cache is not consulted (a fresh answer, still stored), e.g. for ``pdd probe``."""
        key = cache_key(self.config.backend, request)
        hit = self.cache.get(key) if lookup else None
        if hit is not None:
            completion, cached = hit, True
        else:
            completion = self.backend().complete(request)
            self.cache.put(key, completion)
            cached = False
        if self.record and self.config.backend != "replay":
            from pdd.backends.replay import record

            record(self.project.root / self.config.replay_dir, request, completion, backend=self.config.backend)
        return completion, cached


def ensure_packages(root: Path, output: str) -> None:
    """Create the ``__init__.py`` files of ``output``'s packages under ``generated/``."""
    parts = Path(output).parts[:-1]
    for depth in range(1, len(parts) + 1):
        init = root.joinpath(*parts[:depth], "__init__.py")
        if not init.exists():
            write_atomic(init, INIT_TEXT)


class Builder:
    """One ``pdd build`` run over a :class:`Project`."""

    def __init__(self, project: Project, options: BuildOptions, reporter: Reporter) -> None:
        self.project = project
        self.options = options
        self.reporter = reporter
        self.config = project.config
        self.jobs = options.jobs or self.config.jobs
        self.attempts = options.attempts or self.config.attempts
        self.caller = ModelCaller(project, options.record)
        self.notes = NotesWriter(project.repo)
        self._last_flush = time.monotonic()
        self.have_notes = notes_ref_exists(project.repo)
        self.backups: list[str] = []
        self.run_root = project.root

    # -- planning -----------------------------------------------------------------
    def plan(self) -> tuple[dict[str, PromptSpec], list[str], set[str]]:
        """``(specs, order, forced)``; raises :class:`InputError` before any write."""
        specs = self.project.specs()
        targets = self.project.select(self.options.names) if self.options.names else sorted(specs)
        wanted = closure(specs, targets)
        forced = set(targets) if self.options.force else set()
        for name in wanted:
            spec = specs[name]
            if self.options.run_tests:
                for t in spec.tests:
                    if spec.tests_declared and not (self.project.root / t).is_file():
                        raise InputError(spec.path, spec.keys_line.get("tests"), f"test file {t} does not exist",
                                         hint="create it, or fix the 'tests' list")
        # Render every wanted prompt now, so template errors stop the build before any write.
        from pdd.render import render_prompt

        for name in wanted:
            render_prompt(specs[name], self.project.root, self.config.prompts_dir)
        return specs, topological_order(specs, wanted), forced

    # -- running ------------------------------------------------------------------
    def run(self) -> BuildReport:
        started = now_iso()
        specs, order, forced = self.plan()
        results: dict[str, ModuleResult] = {}
        self.reporter.start(len(order))
        pending = list(order)
        running: dict[Future, str] = {}
        interrupted = False
        try:
            with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="pdd-build") as pool:
                while pending or running:
                    for name in list(pending):
                        deps = specs[name].depends
                        if any(d in pending or d in running.values() for d in deps if d in order):
                            continue
                        pending.remove(name)
                        failed_deps = [d for d in deps if d in results and results[d].status not in ("built", "fresh")]
                        if failed_deps:
                            r = ModuleResult(name, specs[name].output, "blocked",
                                             error=f"dependency {', '.join(failed_deps)} failed")
                            results[name] = r
                            self.reporter.module_finished(r)
                            continue
                        self.reporter.module_started(name)
                        running[pool.submit(self.build_one, specs[name], name in forced)] = name
                    if not running:
                        continue
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for fut in done:
                        name = running.pop(fut)
                        try:
                            r = fut.result()
                        except PddError as exc:
                            r = ModuleResult(name, specs[name].output, "error", error=str(exc),
                                             backend_failed=isinstance(exc, BackendError))
                        results[name] = r
                        self.reporter.module_finished(r)
                    if time.monotonic() - self._last_flush >= _FLUSH_SECONDS:
                        self.notes.flush()
                        self._last_flush = time.monotonic()
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            self.notes.flush()
            self.reporter.stop()
            ordered = [results[n] for n in order if n in results]
            code = self._exit_code(ordered) if not interrupted else 130
            run_path = write_run(self.run_root, self.options.command, {
                "started": started, "ended": now_iso(), "pdd": __version__,
                "backend": self.config.backend, "model": self.config.model, "exit_code": code,
                "interrupted": interrupted,
                "modules": {r.name: r.to_json() for r in ordered},
            })
        for b in self.backups:
            self.reporter.message(f"note: the previous content (not genuine) was saved to {b}")
        return BuildReport(ordered, run_path, code, notes_missing_before=not self.have_notes)

    @staticmethod
    def _exit_code(results: list[ModuleResult]) -> int:
        if any(r.backend_failed for r in results):
            return EXIT_BACKEND
        if any(r.status in ("failed", "error", "blocked") for r in results):
            return EXIT_PROBLEM
        return EXIT_OK

    # -- one module ---------------------------------------------------------------
    def build_one(self, spec: PromptSpec, force: bool) -> ModuleResult:
        """Build ``spec`` if needed. Raises :class:`PddError` for input or backend errors."""
        t0 = time.monotonic()
        result = ModuleResult(spec.name, spec.output, "failed")
        try:
            inputs = module_inputs(self.project, spec)
        except DependencyUnavailable as exc:
            result.status, result.error = "error", f"dependency unavailable: {exc}"
            return result
        result.fingerprint = inputs.fingerprint
        path = self.project.root / spec.output
        current = path.read_bytes() if path.is_file() else None
        genuine = False
        if current is not None:
            records = records_for_path(read_notes(self.project.repo, git_blob_id(current)), spec.output)
            genuine = bool(records)
            if not force and any(r.get("fingerprint") == inputs.fingerprint for r in records):
                result.status, result.tests = "fresh", "not-run"
                ensure_packages(self.project.root, spec.output)
                result.seconds = time.monotonic() - t0
                return result
            if not records and self.have_notes and not force:
                result.status = "error"
                result.error = (f"{spec.output} was edited by hand (its blob has no pdd note); not overwriting it. "
                                f"Run `pdd fix {spec.output}` to move the edit into the prompt, "
                                f"or `pdd build --force {spec.name}` to discard it")
                return result
        self._generate(spec, inputs, current, genuine, result)
        result.seconds = time.monotonic() - t0
        return result

    def _generate(self, spec: PromptSpec, inputs: ModuleInputs, current: bytes | None, genuine: bool,
                  result: ModuleResult) -> None:
        messages = initial_messages(spec.module, spec.output, inputs.rendered, list(inputs.dep_contexts))
        gen = inputs.generator
        tests = [t for t in spec.tests if (self.project.root / t).is_file()] if self.options.run_tests else []
        last_problem = ""
        for attempt in range(1, self.attempts + 1):
            result.attempts = attempt
            request = Request(messages=tuple(messages), model=gen.model, temperature=gen.temperature,
                              max_tokens=gen.max_tokens, module=spec.name)
            try:
                completion, hit = self.caller(request)
            except BackendError:
                result.backend_failed = True
                raise
            result.requests += 0 if hit else 1
            result.cache_hits += 1 if hit else 0
            if not hit:
                result.add_usage(completion)
            try:
                code = extract_code(completion.text)
            except NoCodeError:
                last_problem = "the answer contained no Python code"
                messages = retry_messages(messages, completion.text, last_problem)
                continue
            problem = check_compiles(code, spec.output)
            if problem is None and tests:
                outcome = run_tests(self.project.root, tests, output=spec.output, code=code,
                                    command=self.config.test_command, timeout=self.config.test_timeout)
                result.tests = outcome.status
                if not outcome.passed:
                    problem = normalise_test_output(outcome.output, {})
            elif problem is None:
                result.tests = "none" if self.options.run_tests else "skipped"
            if problem is None:
                self._accept(spec, inputs, code, completion, current, genuine, result)
                return
            last_problem = problem
            messages = retry_messages(messages, code, problem)
        result.status = "failed"
        first_line = next((ln for ln in reversed(last_problem.strip().splitlines()) if ln.strip()), last_problem)
        result.error = (f"gave up after {self.attempts} attempt(s): {first_line.strip()[:300]}; "
                        f"{spec.output} was left as it was")
        result.detail = last_problem

    def _accept(self, spec: PromptSpec, inputs: ModuleInputs, code: str, completion: Completion,
                current: bytes | None, genuine: bool, result: ModuleResult) -> None:
        data = code.encode("utf-8")
        path = self.project.root / spec.output
        if current is not None and current != data and not genuine:
            backup = self.project.root / ".pdd" / "backup" / f"{spec.output}.{int(time.time())}"
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, backup)
            self.backups.append(str(backup.relative_to(self.project.root)))
        ensure_packages(self.project.root, spec.output)
        if current != data:
            write_atomic(path, data)
        if not self.options.write_notes:
            result.status = "built"
            return
        blob = self.project.repo.create_blob(data)
        self.notes.add(str(blob), {
            "path": spec.output,
            "prompt": spec.path,
            "prompt_blob": inputs.prompt_blob,
            "fingerprint": inputs.fingerprint,
            "backend": inputs.generator.backend,
            "model": inputs.generator.model,
            "tokens_in": completion.tokens_in,
            "tokens_out": completion.tokens_out,
            "cost_usd": completion.cost_usd,
            "tests": result.tests,
            "attempts": result.attempts,
            "time": now_iso(),
            "pdd": __version__,
            "inputs": inputs.to_note(),
        })
        result.status = "built"


def build(project: Project, options: BuildOptions, reporter: Reporter) -> BuildReport:
    """Run a build. Raises :class:`InputError` (exit 2) before any write on bad input."""
    return Builder(project, options, reporter).run()
