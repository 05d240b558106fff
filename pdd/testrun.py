"""Run a module's behavior tests with pytest in a subprocess, with a timeout.

A candidate module is tested *before* it replaces the file in ``generated/``: it
is written to a scratch overlay folder whose ``generated`` packages put the overlay
first and the real ``generated/`` second on their ``__path__``, so the candidate
shadows its old version while every other module resolves as usual. A tiny pytest
plugin in the overlay (``-p pdd_overlay``) imports those packages before test
collection, so pytest's own ``sys.path`` changes cannot bypass the overlay.

The test process does not inherit credential-like variables (``*_API_KEY``,
``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``...; :data:`pdd.redact.SECRET_SUFFIXES`):
generated code under test has no business with them. It runs through
:mod:`pdd.sandbox` (``tests.sandbox``: bubblewrap with the repository read-only,
only the overlay writable, no network, its own PID namespace); unconfined it still
dies with pdd (``PR_SET_PDEATHSIG``). The overlay is a ``pdd-tests-<pid>-*`` folder
in the temporary folder; ones left by a killed pdd are removed by the next run.

Outcome: :class:`TestResult` — ``status`` is ``passed``, ``failed`` (including
"no tests collected", pytest exit 5, so nothing passes vacuously), ``timeout`` or
``error`` (pytest could not run: usage error, internal error).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pdd.sandbox import Sandbox

from pdd.pytest_plugin import REQ_REPORT_ENV

_PYTEST_OPTS = ("-q", "-p", "no:cacheprovider", "-p", "pdd_overlay")


@dataclass(frozen=True)
class TestResult:
    """``status``: passed|failed|timeout|error; ``output``: combined stdout and stderr
    (overlay paths replaced by repository paths); ``seconds``: wall time."""

    __test__ = False  # not a pytest test class

    status: str
    output: str
    returncode: int | None
    seconds: float
    sandbox: str = "none"  # bwrap | none: how the tests were confined
    #: Per-test entries of pdd's pytest plugin (:mod:`pdd.pytest_plugin`): nodeid, path,
    #: line, reqs, outcome. ``None`` when the plugin did not report (a custom command).
    report: list | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _scrubbed_env(overlay: Path, root: Path | None = None) -> dict[str, str]:
    from pdd.sandbox import clean_env

    env = clean_env()
    # The overlay first; then the repository root, so tests import the project's own
    # modules (e.g. an adopted module's re-export shim) as under `python -m pytest` there.
    first = [str(overlay)] + ([str(root)] if root is not None else [])
    env["PYTHONPATH"] = os.pathsep.join(first + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _write_overlay(overlay: Path, root: Path, output: str, code: str, preload: str = "") -> str:
    """Write the candidate and its package shims; return the dotted package chain.
    ``preload``: Python source appended to the overlay plugin (runs before collection)."""
    rel = PurePosixPath(output)
    packages = rel.parts[:-1]  # ('generated', 'billing')
    for depth in range(1, len(packages) + 1):
        pkg_rel = PurePosixPath(*packages[:depth])
        folder = overlay / pkg_rel
        folder.mkdir(parents=True, exist_ok=True)
        real = root / pkg_rel
        (folder / "__init__.py").write_text(
            "# pdd test overlay: this folder first, then the real package.\n"
            f"__path__ = [{str(folder)!r}, {str(real)!r}]\n",
            encoding="utf-8",
        )
    (overlay / rel).write_text(code, encoding="utf-8")
    chain = ".".join(packages)
    (overlay / "pdd_overlay.py").write_text(
        "# pdd test overlay plugin: bind the overlay packages before collection.\n"
        f"import importlib\nfor _name in {[('.'.join(packages[:i + 1])) for i in range(len(packages))]!r}:\n"
        "    importlib.import_module(_name)\n" + preload,
        encoding="utf-8",
    )
    return chain


def run_tests(
    root: Path,
    test_files: list[str],
    *,
    output: str | None = None,
    code: str | None = None,
    command: tuple[str, ...] = (),
    timeout: float = 300.0,
    cancel: "threading.Event | None" = None,
    sandbox: "str | Sandbox" = "auto",
    preload: str = "",
) -> TestResult:
    """Run ``test_files`` (repo-relative) with pytest from ``root``.

    With ``output`` and ``code``, the candidate ``code`` stands in for the file at
    ``output`` (an overlay; ``generated/`` is not touched). ``command`` replaces
    ``python -m pytest`` (it must accept pytest's options). ``sandbox``: a
    ``tests.sandbox`` setting or a :class:`pdd.sandbox.Sandbox`. Never raises for
    test failures; ``preload``: Python source the overlay plugin runs before collection
    (with ``code``; :mod:`pdd.adopt` binds the original module's name to its shim there);
    raises :class:`OSError` only if the command cannot be started,
    :class:`pdd.errors.UsageError` if ``sandbox`` is ``bwrap`` and bwrap is unusable.
    """
    from pdd.sandbox import launch, scratch_dir, select

    box = select(sandbox) if isinstance(sandbox, str) else sandbox
    base = list(command) if command else [sys.executable, "-m", "pytest"]
    overlay = scratch_dir("pdd-tests-")
    try:
        if output is not None and code is not None:
            _write_overlay(overlay, root, output, code, preload)
            opts = list(_PYTEST_OPTS)
        else:
            opts = ["-q", "-p", "no:cacheprovider"]
        argv = [*base, *opts, "--rootdir", str(root), *[str(root / t) for t in test_files]]
        start = time.monotonic()
        env = _scrubbed_env(overlay, root)
        report_path = overlay / "pdd-req-report.json"
        env[REQ_REPORT_ENV] = str(report_path)
        proc = launch(argv, root=root, writable=[overlay], sandbox=box, cwd=overlay if output else root,
                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out = _communicate(proc, timeout, cancel)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, _ = proc.communicate()
            return TestResult("timeout", _clean(out, overlay, root) + f"\n[pdd] tests timed out after {timeout:g} s\n",
                              None, time.monotonic() - start, box.name)
        except BaseException:
            kill_group(proc)
            proc.wait()
            raise
        seconds = time.monotonic() - start
        text = _clean(out, overlay, root)
        rc = proc.returncode
        report = _read_report(report_path)
        if rc == 0:
            return TestResult("passed", text, rc, seconds, box.name, report)
        if rc in (1, 5):
            if rc == 5:
                text += "\n[pdd] no tests were collected: a module must not pass vacuously\n"
            return TestResult("failed", text, rc, seconds, box.name, report)
        if rc < 0 or rc >= 128:
            text += f"\n[pdd] the test process was killed (exit {rc}): the code under test killed it or crashed\n"
        return TestResult("error", text, rc, seconds, box.name, report)
    finally:
        shutil.rmtree(overlay, ignore_errors=True)


def _read_report(path: Path) -> list | None:
    """The plugin's per-test entries from ``path``, or ``None`` if absent or unreadable."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    tests = data.get("tests") if isinstance(data, dict) else None
    return [t for t in tests if isinstance(t, dict)] if isinstance(tests, list) else None


def kill_group(proc: "subprocess.Popen") -> None:
    """SIGKILL the process group of ``proc`` (started with ``start_new_session=True``),
    so its children (a test's own subprocesses) go too; no error if it is gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _communicate(proc: "subprocess.Popen[str]", timeout: float, cancel: "threading.Event | None") -> str:
    """Wait for ``proc`` up to ``timeout`` seconds, polling ``cancel`` (set: kill the
    process group and raise ``KeyboardInterrupt``). Raises ``TimeoutExpired``."""
    deadline = time.monotonic() + timeout
    chunks: list[str] = []
    while True:
        step = min(0.25, max(0.0, deadline - time.monotonic())) if cancel is not None else timeout
        try:
            out, _ = proc.communicate(timeout=step)
            chunks.append(out or "")
            return "".join(chunks)
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt from None
            if time.monotonic() >= deadline:
                raise


def _clean(out: str, overlay: Path, root: Path) -> str:
    return out.replace(str(overlay) + os.sep, "").replace(str(overlay), ".").replace(str(root) + os.sep, "")
