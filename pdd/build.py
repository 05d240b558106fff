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
5. A module's note is committed to ``refs/notes/pdd`` before its file is replaced,
   so a crash never leaves a genuine file without its note, and finished modules
   keep their provenance when a later one fails. Ctrl-C stops the workers at their
   next step (running tests are killed); finished work is kept.

The model call itself (request, cache, budget, recording) is :mod:`pdd.modelcall`;
the generate → extract → compile → test steps are :mod:`pdd.candidate`.

Exit code: 0 all good; 1 a module failed its tests or could not be generated;
3 the backend failed; 2 bad input (raised before anything is written).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pdd import __version__, targets
from pdd.atomicfile import write_atomic
from pdd.backends import Completion
from pdd.backends.api import truncation_note
from pdd.candidate import NoCodeError, Pipeline
from pdd.errors import EXIT_BACKEND, EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, BackendError, InputError, PddError, UsageError
from pdd.freshness import DependencyUnavailable, ModuleInputs, module_inputs, worktree_source, worktree_uses
from pdd.generation import bounded_retry_messages, concise_feedback, initial_messages, normalise_test_output
from pdd.graph import closure, edges_within, topological_order
from pdd.modelcall import ModelCaller, request_for
from pdd.notes import NotesWriter
from pdd.provenance.source import Notes, git_blob_id
from pdd.provenance.record import FETCH_NOTES, SCHEMA_VERSION, NoteRecord
from pdd.policy import add_rung_usage, ladder_of, new_spend_entry, schedule
from pdd.project import Project
from pdd.prompt import INIT_TEXT, PromptSpec, untested_problem
from pdd.redact import redact
from pdd.runs import now_iso, write_run
from pdd.recovery import tmp_folder
from pdd.requirements import ids as requirement_ids
from pdd.trace import requirement_results

if TYPE_CHECKING:
    from pdd.sandbox import Sandbox


class Reporter(Protocol):
    """Progress events of a build (see :mod:`pdd.progress`)."""

    def start(self, total: int) -> None: ...
    def module_started(self, name: str) -> None: ...
    def module_finished(self, result: "ModuleResult") -> None: ...
    def message(self, text: str) -> None: ...
    def stop(self) -> None: ...


