"""Run a module's behavior tests with pytest in a subprocess, with a timeout.

A candidate module is tested *before* it replaces the file in ``generated/``: it
is written to a scratch overlay folder (``<overlay>/generated/...``), and pdd's
pytest plugin (:mod:`pdd.pytest_plugin`, ``-p pdd``) puts an import hook first on
``sys.meta_path`` at plugin load, before the project's ``conftest.py`` files and
whatever ``pythonpath``, ``rootdir`` or ``--import-mode`` say: ``generated.*``
resolves in the overlay first and the real ``generated/`` second, so the candidate
shadows its old version while every other module resolves as usual. pytest runs
from the repository root with the project's own configuration (``pyproject.toml``,
``pytest.ini``, ``setup.cfg``, ``tox.ini``, conftest fixtures), as the user's own
``python -m pytest`` would.

The test process sees only an allow-list of variables (:func:`pdd.sandbox.clean_env`,
plus ``tests.pass_env``), never a credential-like one
(:func:`pdd.redact.is_credential_name`): generated code under test has no
business with them. It runs through
:mod:`pdd.sandbox` (``tests.sandbox``: bubblewrap with the repository read-only,
only the overlay writable, no network, its own PID namespace); unconfined it still
dies with pdd (``PR_SET_PDEATHSIG``). The overlay is a ``pdd-tests-<pid>-*`` folder
in the temporary folder; ones left by a killed pdd are removed by the next run.

Outcome: :class:`TestResult` — ``status`` is ``passed``, ``failed`` (including
"no tests collected", pytest exit 5, so nothing passes vacuously, and a collection
error caused by the candidate: it raised while imported, or a test could not
import a name from it), ``timeout`` or ``error``: the test run could not start
(a collection error outside the candidate, a broken ``conftest.py``, a plugin or
usage error, pytest exits 2/3/4 with nothing to blame on the candidate). An
``error`` is not the model's fault: callers do not feed it back as test failures.

Plugins (``tests.plugins``): pytest runs with plugin autoload off
(``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``, set by pdd whatever the caller's environment
says): importing every installed plugin (hypothesis's, anyio's...) costs more than a
module's tiny tests. Loaded are pdd's plugin (``-p pdd``), the plugins the project's
pytest configuration names (``-p`` in ``addopts`` and ``pytest_plugins`` in a
``conftest.py``, which pytest honours itself; the distributions in ``required_plugins``,
whose entry points pdd's plugin loads) and each name in ``tests.plugins`` (``-p NAME``).
``tests.plugins: autoload`` restores pytest's own autoloading. A test that errors
because a plugin is missing (``fixture 'x' not found``, an ``async def`` test nothing
ran, an unknown option or marker that a plugin would add) makes the run ``error``
with :attr:`TestResult.hint` naming the setting (:func:`plugin_hint`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdd.sandbox import Sandbox

from pdd.targets import get as get_target
from pdd.pytest_plugin import PRELOAD_VAR, REQ_REPORT_ENV, REQUIRED_PLUGINS_VAR

# ``-p pdd`` names pdd's pytest11 entry point (pdd.pytest_plugin): it loads even when
# plugin autoloading is disabled, and is not loaded twice when it is enabled.
_PYTEST_OPTS = ("-q", "-p", "no:cacheprovider", "-p", "pdd")
AUTOLOAD_VAR = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
_REPORT = "pdd-test-report.json"
_REQ_REPORT = "pdd-req-report.json"
_PRELOAD = "pdd_preload.py"
_START_LINES = 12  # lines of pytest's error quoted by start_problem()


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
    report: dict | None = None  # pdd's pytest plugin report (pdd.pytest_plugin), if it wrote one
    #: Per-test entries of the plugin's requirement report: nodeid, path, line, reqs,
    #: outcome. ``None`` when the plugin did not report (a custom command).
    tests_report: list | None = None
    #: What to do when the run failed for want of a pytest plugin (:func:`plugin_hint`), else empty.
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def not_started(self) -> bool:
        """True when the test run could not start (``status == "error"``)."""
        return self.status == "error"

    def start_problem(self) -> str:
        """``the test run could not start: ...`` with the first lines of pytest's error
        (lines of pytest's own banner and blank lines skipped)."""
        lines = [ln for ln in self.output.splitlines()
                 if ln.strip() and not set(ln.strip()) <= set("=_-") and ln.strip() != self.hint]
        head = "\n".join("  " + ln for ln in lines[:_START_LINES])
        return f"the test run could not start (pytest exit {self.returncode}):\n{head}" + \
            (f"\n  {self.hint}" if self.hint else "")


def _scrubbed_env(overlay: Path, root: Path | None = None, candidate: str | None = None) -> dict[str, str]:
    """The test process's variables before :func:`pdd.sandbox.launch` applies its
    allow-list (the one place that decides what model-written code sees): no
    bytecode files, ``PYTHONHASHSEED=0`` unless set, and (with ``root``) pdd's plugin activated: ``generated.*`` from
    ``overlay`` first, then ``root``; the plugin's report written into ``overlay``.
    pdd's own plugin variables inherited from a caller are dropped first."""
    from pdd.pytest_plugin import CANDIDATE_VAR, PRELOAD_VAR, REPORT_VAR, ROOTS_VAR

    env = {k: v for k, v in os.environ.items()
           if k not in (ROOTS_VAR, CANDIDATE_VAR, REPORT_VAR, REQ_REPORT_ENV, PRELOAD_VAR)}
    if root is not None:
        # The repository root on the path, as under `python -m pytest` there (also for a
        # custom tests.command such as `pytest`): tests import the project's own modules.
        env["PYTHONPATH"] = os.pathsep.join([str(root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # One hash seed (unless the caller sets one): a set's order in a failure message, and
    # so a retry's feedback, is then the same every run (seeded retries repeat).
    env.setdefault("PYTHONHASHSEED", "0")
    if root is not None:
        env[ROOTS_VAR] = os.pathsep.join([str(overlay), str(root)] if candidate else [str(root)])
        env[REPORT_VAR] = str(overlay / _REPORT)
        if candidate:
            env[CANDIDATE_VAR] = candidate
    return env


def _write_overlay(overlay: Path, root: Path, output: str, code: str) -> str:
    """Write the candidate under ``overlay`` (same relative path as ``output``), with
    the package file (the target's ``PACKAGE_FILE``) pdd makes for each of its packages that has none yet in the
    working tree; return the candidate's dotted module name."""
    from pdd.prompt import INIT_TEXT

    rel = PurePosixPath(output)
    packages = rel.parts[:-1]  # ('generated', 'billing')
    for depth in range(1, len(packages) + 1):
        pkg_rel = PurePosixPath(*packages[:depth])
        (overlay / pkg_rel).mkdir(parents=True, exist_ok=True)
        package_file = pkg_rel / get_target().PACKAGE_FILE
        if not (root / package_file).is_file():
            (overlay / package_file).write_text(INIT_TEXT, encoding="utf-8")
    (overlay / rel).write_text(code, encoding="utf-8")
    return get_target().import_name(output)


def _read_report(overlay: Path) -> dict | None:
    """The plugin's report (see :mod:`pdd.pytest_plugin`), or None if it wrote none."""
    import json

    try:
        data = json.loads((overlay / _REPORT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def classify(returncode: int, report: dict | None) -> str:
    """``passed``/``failed``/``error`` from pytest's exit code and the plugin's report.

    0 passed; 1 (tests failed) and 5 (nothing collected) failed — ``error`` when the
    plugin wrote no report at all (pytest never started); otherwise (2
    interrupted, 3 internal error, 4 usage error, or a conftest that failed to
    load) ``failed`` only if the candidate is to blame — it raised while being
    imported, or every collection error involves it — else ``error``: the run
    could not start. A test that errored for want of a pytest plugin (the
    report's ``plugin_problems``) makes the run ``error`` too. A process killed by a signal (negative or >= 128) is ``failed``:
    the code under test killed it or crashed it. Exit 0 is ``passed`` only when the
    plugin saw pytest's session end with status 0 (``report["exitstatus"] == 0``):
    code that calls ``os._exit(0)`` before the tests ran has passed nothing."""
    if report is not None and report.get("plugin_problems"):
        return "error"  # a fixture or async test a plugin not loaded would provide: the set-up, not the code
    if returncode == 0:
        # pytest's own exit 0 is seen by the plugin at the end of the session; a
        # process that exits 0 without it (the code under test called os._exit(0)
        # while tests were pending) has not passed anything.
        return "passed" if report is not None and report.get("exitstatus") == 0 else "failed"
    if returncode in (1, 5):
        # pdd's plugin (always loaded, -p pdd) reports every session that started; no
        # report means pytest never ran (the sandbox could not start the test command)
        return "failed" if report is not None else "error"
    if returncode < 0 or returncode >= 128:  # killed by a signal: the code under test killed it or crashed
        return "failed"
    if report is not None:
        errors = report.get("collect_errors") or []
        if report.get("candidate_error") or (errors and all(e.get("candidate") for e in errors)):
            return "failed"
    return "error"


def test_settings(config: Any) -> dict[str, Any]:
    """The keyword arguments of :func:`run_tests` that the project's configuration
    decides (``tests.command``, ``tests.timeout``, ``tests.sandbox``,
    ``tests.pass_env``): every caller runs the tests the same way."""
    return {"command": config.test_command, "timeout": config.test_timeout, "sandbox": config.test_sandbox,
            "pass_env": config.test_pass_env, "plugins": config.test_plugins,
            "autoload": config.test_plugin_autoload}


def pytest_invocation(root: Path, targets: list[str], *, command: tuple[str, ...] = (),
                      plugins: tuple[str, ...] = (), autoload: bool = False,
                      pytest_args: tuple[str, ...] = (), opts: tuple[str, ...] = _PYTEST_OPTS,
                      ) -> tuple[list[str], dict[str, str | None]]:
    """The one place a pdd pytest run is spelled: ``(argv, env)`` for running
    ``targets`` (repo-relative files or folders) from ``root``.

    ``argv``: ``command`` (default ``python -m pytest``), ``opts`` (pdd's: quiet, no
    cache, ``-p pdd``), ``-p NAME`` per ``tests.plugins`` entry, ``pytest_args``,
    ``--rootdir ROOT`` and the targets as absolute paths. ``env``: variables to set on
    top of the caller's (a ``None`` value removes one): plugin autoload off
    (:data:`AUTOLOAD_VAR`) and the project's ``required_plugins`` loaded by pdd's
    plugin, unless ``autoload`` (``tests.plugins: autoload``)."""
    base = list(command) if command else get_target().test_command()
    loads = [a for name in plugins for a in ("-p", name)]
    argv = [*base, *opts, *loads, *pytest_args, "--rootdir", str(root), *[str(root / t) for t in targets]]
    env: dict[str, str | None] = {AUTOLOAD_VAR: None, REQUIRED_PLUGINS_VAR: None} if autoload else \
        {AUTOLOAD_VAR: "1", REQUIRED_PLUGINS_VAR: "1"}
    return argv, env


def apply_env(env: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """``env`` with ``changes`` applied in place (a ``None`` value removes the name); returns ``env``."""
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


#: Texts of pytest's output that a plugin not loaded explains, with what it means.
_PLUGIN_SIGNS = (
    ("Missing required plugins:", "a plugin in required_plugins is not installed for this pytest"),
    ("unrecognized arguments:", "an option (in addopts?) that a plugin would add"),
    ("Unknown config option:", "an ini option that a plugin would add"),
    ("not found in `markers` configuration option", "a marker that a plugin would register"),
    ("Error importing plugin", "a plugin named in tests.plugins (or -p) cannot be imported"),
)


def plugin_hint(output: str, report: dict | None, autoload: bool = False) -> str:
    """What to do when ``output``/``report`` of a failed run show a pytest plugin that
    was not loaded (see the module doc), naming ``tests.plugins``; empty otherwise
    (also under ``autoload``, except a plugin that cannot be imported)."""
    problems = [p.get("problem", "") for p in (report or {}).get("plugin_problems") or [] if isinstance(p, dict)]
    seen = sorted(set(problems))
    seen += [f"{sign.rstrip(':')} ({meaning})" for sign, meaning in _PLUGIN_SIGNS
             if sign in output and (not autoload or sign == "Error importing plugin")]
    if not seen:
        return ""
    importing = any(sign == "Error importing plugin" and sign in output for sign, _ in _PLUGIN_SIGNS)
    how = ("check the names in tests.plugins in .pdd/config.yaml: pytest could not import one (a misspelt "
           "entry-point or module name, or a plugin not installed in the test command's environment)"
           if autoload or importing else
           "pdd runs pytest with plugin autoload off: name the plugin in tests.plugins in .pdd/config.yaml, "
           "e.g. `plugins: [anyio]` under `tests:` (an entry-point or module name; `python -m pytest "
           "--trace-config` lists them), or set tests.plugins: autoload")
    return f"[pdd] a pytest plugin seems missing ({'; '.join(seen)}): {how}"



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
    pass_env: tuple[str, ...] = (),
    plugins: tuple[str, ...] = (),
    autoload: bool = False,
    pytest_args: tuple[str, ...] = (),
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
    ``pytest_args`` are extra pytest options (e.g. ``--collect-only``); ``plugins``
    and ``autoload``: ``tests.plugins`` (:func:`pytest_invocation`). The plugin's
    report (see :mod:`pdd.pytest_plugin`) is in ``TestResult.report``.
    """
    from pdd.sandbox import launch, scratch_dir, select

    box = select(sandbox) if isinstance(sandbox, str) else sandbox
    overlay = scratch_dir("pdd-tests-")
    try:
        candidate = _write_overlay(overlay, root, output, code) if output is not None and code is not None else None
        argv, env_changes = pytest_invocation(root, test_files, command=command, plugins=plugins, autoload=autoload,
                                              pytest_args=pytest_args)
        start = time.monotonic()
        env = apply_env(_scrubbed_env(overlay, root, candidate), env_changes)
        env[REQ_REPORT_ENV] = str(overlay / _REQ_REPORT)
        if preload:
            (overlay / _PRELOAD).write_text(preload, encoding="utf-8")
            env[PRELOAD_VAR] = str(overlay / _PRELOAD)
        proc = launch(argv, root=root, writable=[overlay], sandbox=box, cwd=root, env=env, pass_env=pass_env,
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        if rc == 5:
            text += "\n[pdd] no tests were collected: a module must not pass vacuously\n"
        if rc is not None and (rc < 0 or rc >= 128):
            text += f"\n[pdd] the test process was killed (exit {rc}): the code under test killed it or crashed\n"
        report = _read_report(overlay)
        if rc == 0 and (report is None or report.get("exitstatus") != 0):
            text += ("\n[pdd] the test process exited 0 before pytest finished (the code under test ended it, "
                     "e.g. os._exit): no test passed\n")
        status = classify(rc, report)
        hint = plugin_hint(text, report, autoload) if status == "error" else ""  # never in a model's feedback
        if hint:
            text += f"\n{hint}\n"
        return TestResult(status, text, rc, seconds, box.name, report,
                          _read_tests_report(overlay / _REQ_REPORT), hint)
    finally:
        shutil.rmtree(overlay, ignore_errors=True)


def _read_tests_report(path: Path) -> list | None:
    """The plugin's per-test requirement entries from ``path``, or ``None`` if absent or unreadable."""
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
    """``out`` with the overlay's and the root's paths made repository-relative:
    absolute, and as pytest prints a file outside its rootdir (``../pdd-tests-…/``),
    so that no scratch name (different every run) reaches a model's feedback."""
    rel = os.path.relpath(overlay, root)
    out = out.replace(str(overlay) + os.sep, "").replace(rel + os.sep, "")
    return out.replace(str(overlay), ".").replace(str(root) + os.sep, "")
