"""pdd's pytest plugin, loaded through the ``pytest11`` entry point ``pdd`` wherever
pdd is installed (and named explicitly, ``-p pdd``, by pdd's own test runs, so it
loads even with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``).

In a plain ``pytest`` run it only registers pdd's markers. pdd's test run (:mod:`pdd.testrun`)
activates it through the environment:

``PDD_TEST_ROOTS``
    the folders that hold a ``generated/`` package, highest priority first,
    separated by ``os.pathsep``: the scratch overlay (with the candidate), then the
    repository root. Activates the import hook.
``PDD_TEST_CANDIDATE``
    dotted name of the candidate module (``generated.mylib.greet``), optional.
``PDD_TEST_REPORT``
    a JSON file the plugin writes (see :func:`write_report`), optional.
``PDD_TEST_PRELOAD``
    a Python file run right after the import hook is installed, before any
    ``conftest.py`` (``pdd adopt`` binds the original module's name to its shim
    there), optional.
``PDD_TEST_REQUIRED_PLUGINS``
    ``1``: pdd runs pytest with plugin autoload off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``);
    the plugin then loads the ``pytest11`` entry points of every distribution the
    project's pytest configuration names in ``required_plugins`` (read by pytest's own
    configuration discovery, through :func:`pytest_addoption`, before pytest checks
    them), so a declared plugin works without a ``tests.plugins`` entry.

Import hook: at plugin import, before pytest reads ``pythonpath``, ``rootdir`` or
``--import-mode`` and before any ``conftest.py`` is imported, a
:class:`GeneratedFinder` is put first on :data:`sys.meta_path`. It answers every
import of ``generated`` and ``generated.*``: each name is looked up in the roots in
order (a package as ``<root>/generated/.../__init__.py``, a module as ``.py``), and
a package's ``__path__`` lists the matching folder of every root, so the candidate
in the overlay shadows its old version while every other module resolves to the
working tree — whatever ``sys.path`` says. Finders follow PEP 451
(:class:`importlib.abc.MetaPathFinder`).

Report (JSON object): ``collect_errors`` (list of ``{"nodeid", "text",
"candidate"}``; ``candidate`` is true when the error involves the candidate: it
raised while being imported, or the error names its module or file),
``collected`` (int, null before collection ends), ``tests_started`` (int), ``candidate_error`` (text of an exception the candidate
raised while being imported, or null), ``exitstatus`` (int, or null until the
session ends), ``environment`` (at session end: ``rootdir``, ``inifile``,
``import_mode``, ``python``, ``sys_path``, ``hook`` (first on ``sys.meta_path``),
``roots``, ``generated`` and ``candidate_file``: the files those names resolve to),
``plugin_problems`` (list of ``{"nodeid", "problem"}``: a test that errored because
a pytest plugin was not loaded — ``fixture 'x' not found``, or an ``async def`` test
that no plugin ran — never the candidate's fault), ``plugins`` (at session end:
``"<distribution> <version>"`` of each plugin loaded from an installed distribution).

Requirements (:mod:`pdd.requirements`): registers the ``req`` marker
(``@pytest.mark.req("R3", ...)``). When the environment variable
:data:`REQ_REPORT_ENV` names a file, the plugin writes there, at the end of the
session, a JSON object ``{"version": 1, "tests": [{"nodeid", "path", "line",
"reqs", "outcome"}]}``: one entry per collected test, ``reqs`` the ids cited by
``req`` markers (function, class, module) and ``Requirement:`` docstring lines,
``outcome`` ``passed`` | ``failed`` | ``skipped`` | ``not-run`` (setup, call and
teardown combined: any failure fails), ``path`` the file relative to the rootdir
(POSIX) and ``line`` 1-based. pdd's test runner maps these results to requirements.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import traceback
from typing import Any

#: Environment variable naming the file the requirement report is written to.
REQ_REPORT_ENV = "PDD_REQ_REPORT"
_REQ_RESULTS = "_pdd_req_results"
ROOTS_VAR = "PDD_TEST_ROOTS"
PRELOAD_VAR = "PDD_TEST_PRELOAD"
REQUIRED_PLUGINS_VAR = "PDD_TEST_REQUIRED_PLUGINS"
CANDIDATE_VAR = "PDD_TEST_CANDIDATE"
REPORT_VAR = "PDD_TEST_REPORT"
PACKAGE = "generated"

_state: dict[str, Any] = {"collect_errors": [], "collected": None, "tests_started": 0, "candidate_error": None,
                          "exitstatus": None, "plugin_problems": []}


def write_report() -> None:
    """Write the report to ``$PDD_TEST_REPORT`` (if set); errors writing it are ignored
    (pdd then treats the run as one that could not start)."""
    path = os.environ.get(REPORT_VAR)
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(_state, fh)
    except OSError:
        pass


class _CandidateLoader(importlib.machinery.SourceFileLoader):
    """Loads the candidate and records an exception it raises while being imported."""

    def exec_module(self, module: Any) -> None:
        try:
            super().exec_module(module)
        except BaseException:
            _state["candidate_error"] = traceback.format_exc(limit=-8)
            write_report()
            raise


class GeneratedFinder(importlib.abc.MetaPathFinder):
    """Resolves ``generated`` and ``generated.*`` in ``roots`` (absolute folder paths,
    first wins); ``candidate`` (a dotted name) is loaded with a loader that records
    its import errors. Other names: ``None`` (the next finder decides)."""

    def __init__(self, roots: list[str], candidate: str | None = None, package: str = PACKAGE) -> None:
        self.roots = roots
        self.candidate = candidate
        self.package = package

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.package and not fullname.startswith(self.package + "."):
            return None
        parts = fullname.split(".")
        folders = [os.path.join(root, *parts) for root in self.roots]
        packages = [f for f in folders if os.path.isdir(f)]
        for folder in folders:
            init = os.path.join(folder, "__init__.py")
            if os.path.isfile(init):
                return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=packages)
            source = folder + ".py"
            if os.path.isfile(source):
                loader = _CandidateLoader(fullname, source) if fullname == self.candidate else None
                return importlib.util.spec_from_file_location(fullname, source, loader=loader)
        if packages:  # a namespace package (no __init__.py anywhere)
            spec = importlib.machinery.ModuleSpec(fullname, None, is_package=True)
            spec.submodule_search_locations = packages
            return spec
        return None


def install(roots: list[str], candidate: str | None = None) -> GeneratedFinder:
    """Put a :class:`GeneratedFinder` first on :data:`sys.meta_path` and forget any
    ``generated`` module imported before it; return the finder."""
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    finder = GeneratedFinder(roots, candidate)
    sys.meta_path.insert(0, finder)
    return finder


def active_finder() -> GeneratedFinder | None:
    """The installed :class:`GeneratedFinder`, if pdd's test run activated one."""
    return next((f for f in sys.meta_path if isinstance(f, GeneratedFinder)), None)


