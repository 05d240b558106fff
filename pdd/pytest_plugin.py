"""pdd's pytest plugin, loaded wherever pdd is installed (entry point ``pytest11``:
``pdd = "pdd.pytest_plugin"``), so ``--strict-markers`` accepts pdd's markers with
no ``-p`` flag.

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

import json
import os

#: Environment variable naming the file the requirement report is written to.
REQ_REPORT_ENV = "PDD_REQ_REPORT"
_REQ_RESULTS = "_pdd_req_results"


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