@dataclass
class ModuleResult:
    """What happened to one module. ``status``: built | fresh | failed | untested | error | blocked."""

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
    model: str | None = None
    cost_unknown: bool = False
    sandbox: str | None = None  # bwrap | none: how its behavior tests were confined; None: not run
    requirements: dict[str, str] | None = None  # requirement id -> test result (pdd.trace)
    request_log: list[dict[str, Any]] = field(default_factory=list)
    repeated_answers: int = 0
    test_runs: int = 0

    def add_requests(self, entries: list[dict[str, Any]], **context: Any) -> None:
        """Count and log the HTTP requests one model call made (failed ones too);
        ``context``: e.g. ``attempt``, ``temperature``, ``seed``."""
        for e in entries or [{"outcome": "ok"}]:
            self.request_log.append({**context, **e})
            self.requests += 1
    # Model policy (pdd.policy): the rung (from 1) that made the last answer, the ladder when
    # there is one, what the provider served, spend per rung and the reviewer's verdict and spend.
    rung: int | None = None
    ladder: list[str] | None = None
    served_model: str | None = None
    system_fingerprint: str | None = None
    by_rung: dict[str, dict[str, Any]] = field(default_factory=dict)
    review: dict[str, Any] | None = None
    review_spend: dict[str, Any] = field(default_factory=new_spend_entry)

    def add_usage(self, c: Completion) -> None:
        for attr in ("tokens_in", "tokens_out"):
            v = getattr(c, attr)
            if v is not None:
                setattr(self, attr, (getattr(self, attr) or 0) + v)
        if c.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + c.cost_usd
        else:
            self.cost_unknown = True  # one request of unknown cost makes the total unknown, never 0

    def to_json(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in ("output", "status", "fingerprint", "model", "attempts", "requests",
                                              "cache_hits", "tokens_in", "tokens_out", "cost_usd", "tests", "error",
                                              "seconds", "sandbox")}
        data["request_log"] = self.request_log
        data["repeated_answers"] = self.repeated_answers
        data["test_runs"] = self.test_runs
        if self.cost_unknown:
            data["cost_usd"] = None
        for key in ("rung", "ladder", "served_model", "system_fingerprint", "review"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.by_rung:
            data["by_rung"] = list(self.by_rung.values())
        if self.review_spend["requests"] or self.review_spend["cache_hits"]:
            data["review_spend"] = self.review_spend
        return data


@dataclass
class BuildOptions:
    """Options of one build. ``names`` empty means every module."""

    names: list[str] = field(default_factory=list)
    force: bool = False
    jobs: int | None = None
    attempts: int | None = None
    run_tests: bool = True
    record: bool = False
    budget: float | None = None  # USD; see pdd.spend
    write_notes: bool = True
    command: str = "build"
    note_extra: dict[str, Any] | None = None  # extra note fields, e.g. pdd adopt's {"adopted": {...}}


@dataclass
class BuildReport:
    """Results by module in build order, the run record path and the exit code."""

    results: list[ModuleResult]
    run_path: Path | None
    exit_code: int
    notes_missing_before: bool = False
    budget_stopped: bool = False
    budget_usd: float | None = None  # the limit applied (pdd.policy.effective_budget)


class BuildCancelled(PddError):
    """The build was interrupted (Ctrl-C): a worker stops before its next step."""


class TestsCouldNotStart(UsageError):
    """The behavior-test run could not start (a broken ``conftest.py``, a collection
    error outside the candidate, a plugin error): not the model's fault, so no
    attempt is spent on it; the build stops with exit 2. ``result``: the module's
    result (0 attempts, the usage of the request made)."""

    __test__ = False

    def __init__(self, message: str, result: "ModuleResult") -> None:
        super().__init__(message, hint="fix the project's test set-up (run `pdd doctor`, or pytest on the file "
                                       "yourself), then `pdd build` again; the answer is cached")
        self.result = result


_ensured: set[str] = set()


def backup_path(root: Path, rel: str) -> Path:
    """A new, unique path under ``.pdd/backup/`` for a copy of ``rel``: its name has
    the UTC time to the microsecond and a random suffix, so backups never collide."""
    import uuid
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return root / ".pdd" / "backup" / f"{rel}.{stamp}-{uuid.uuid4().hex[:6]}"


def ensure_packages(root: Path, output: str) -> None:
    """Create the package files (the target's ``PACKAGE_FILE``) of ``output``'s packages under ``generated/``
    (each checked once per process). pdd owns these files: one edited by hand is
    saved under ``.pdd/backup/`` and rewritten. Raises :class:`UsageError` if a
    package folder resolves outside ``generated/`` (a symbolic link), writing nothing."""
    parts = output.split("/")[:-1]
    generated_root = os.path.realpath(os.path.join(root, parts[0])) if parts else ""
    for depth in range(1, len(parts) + 1):
        init = os.path.join(root, *parts[:depth], targets.get().PACKAGE_FILE)
        if init in _ensured:
            continue
        real = os.path.realpath(init)
        if depth > 1 and not real.startswith(generated_root + os.sep) or os.path.islink(os.path.join(root, parts[0])):
            raise UsageError(f"{'/'.join(parts[:depth])} resolves outside {parts[0]}/ (a symbolic link?); not writing there",
                             hint=f"replace the link with a real folder under {parts[0]}/")
        try:
            with open(init, "rb") as fh:
                current: bytes | None = fh.read()
        except FileNotFoundError:
            current = None
        if current != INIT_TEXT.encode("utf-8"):  # missing, or edited by hand
            if current is not None:
                write_atomic(backup_path(Path(root), os.path.relpath(init, root)), current)
            write_atomic(Path(init), INIT_TEXT, tmp_dir=tmp_folder(Path(root)))
        _ensured.add(init)


class Builder:
    """One ``pdd build`` run over a :class:`Project`.

    ``caller``: the :class:`pdd.modelcall.ModelCaller` to ask (default: a new one with
    the options' ``record`` and budget; ``pdd fix`` passes its own, so the fix's spend
    and budget cover its regenerations); ``run_root``: the repository whose
    ``.pdd/runs/`` gets the run record (default the project's; ``pdd check
    --regenerate`` builds in a scratch worktree and records in the user's)."""

    def __init__(self, project: Project, options: BuildOptions, reporter: Reporter, *,
                 caller: ModelCaller | None = None, run_root: Path | None = None) -> None:
        self.project = project
        self.options = options
        self.reporter = reporter
        self.config = project.config
        self.jobs = options.jobs or self.config.jobs
        self.attempts = options.attempts or self.config.attempts
        from pdd.policy import effective_budget

        self.budget = effective_budget(options.budget, self.config.max_usd_per_build)
        self.caller = caller if caller is not None else ModelCaller(project, options.record, self.budget)
        self.reviewer: Any = None  # pdd.policy.Reviewer when `review:` is configured (see plan)
        self._blob_lock = threading.Lock()  # pygit2 object writes: the workers' blobs and the notes commits
        self.notes = NotesWriter(lambda: project.repo, odb_lock=self._blob_lock)  # pygit2 on the first note
        self.cancel = threading.Event()
        self._accepting = threading.Condition()  # guards _accepts: accepts in progress (see _accept)
        self._accepts = 0
        self._packages_lock = threading.Lock()
        self._read_notes()
        self.known_fresh: set[str] = set()
        self._rendered: dict[str, Any] = {}  # module -> its pdd.render.Rendered from plan (rendered once per build)
        self.untested: dict[str, str] = {}  # module -> why it has no behavior tests
        self.broken: dict[str, InputError] = {}  # module -> why its prompt (or a dependency's) is unusable
        self._digests: dict[str, str] = {}
        self.backups: list[str] = []
        self.run_root = run_root if run_root is not None else project.root
        self._sandbox: "Sandbox | None" = None

    # -- planning -----------------------------------------------------------------
    def plan(self) -> tuple[dict[str, PromptSpec], list[str], set[str]]:
        """``(specs, order, forced)``; raises :class:`InputError` before any write."""
        specs, self.broken = self.project.usable_specs()  # broken prompts fail at the end (exit 2)
        targets = self.project.select(self.options.names) if self.options.names else sorted(specs)
        wanted = closure(specs, targets)
        forced = set(targets) if self.options.force else set()
        if self.options.run_tests:  # untested modules fail (exit 1) without a request; see build_one
            for name in wanted:
                why = untested_problem(specs[name], lambda t: (self.project.root / t).is_file()) \
                    or self._placeholder_problem(specs[name])
                if why is not None:
                    self.untested[name] = why
        for name in wanted:
            spec = specs[name]
            for u in spec.uses:
                if not (self.project.root / u).is_file():
                    raise InputError(spec.path, spec.keys_line.get("uses"), f"'uses' file {u} does not exist",
                                     hint="fix the path, or remove it from 'uses'")
        # Modules whose recorded inputs are unchanged (and whose dependencies' are too)
        # are fresh without rendering; every other prompt is rendered now, so template
        # errors stop the build before any write.
        from pdd.render import render_prompt

        from pdd.fingerprint import generator_for
        from pdd.provenance.state import matching_record

        order = topological_order(specs, wanted)
        if len(order) > 16 and self.have_notes:  # the notes of the current files in one batch read, not one each
            from pdd.provenance.source import git_blob_id

            source = self._source()
            self.notes_index.prefetch([git_blob_id(data) for n in order if n not in forced
                                       and (data := source.read(specs[n].output)) is not None])
        for name in order:
            spec = specs[name]
            if name not in forced and all(d in self.known_fresh for d in spec.depends):
                digests = self._dep_digests(spec, specs)
                records = self._current_records(spec)[1]
                if digests is not None and records:
                    uses = worktree_uses(self.project, spec)[1] if spec.uses else {}
                    try:  # the fast path of the judge: a generator-changed module is kept too
                        matched = matching_record(spec, self._source(), records,
                                                  generator_for(spec, self.config).to_json(), digests, uses)[0]
                    except OSError:
                        matched = None
                    if matched is not None:
                        self.known_fresh.add(name)
                        continue
            self._rendered[name] = render_prompt(spec, self.project.root, self.config.prompts_dir)
        from pdd.policy import check_ladder_reviewer

        generators = [generator_for(specs[n], self.config) for n in wanted]
        check_ladder_reviewer(self.config, generators)  # a reviewer equal to a front-matter model: exit 2
        self.caller.require_prices({m for g in generators for m in ladder_of(g)} | {self.config.review_model},
                                   budgeted=self.budget is not None)
        if self.config.review_model and self.reviewer is None:
            from pdd.policy import Reviewer

            self.reviewer = Reviewer(self.project, self.caller, self.options.record)
        return specs, order, forced

    def _placeholder_problem(self, spec: PromptSpec) -> str | None:
        """Why ``spec`` cannot pass yet: its behavior-test files still hold only the
        placeholder test ``pdd new`` wrote (it fails on purpose), so every request
        would be paid for nothing; else None."""
        from pdd.lint import PLACEHOLDER_MARKER

        waiting = []
        for t in spec.tests:
            try:
                text = (self.project.root / t).read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
            if PLACEHOLDER_MARKER not in text:
                return None
            waiting.append(t)
        return (f"its behavior tests are still the placeholder `pdd new` wrote: write the acceptance tests in "
                f"{', '.join(waiting)} and delete the placeholder test, then `pdd build`") if waiting else None

    def _source(self) -> Any:
        """The working tree with the notes read when the build started (:mod:`pdd.provenance.source`)."""
        return worktree_source(self.project, self.notes_index)

    def _current_records(self, spec: PromptSpec) -> tuple[bytes | None, list[NoteRecord]]:
        """(current file bytes or None, note records naming its path) from the notes snapshot."""
        source = self._source()
        data = source.read(spec.output)
        return (None, []) if data is None else (data, source.provenance(spec.output)[1])

    def _dep_digests(self, spec: PromptSpec, specs: dict[str, PromptSpec]) -> dict[str, str] | None:
        """Interface digest of each dependency's current file; None if one is unusable."""
        from pdd.interface import interface_digest

        out = {}
        for d in spec.depends:
            dep = specs[d]
            try:
                data = (self.project.root / dep.output).read_bytes()
            except OSError:
                return None
            blob = git_blob_id(data)
            if blob not in self._digests:
                try:
                    self._digests[blob] = interface_digest(targets.get().extract_interface(data.decode("utf-8"), dep.output))
                except (SyntaxError, ValueError):
                    return None
            out[d] = self._digests[blob]
        return out

    # -- running ------------------------------------------------------------------
    def sandbox(self) -> "Sandbox":
        """The sandbox of this build's test runs (``tests.sandbox``), chosen once."""
        from pdd.sandbox import select

        if self._sandbox is None:
            self._sandbox = select(self.config.test_sandbox)
        return self._sandbox

    def _read_notes(self) -> None:
        """List the notes (``refs/notes/pdd`` and the remote-tracking notes refs) once."""
        self.notes_index = Notes(self.project.root)
        self.notes_index.load_listing()
        self.have_notes = self.notes_index.exists

    def run(self) -> BuildReport:
        """Plan and build under the repository lock (:func:`pdd.recovery.repo_lock`):
        a second build waits; leftover temporary files are removed first."""
        from pdd.recovery import clean_leftovers, repo_lock

        with repo_lock(self.project.root, self.options.command, notify=self.reporter.message):
            # Provenance is read only now: a build that waited sees its twin's notes.
            self._read_notes()
            for rel in clean_leftovers(self.project.root):
                self.reporter.message(f"removed {rel}, a temporary file left by an interrupted pdd")
            return self._run_locked()

    def _run_locked(self) -> BuildReport:
        started = now_iso()
        if self.options.run_tests:
            from pdd.config import check_test_command

            check_test_command(self.config, self.project.root)
        from pdd.repopath import require_inside
        from pdd.runs import RUNS_DIR

        require_inside(self.run_root, RUNS_DIR, "the run records folder")
        if self.options.record:
            require_inside(self.project.root, self.config.replay_dir, "replay.dir (where --record writes)")
        specs, order, forced = self.plan()
        if self.options.run_tests:
            self.sandbox()  # tests.sandbox: bwrap without bwrap is exit 2 before any write
        if not self.have_notes and any((self.project.root / specs[n].output).is_file() for n in order):
            self.reporter.message(
                "warning: this clone has no pdd notes (refs/notes/pdd), so the provenance of the files in "
                "generated/ is unknown and they will be regenerated (changed ones are saved under .pdd/backup/). "
                f"To use the team's notes instead, stop (Ctrl-C) and run: {FETCH_NOTES}")
        if any(n not in self.untested and (n not in self.known_fresh or n in forced) for n in order):
            self.caller.prepare()  # the backend (SDK import, client) is built before the workers need it
            if self.reviewer is not None:
                self.reviewer.caller.prepare()
        results: dict[str, ModuleResult] = {}
        self.reporter.start(len(order) + len(self.broken))
        broken_results = [ModuleResult(name, "", "error", error=str(exc)) for name, exc in self.broken.items()]
        for r in broken_results:  # reported first; everything that does not depend on them is built
            self.reporter.module_finished(r)
        waiting, dependents = edges_within(specs, order)
        ready = [n for n in order if waiting[n] == 0]
        running: dict[Future, str] = {}
        fatal: PddError | None = None
        interrupted = False

        def finish(r: ModuleResult) -> None:
            results[r.name] = r
            self.reporter.module_finished(r)
            for m in dependents[r.name]:
                waiting[m] -= 1
                if waiting[m] == 0:
                    ready.append(m)

        try:
            pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="pdd-build")
            try:
                while ready or running:
                    while ready and fatal is None:
                        name = ready.pop(0)
                        deps = specs[name].depends
                        failed_deps = [d for d in deps if d in results and results[d].status not in ("built", "fresh")]
                        if failed_deps:
                            finish(ModuleResult(name, specs[name].output, "blocked",
                                                error=f"dependency {', '.join(failed_deps)} failed"))
                        elif name in self.untested or (name in self.known_fresh and name not in forced):
                            finish(self.build_one(specs[name], False))  # no work: not worth a thread
                        else:
                            self.reporter.module_started(name)
                            running[pool.submit(self.build_one, specs[name], name in forced)] = name
                    if fatal is not None:
                        ready.clear()
                    if not running:
                        continue
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for fut in done:
                        name = running.pop(fut)
                        try:
                            r = fut.result()
                        except UsageError as exc:  # configuration: stop scheduling, exit 2
                            fatal = fatal or exc
                            r = getattr(exc, "result", None) or ModuleResult(name, specs[name].output, "error",
                                                                             error=exc.message)
                        except PddError as exc:
                            r = ModuleResult(name, specs[name].output, "error", error=str(exc),
                                             backend_failed=isinstance(exc, BackendError))
                        except Exception as exc:  # e.g. OSError writing the module: this module fails, not the build
                            r = ModuleResult(name, specs[name].output, "error", error=f"{type(exc).__name__}: {exc}")
                        finish(r)
            except KeyboardInterrupt:
                # Stop the workers at their next step (running tests are killed); give
                # them a moment, but never wait for a model request to come back.
                self.cancel.set()
                pool.shutdown(wait=False, cancel_futures=True)
                self.reporter.message("interrupted: stopping; finished modules keep their files and notes")
                wait(list(running), timeout=2.0)
                self._wait_accepts()  # a file being written is finished; no other starts
                raise
            finally:
                pool.shutdown(wait=not self.cancel.is_set(), cancel_futures=True)
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            flush_error: PddError | None = None
            try:
                self.notes.flush()
            except PddError as exc:  # the run record is still written, then the error is raised
                flush_error = exc
            self.reporter.stop()
            ordered = [results[n] for n in order if n in results]
            code = (130 if interrupted else EXIT_USAGE if fatal is not None or flush_error is not None
                    else self._exit_code(ordered))
            if self.broken and code in (EXIT_OK, EXIT_PROBLEM):
                code = EXIT_USAGE  # a broken prompt is bad input: exit 2, after building the rest
            ordered = broken_results + ordered
            run_path = write_run(self.run_root, self.options.command, {
                "started": started, "ended": now_iso(), "pdd": __version__,
                "backend": self.config.backend, "model": self.config.model, "exit_code": code,
                "sandbox": self._sandbox.to_json() if self._sandbox is not None else None,
                "interrupted": interrupted, "budget_usd": self.budget,
                **({"review": {"model": self.reviewer.model, "backend": self.reviewer.backend,
                               "block": self.reviewer.block}} if self.reviewer is not None else {}),
                "modules": {r.name: r.to_json() for r in ordered},
            })
        for b in self.backups:
            self.reporter.message(f"note: the previous content (not genuine) was saved to {b}")
        if flush_error is not None:
            raise flush_error
        if fatal is not None:
            raise fatal
        return BuildReport(ordered, run_path, code, notes_missing_before=not self.have_notes,
                           budget_stopped=bool(self.caller.budget and self.caller.budget.stopped),
                           budget_usd=self.budget)

    @staticmethod
    def _exit_code(results: list[ModuleResult]) -> int:
        if any(r.backend_failed for r in results):
            return EXIT_BACKEND
        if any(r.status in ("failed", "error", "blocked", "untested") for r in results):
            return EXIT_PROBLEM
        return EXIT_OK

    # -- one module ---------------------------------------------------------------
    def build_one(self, spec: PromptSpec, force: bool) -> ModuleResult:
        """Build ``spec`` if needed. Raises :class:`PddError` for input or backend errors."""
        t0 = time.monotonic()
        result = ModuleResult(spec.name, spec.output, "failed")
        if spec.name in self.untested:
            result.status, result.tests = "untested", "none"
            result.error = f"{self.untested[spec.name]} (or opt out with `tests: []` and `untested_reason:` in {spec.path})"
            return result
        if spec.name in self.known_fresh and not force:
            result.status = "fresh"
            ensure_packages(self.project.root, spec.output)
            return result
        try:
            inputs = module_inputs(self.project, spec, self._rendered.pop(spec.name, None))
        except DependencyUnavailable as exc:
            result.status, result.error = "error", f"dependency unavailable: {exc}"
            return result
        result.fingerprint = inputs.fingerprint
        result.model = inputs.generator.model
        from pdd.provenance.state import judge

        source = self._source()
        current = source.read(spec.output)
        st = judge(spec, source, have_notes=self.have_notes, generator=inputs.generator, deps=inputs.dep_digests,
                   uses=inputs.uses_digests, render=lambda: inputs.rendered)
        genuine = st.note is not None
        if current is not None:
            if not force and st.state in ("fresh", "generator-changed"):
                result.status, result.tests = "fresh", "not-run"
                ensure_packages(self.project.root, spec.output)
                result.seconds = time.monotonic() - t0
                return result
            if st.state == "edited" and not force:
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
        """The attempt loop. A retry sends a bounded request (the first request's
        messages, the last failing code and concise failures; see
        :func:`pdd.generation.bounded_retry_messages`). An answer whose code is
        byte-identical to a failing earlier one is not tested again; the next request
        says so and, to the same model, omits that code; every retry samples hotter, with a recorded seed (:func:`retry_sampling`). A backend failure
        ends the module with its requests counted (exit 3), not the build."""
        import hashlib

        initial = initial_messages(spec.module, spec.output, inputs.rendered, list(inputs.dep_contexts))
        messages = initial
        gen = inputs.generator
        pipeline = Pipeline(self.project.root, self.config, spec, run_tests=self.options.run_tests,
                            sandbox=self.sandbox() if self.options.run_tests else None, cancel=self.cancel)
        req_ids = requirement_ids(spec.body)
        last_problem = ""
        last_cut: int | None = None  # max_tokens of the last answer, if the server cut it off there
        failed: dict[str, str] = {}  # sha256 of failing code -> its concise feedback
        repeat: tuple[str, str, str] | None = None  # (model, code, feedback) of an answer that repeated a failing one
        progress = self._progress_callback(spec.name)
        ladder = ladder_of(gen)
        result.ladder = list(ladder) if len(ladder) > 1 else None
        for rung, model, attempt in schedule(ladder, self.attempts):  # rung 2 continues rung 1's conversation
            result.attempts, result.rung, result.model = attempt, rung, model
            if self.cancel.is_set():
                raise BuildCancelled("interrupted")
            if repeat is not None:  # the same model is not shown its repeated code (it copies it); a new rung is
                messages = bounded_retry_messages(initial, repeat[1], repeat[2], repeated=repeat[0] == model)
                repeat = None
            in_rung = (attempt - 1) % self.attempts + 1  # a new rung's first request samples as configured
            if in_rung == 1:
                rung_repeats = result.repeated_answers
            temperature, seed = retry_sampling(gen.temperature, result.repeated_answers - rung_repeats, spec.name, in_rung)
            request = request_for(gen, messages, spec.name, model=model, temperature=temperature, seed=seed)
            context = {"attempt": attempt, "rung": rung, "model": model, "temperature": temperature, "seed": seed}
            try:
                completion, hit = pipeline.generate(self.caller, request, progress=progress)
            except BackendError as exc:
                result.add_requests(getattr(exc, "requests", None) or [{"outcome": "failed"}], **context)
                result.backend_failed = True
                result.status, result.error = "error", str(exc)
                return
            if self.cancel.is_set():
                raise BuildCancelled("interrupted")
            result.cache_hits += 1 if hit else 0
            add_rung_usage(result, rung, model, completion, hit)
            if not hit:
                result.add_requests(completion.extra.get("http_requests") or [
                    {"outcome": "ok", "tokens_in": completion.tokens_in, "tokens_out": completion.tokens_out}],
                    **context)
                result.add_usage(completion)
            cut = truncation_note(completion, request.max_tokens)  # a cut-off answer: said to the model and the user
            said_cut = f"\n\n({cut})" if cut else ""  # of this answer only, never stored with a code's feedback
            last_cut = request.max_tokens if completion.truncated else None
            try:
                code = pipeline.extract(completion.text)
            except NoCodeError as exc:
                last_problem = str(exc)
                messages = bounded_retry_messages(initial, completion.text, f"{exc}\n({cut})" if cut else last_problem)
                continue
            code_hash = hashlib.sha256(code.encode("utf-8")).hexdigest()
            if code_hash in failed:  # the same failing code again: not worth another test run
                result.repeated_answers += 1
                repeat = (model, code, failed[code_hash] + said_cut)  # the next request is made when its model is known
                continue
            verdict = pipeline.trial(code)
            problem = verdict.problem if verdict.status == "syntax-error" else None
            outcome = verdict.outcome
            if outcome is not None:
                result.test_runs += 1
                if self.cancel.is_set():
                    raise BuildCancelled("interrupted")
                result.tests, result.sandbox = outcome.status, outcome.sandbox
                if verdict.status == "not-started":  # pdd's or the project's set-up, not the model: no attempt spent
                    result.status, result.attempts = "error", attempt - 1
                    result.error = redact(f"{spec.name}: {verdict.problem}")
                    raise TestsCouldNotStart(result.error, result)
                result.requirements = requirement_results(req_ids, outcome.tests_report, pipeline.tests)
                if not verdict.passed:
                    problem = redact(normalise_test_output(outcome.output, {}))
            elif problem is None:
                result.tests = "none" if self.options.run_tests else "skipped"
                result.requirements = requirement_results(req_ids, None, [])
            if problem is None and self.reviewer is not None:  # after the tests pass; None unless blocking
                problem = self._review(spec, inputs, code, result)
            if problem is None:
                self._accept(spec, inputs, code, completion, current, genuine, result)
                return
            last_problem = problem
            failed[code_hash] = concise_feedback(problem, inputs.rendered)
            messages = bounded_retry_messages(initial, code, failed[code_hash] + said_cut)
        result.status = "failed"
        first_line = next((ln for ln in reversed(last_problem.strip().splitlines()) if ln.strip()), last_problem)
        result.error = (f"gave up after {result.attempts} attempt(s)"
                        + (f" on {len(ladder)} rungs ({', '.join(ladder)})" if len(ladder) > 1 else "")
                        + f": {first_line.strip()[:300]}; "
                        f"{spec.output} was left as it was")
        if result.repeated_answers:
            result.error += f" ({result.repeated_answers} answer(s) repeated a failing one and were not re-tested)"
        if last_cut is not None:
            result.error += (f"; the last answer was cut off at max_tokens ({last_cut} tokens): raise max_tokens "
                             "in .pdd/config.yaml, or make the module smaller")
        result.detail = last_problem

    def _progress_callback(self, name: str) -> Any:
        """``progress(tokens)`` for the reporter's ``module_progress``, if it has one."""
        report = getattr(self.reporter, "module_progress", None)
        if report is None:
            return None
        return lambda tokens: report(name, tokens)

    def _review(self, spec: PromptSpec, inputs: ModuleInputs, code: str, result: ModuleResult) -> str | None:
        """The reviewer's verdict on a candidate that passed its tests (pdd.policy); its
        spend counts in the module's. Returns feedback when a blocking review fails it."""
        try:
            return self.reviewer.review(spec, inputs.rendered, code, result)
        except BackendError:
            result.backend_failed = True
            raise

    def _accept(self, spec: PromptSpec, inputs: ModuleInputs, code: str, completion: Completion,
                current: bytes | None, genuine: bool, result: ModuleResult) -> None:
        """Record the note, then replace the file: a crash in between leaves a note on a
        blob that is not in the tree (harmless), never a genuine file without its note.

        Accepts of different modules run concurrently, and their notes are committed in
        groups: :meth:`pdd.notes.NotesWriter.flush` takes every note queued so far into
        one notes commit, and returns only once the caller's note is in the ref, so the
        workers that arrive while one commit is written share the next one (group
        commit: one notes commit per wave of finished modules, not per module). An
        interrupt waits for the accepts in progress to finish (:meth:`_wait_accepts`);
        none starts after it."""
        with self._accepting:
            if self.cancel.is_set():
                raise BuildCancelled("interrupted")
            self._accepts += 1
        try:
            self._accept_locked(spec, inputs, code, completion, current, genuine, result)
        finally:
            with self._accepting:
                self._accepts -= 1
                self._accepting.notify_all()

    def _wait_accepts(self) -> None:
        """Block until no accept is in progress (the caller has set :attr:`cancel`)."""
        with self._accepting:
            while self._accepts:
                self._accepting.wait()

    def _accept_locked(self, spec: PromptSpec, inputs: ModuleInputs, code: str, completion: Completion,
                       current: bytes | None, genuine: bool, result: ModuleResult) -> None:
        data = code.encode("utf-8")
        path = self.project.root / spec.output
        generated_root = os.path.realpath(self.project.generated_path)
        if not os.path.realpath(path).startswith(generated_root + os.sep):
            raise UsageError(f"{spec.output} resolves outside generated/ (a symbolic link?); not writing it",
                             hint="replace the link under generated/ with a real folder")
        if current is not None and current != data and not genuine:
            backup = backup_path(self.project.root, spec.output)
            write_atomic(backup, current)
            self.backups.append(str(backup.relative_to(self.project.root)))
        if self.options.write_notes:
            with self._blob_lock:  # one pygit2 object-database write at a time
                blob = self.project.repo.create_blob(data)
            self.notes.add(str(blob), NoteRecord.from_dict({
                "path": spec.output,
                "prompt": spec.path,
                "prompt_blob": inputs.prompt_blob,
                "fingerprint": inputs.fingerprint,
                "backend": inputs.generator.backend,
                "model": result.model,
                "rung": result.rung,
                "ladder": result.ladder or None,
                "served_model": completion.model,
                "system_fingerprint": result.system_fingerprint or None,
                "review": result.review or None,
                "spend": {"requests": result.requests, "tokens_in": result.tokens_in, "tokens_out": result.tokens_out,
                          "cost_usd": None if result.cost_unknown else result.cost_usd},
                "tokens_in": completion.tokens_in,
                "tokens_out": completion.tokens_out,
                "cost_usd": completion.cost_usd,
                "backend_info": completion.extra.get("backend_info"),
                "tests": result.tests,
                "sandbox": result.sandbox,
                "attempts": result.attempts,
                "time": now_iso(),
                "pdd": __version__,
                "inputs": inputs.to_note(),
                "requirements": result.requirements or None,
                **(self.options.note_extra or {}),
                "schema": SCHEMA_VERSION,
            }))
            self.notes.flush()  # returns once this note is committed (perhaps by another worker's flush)
        with self._packages_lock:
            ensure_packages(self.project.root, spec.output)
        if current != data:
            write_atomic(path, data, tmp_dir=tmp_folder(self.project.root))
        result.status = "built"

