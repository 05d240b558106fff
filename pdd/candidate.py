"""The candidate pipeline of one module: generate → extract → compile → test in the overlay.

Used by ``pdd build`` (the attempt loop, :mod:`pdd.build`) and ``pdd probe``
(independent candidates, :mod:`pdd.probe`); what each does with a verdict (retry
with feedback, accept; or compare) stays with it. Steps:

1. :meth:`Pipeline.generate`: one request through a :class:`pdd.modelcall.ModelCaller`;
2. :meth:`Pipeline.extract`: the module source out of the answer
   (:meth:`pdd.targets.Target.extract_code`; :class:`pdd.extract.NoCodeError` when it has none);
3. :meth:`Pipeline.trial`: the compile check (:meth:`pdd.targets.Target.check_compiles`),
   then the module's existing behavior-test files run against the candidate in an
   overlay (:func:`pdd.testrun.run_tests`; ``generated/`` is never touched), in the
   build's sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdd import targets
from pdd.extract import NoCodeError

if TYPE_CHECKING:
    import threading

    from pdd.backends import Completion, Request
    from pdd.config import Config
    from pdd.modelcall import ModelCaller
    from pdd.prompt import PromptSpec
    from pdd.sandbox import Sandbox
    from pdd.testrun import TestResult


@dataclass
class Verdict:
    """What the trial of one candidate found. ``status``: ``syntax-error`` (``problem``
    is the compile error with its line), ``untested`` (it compiles; no test files to
    run), ``passed``, ``failed`` / ``timeout`` (``problem`` is the test output), or
    ``not-started`` (the run could not start: not the candidate's fault).
    ``outcome``: the test run, when there was one."""

    status: str
    problem: str | None = None
    outcome: "TestResult | None" = None

    @property
    def passed(self) -> bool:
        """True if the candidate compiles and its tests (if any) pass."""
        return self.status in ("passed", "untested")


class Pipeline:
    """The candidate pipeline of ``spec`` in repository ``root`` with ``config``'s
    ``tests.*`` settings. ``run_tests=False`` (``--no-tests``, ``--no-tests`` probes)
    skips the test step; ``sandbox`` confines the runs (a :class:`pdd.sandbox.Sandbox`,
    chosen once per command); ``cancel`` kills a running test run when set."""

    def __init__(self, root: Path, config: "Config", spec: "PromptSpec", *, run_tests: bool = True,
                 sandbox: "Sandbox | None" = None, cancel: "threading.Event | None" = None) -> None:
        self.root = root
        self.config = config
        self.spec = spec
        self.tests: list[str] = spec.existing_tests(root) if run_tests else []
        self.sandbox = sandbox
        self.cancel = cancel

    def generate(self, caller: "ModelCaller", request: "Request", **kwargs: Any) -> "tuple[Completion, bool]":
        """``(completion, cache_hit)`` of ``request``; ``kwargs`` as :meth:`ModelCaller.__call__`
        takes them (``lookup``, ``progress``). Raises :class:`pdd.errors.BackendError`."""
        return caller(request, **kwargs)

    @staticmethod
    def extract(text: str) -> str:
        """The module source in answer ``text``. Raises :class:`NoCodeError`."""
        return targets.get().extract_code(text)

    def trial(self, code: str) -> Verdict:
        """Compile ``code`` as the module's file, then run the behavior tests against it
        in the overlay. Raises :class:`pdd.errors.UsageError` (exit 2) if the sandbox is
        unusable, :class:`OSError` if the test command cannot be started."""
        from pdd.testrun import run_tests, test_settings

        problem = targets.get().check_compiles(code, self.spec.output)
        if problem is not None:
            return Verdict("syntax-error", problem)
        if not self.tests:
            return Verdict("untested")
        settings = test_settings(self.config)
        if self.sandbox is not None:
            settings["sandbox"] = self.sandbox
        outcome = run_tests(self.root, self.tests, output=self.spec.output, code=code, **settings, cancel=self.cancel)
        if outcome.not_started:
            return Verdict("not-started", outcome.start_problem(), outcome)
        if outcome.passed:
            return Verdict("passed", None, outcome)
        return Verdict("timeout" if outcome.status == "timeout" else "failed", outcome.output, outcome)


__all__ = ["Pipeline", "Verdict", "NoCodeError"]