if os.environ.get(ROOTS_VAR) and active_finder() is None:
    install([r for r in os.environ[ROOTS_VAR].split(os.pathsep) if r], os.environ.get(CANDIDATE_VAR) or None)
    if os.environ.get(PRELOAD_VAR):  # e.g. pdd adopt: the original module's name bound to its shim
        with open(os.environ[PRELOAD_VAR], encoding="utf-8") as _fh:
            exec(compile(_fh.read(), os.environ[PRELOAD_VAR], "exec"), {"importlib": importlib, "__name__": "pdd_preload"})


def _involves_candidate(text: str) -> bool:
    finder = active_finder()
    candidate = finder.candidate if finder is not None else None
    if not candidate:
        return False
    if _state["candidate_error"] is not None:
        return True
    source = os.path.join(finder.roots[0], *candidate.split(".")) + ".py"
    return f"'{candidate}'" in text or source in text


def pytest_collectreport(report: Any) -> None:
    """Record a collection error (and whether it involves the candidate)."""
    if report.failed and os.environ.get(REPORT_VAR):
        text = str(report.longrepr)
        _state["collect_errors"].append({"nodeid": report.nodeid, "text": text, "candidate": _involves_candidate(text)})


#: Texts of a test error that a plugin not loaded explains: pytest's fixture lookup
#: error (``_pytest.fixtures.FixtureLookupError``) and its refusal of a coroutine test
#: (``_pytest.python.async_fail``, pytest >= 8.4; before, a skip with the same words).
_ASYNC_UNSUPPORTED = "async def functions are not natively supported"


def plugin_problem(text: str) -> str | None:
    """``fixture 'x' not found`` or ``async def functions are not natively supported``
    when ``text`` (a test report's long representation) shows one, else None."""
    import re

    m = re.search(r"fixture '([^']+)' not found", text)
    if m:
        return m.group(0)
    return _ASYNC_UNSUPPORTED if _ASYNC_UNSUPPORTED in text else None


def pytest_runtest_logreport(report: Any) -> None:
    """Record a test that errored (or was skipped) because a plugin was not loaded."""
    if not os.environ.get(REPORT_VAR) or not (report.failed or report.skipped) or report.longrepr is None:
        return
    problem = plugin_problem(str(report.longrepr))
    if problem and not any(p["nodeid"] == report.nodeid for p in _state["plugin_problems"]):
        _state["plugin_problems"].append({"nodeid": report.nodeid, "problem": problem})