#: Temperature added per retry (attempt 2 on), and again per repeated failing
#: answer; capped at :data:`MAX_RETRY_TEMPERATURE`. Measured with the real-model
#: corpus (docs/local-models.md): at +0.3 after a repeat, Qwen2.5-Coder-1.5B still
#: answered byte-identically in 5 of 7 varied retries.
TEMPERATURE_STEP = 0.5
MAX_RETRY_TEMPERATURE = 1.0


def retry_sampling(base: float, repeats: int, module: str, attempt: int) -> tuple[float, int | None]:
    """``(temperature, seed)`` of an attempt (from 1, counted within a ladder's rung:
    a new rung's first request samples as configured). Attempt 1: the configured
    temperature and no seed (so first requests, and their cache keys and
    recordings, are unchanged). A retry: ``min(1.0, base + 0.5 * (attempt - 1 +
    repeats))`` (a configured temperature above 1.0 is kept), where ``repeats`` counts answers identical to a failing one so far,
    and a seed derived from the module and attempt (the first 4 bytes of SHA-256 of
    ``"module:attempt"``, as an int below 2**31), so the varied request is itself
    reproducible on a server that honours ``seed``, and recorded. At temperature 0
    the failing-test feedback alone rarely changes a small model's answer, so a
    retry without new sampling is mostly a wasted attempt."""
    if attempt <= 1:
        return base, None
    import hashlib

    seed = int.from_bytes(hashlib.sha256(f"{module}:{attempt}".encode()).digest()[:4], "big") % 2**31
    step = TEMPERATURE_STEP * (attempt - 1 + max(repeats, 0))
    return max(base, min(MAX_RETRY_TEMPERATURE, max(base, 0.0) + step)), seed  # never colder than configured


def build(project: Project, options: BuildOptions, reporter: Reporter) -> BuildReport:
    """Run a build. Raises :class:`InputError` (exit 2) before any write on bad input."""
    return Builder(project, options, reporter).run()