def pytest_addoption(parser: Any, pluginmanager: Any) -> None:
    """With :data:`REQUIRED_PLUGINS_VAR` set: load the ``pytest11`` entry points of the
    distributions in the project's ``required_plugins`` (pytest has read its ini file
    by now and checks them next; with autoload off they would be missing)."""
    if os.environ.get(REQUIRED_PLUGINS_VAR) != "1":
        return
    config = pluginmanager.get_plugin("pytestconfig")
    try:
        required = config.getini("required_plugins") if config is not None else []
    except (ValueError, KeyError):  # a pytest without the option
        return
    import re
    from importlib import metadata

    for requirement in required:
        name = re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0]
        try:
            points = metadata.distribution(name).entry_points
        except (metadata.PackageNotFoundError, ValueError):
            continue  # pytest reports it as missing, and pdd says what to do
        for point in points:
            if point.group == "pytest11":
                pluginmanager.import_plugin(point.name, consider_entry_points=True)


def pytest_collection_finish(session: Any) -> None:
    """Record how many tests were collected."""
    _state["collected"] = len(session.items)


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    """Count the tests that started."""
    _state["tests_started"] += 1


def _environment(config: Any) -> dict[str, Any]:
    """What this run looked like (for ``pdd doctor``): rootdir, inifile, import mode,
    interpreter, ``sys.path`` in order, and the file ``generated`` and the candidate
    resolve to."""
    finder = active_finder()

    def origin(name: str | None) -> str | None:
        if not name:
            return None
        try:
            spec = importlib.util.find_spec(name)
        except Exception as exc:  # what a broken package raises while being found
            return f"error: {type(exc).__name__}: {exc}"
        return None if spec is None else (spec.origin or ", ".join(spec.submodule_search_locations or []))

    return {
        "rootdir": str(config.rootpath),
        "inifile": str(config.inipath) if config.inipath else None,
        "import_mode": str(config.getoption("importmode", None)),
        "python": sys.executable,
        "sys_path": list(sys.path),
        "hook": finder is not None and sys.meta_path.index(finder) == 0,
        "roots": finder.roots if finder is not None else [],
        "generated": origin(PACKAGE),
        "candidate": finder.candidate if finder is not None else None,
        "candidate_file": origin(finder.candidate if finder is not None else None),
    }


def pytest_sessionfinish(session: Any, exitstatus: Any) -> None:
    """Write the report."""
    _state["exitstatus"] = int(exitstatus)
    if os.environ.get(REPORT_VAR):
        _state["environment"] = _environment(session.config)
        _state["plugins"] = sorted({f"{d.project_name} {d.version}" for _, d in
                                    session.config.pluginmanager.list_plugin_distinfo()})
    write_report()


def pytest_configure(config) -> None:
    """Register the ``req`` marker; start a requirement report if asked for."""
    config.addinivalue_line("markers", "req(*ids): the prompt requirement ids this test proves (pdd trace)")
    if os.environ.get(REQ_REPORT_ENV):
        config.pluginmanager.register(_RequirementReport(os.environ[REQ_REPORT_ENV]), _REQ_RESULTS)


class _RequirementReport:
    """Collects each test's cited ids and outcome; writes :data:`REQ_REPORT_ENV`'s file."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.tests: dict[str, dict] = {}

    def pytest_collection_modifyitems(self, session, config, items) -> None:
        from pdd.requirements import docstring_ids

        for item in items:
            reqs: list[str] = []
            for mark in item.iter_markers("req"):
                reqs += [a for a in mark.args if isinstance(a, str) and a not in reqs]
            obj = getattr(item, "obj", None)
            reqs += [i for i in docstring_ids(getattr(obj, "__doc__", None)) if i not in reqs]
            path, line, _ = item.location
            self.tests[item.nodeid] = {"nodeid": item.nodeid, "path": path.replace(os.sep, "/"),
                                       "line": (line or 0) + 1, "reqs": reqs, "outcome": "not-run"}

    def pytest_runtest_logreport(self, report) -> None:
        entry = self.tests.get(report.nodeid)
        if entry is None:
            return
        if report.failed:
            entry["outcome"] = "failed"
        elif report.skipped and entry["outcome"] != "failed":
            entry["outcome"] = "skipped"
        elif report.when == "call" and report.passed and entry["outcome"] == "not-run":
            entry["outcome"] = "passed"

    def pytest_sessionfinish(self, session) -> None:
        tmp = self.target + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"version": 1, "tests": list(self.tests.values())}, fh)
        os.replace(tmp, self.target)
