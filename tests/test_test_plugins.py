"""pytest plugins in pdd's behavior-test runs (``tests.plugins``, issue 12).

pdd runs pytest with plugin autoload off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``, set
by pdd itself) and loads pdd's plugin, the project's ``required_plugins`` and the
names in ``tests.plugins``. A project whose tests need a plugin that was not loaded
gets "the test run could not start" naming ``tests.plugins`` (exit 2, no attempt
spent, nothing fed back to the model); configured, it builds.

End to end with a real third-party plugin in this virtualenv: anyio's
(``@pytest.mark.anyio`` async tests; the ``anyio_backend`` fixture) and pytest-xdist's
(the ``worker_id`` fixture). In-process: the setting's validation, the argv/env of a
run, and how a report is classified.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import commit_all, init_git_repo, write_file, write_prompt

GREET_PY = "generated/mylib/greet.py"
GREET = '''\
"""Greetings."""


def greet(name: str) -> str:
    """``Hello, NAME!``."""
    return f"Hello, {name}!"
'''

ASYNC_TEST = '''\
import pytest

from generated.mylib.greet import greet


@pytest.mark.anyio
async def test_greets_in_a_coroutine():
    assert greet("Ada") == "Hello, Ada!"
'''

FIXTURE_TEST = '''\
from generated.mylib.greet import greet


def test_greets_the_worker(worker_id):
    assert greet(worker_id) == f"Hello, {worker_id}!"
'''


def _project(tmp_path: Path, run_pdd, test: str, pyproject: str | None = None, plugins: str | None = None) -> Path:
    repo = init_git_repo(tmp_path / "repo")
    if pyproject is not None:
        write_file(repo, "pyproject.toml", pyproject)
    assert run_pdd(repo, "init").returncode == 0
    if plugins is not None:
        _set_plugins(repo, plugins)
    write_prompt(repo, "mylib/greet")
    write_file(repo, "behavior_tests/test_greet.py", test)
    commit_all(repo, "project")
    return repo


def _set_plugins(repo: Path, value: str) -> None:
    cfg = repo / ".pdd" / "config.yaml"
    text = cfg.read_text()
    assert "  plugins: []" in text
    cfg.write_text(text.replace("  plugins: []", f"  plugins: {value}", 1))


def _build(run_pdd, repo: Path, env: dict | None = None):
    # The caller's PYTEST_DISABLE_PLUGIN_AUTOLOAD is not what decides: pdd sets it.
    return run_pdd(repo, "build", "--json", "--attempts", "3",
                   env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": None, **(env or {})})


def _assert_could_not_start_naming_the_setting(proc, answers, repo: Path, needle: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the test run could not start" in proc.stderr and needle in proc.stderr, proc.stderr
    assert "tests.plugins" in proc.stderr and "plugins: [anyio]" in proc.stderr, proc.stderr
    assert "Traceback (most recent call last)" not in proc.stderr
    assert answers.calls["mylib/greet"] == 1  # one answer, tested once: no retry fed with the error
    assert not (repo / GREET_PY).exists()


def _assert_built_at_attempt_1(proc, answers, repo: Path) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    module = json.loads(proc.stdout)["modules"]["mylib/greet"]
    assert (module["status"], module["attempts"], module["tests"]) == ("built", 1, "passed")
    assert (repo / GREET_PY).read_text() == GREET


def test_an_async_test_needs_anyios_plugin_named_in_tests_plugins(tmp_path, run_pdd, answers):
    repo = _project(tmp_path, run_pdd, ASYNC_TEST)
    answers["mylib/greet"] = GREET
    proc = _build(run_pdd, repo)
    _assert_could_not_start_naming_the_setting(proc, answers, repo, "async def functions are not natively supported")
    _set_plugins(repo, "[anyio]")
    commit_all(repo, "configured")
    _assert_built_at_attempt_1(_build(run_pdd, repo), answers, repo)
    assert answers.calls["mylib/greet"] == 1  # the cached answer, now tested with the plugin


def test_a_plugins_fixture_not_found_names_the_setting_then_builds_when_configured(tmp_path, run_pdd, answers):
    repo = _project(tmp_path, run_pdd, FIXTURE_TEST)
    answers["mylib/greet"] = GREET
    proc = _build(run_pdd, repo)
    _assert_could_not_start_naming_the_setting(proc, answers, repo, "fixture 'worker_id' not found")
    _set_plugins(repo, "[xdist.plugin]")  # a module name works as well as an entry-point name
    commit_all(repo, "configured")
    _assert_built_at_attempt_1(_build(run_pdd, repo), answers, repo)


def test_required_plugins_of_the_projects_pytest_configuration_are_loaded(tmp_path, run_pdd, answers):
    pyproject = '[project]\nname = "demo"\nversion = "0"\n\n[tool.pytest.ini_options]\nrequired_plugins = ["anyio>=3"]\n'
    repo = _project(tmp_path, run_pdd, ASYNC_TEST, pyproject=pyproject)
    answers["mylib/greet"] = GREET
    _assert_built_at_attempt_1(_build(run_pdd, repo), answers, repo)


def test_autoload_restores_pytests_own_plugin_loading_whatever_the_caller_sets(tmp_path, run_pdd, answers):
    repo = _project(tmp_path, run_pdd, ASYNC_TEST, plugins="autoload")
    answers["mylib/greet"] = GREET
    _assert_built_at_attempt_1(_build(run_pdd, repo, {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}), answers, repo)


def test_a_plugin_that_cannot_be_imported_is_named(tmp_path, run_pdd, answers):
    repo = _project(tmp_path, run_pdd, ASYNC_TEST, plugins="[no_such_pytest_plugin_anywhere]")
    answers["mylib/greet"] = GREET
    proc = _build(run_pdd, repo)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the test run could not start" in proc.stderr and "no_such_pytest_plugin_anywhere" in proc.stderr
    assert "tests.plugins" in proc.stderr, proc.stderr
    assert not (repo / GREET_PY).exists()


def test_doctor_shows_the_plugins_and_that_autoload_is_off(tmp_path, run_pdd, answers):
    repo = _project(tmp_path, run_pdd, ASYNC_TEST, plugins="[anyio]")
    proc = run_pdd(repo, "doctor", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["plugin_autoload"] is False
    assert data["command"][-7:-1] == ["-p", "pdd", "-p", "anyio", "--rootdir", str(repo)]
    names = {p.split()[0] for p in data["plugins"]}
    assert {"pdd-git", "anyio"} <= names and "hypothesis" not in names
    assert "plugins:     autoload off (tests.plugins)" in run_pdd(repo, "doctor").stdout


def test_lint_collects_with_the_configured_plugins(tmp_path, run_pdd):
    """lint's collection runs like pdd's test runs: `--strict-markers` and anyio's
    marker collect only with anyio's plugin loaded."""
    pyproject = '[project]\nname = "demo"\nversion = "0"\n\n[tool.pytest.ini_options]\naddopts = "--strict-markers"\n'
    repo = _project(tmp_path, run_pdd, ASYNC_TEST, pyproject=pyproject)

    def collection_problems() -> list[dict]:
        lint = run_pdd(repo, "lint", "--format", "json", env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": None})
        assert lint.returncode in (0, 1), lint.stdout + lint.stderr
        return [f for f in json.loads(lint.stdout)["findings"] if "anyio" in f["message"]]

    assert any("not found in `markers`" in f["message"] for f in collection_problems())
    _set_plugins(repo, "[anyio]")
    assert collection_problems() == []


# --- in-process ---------------------------------------------------------------------------

def _config(text: str):
    from pdd.config import parse_config

    return parse_config(text, environ={})


def test_the_setting_parses_a_list_or_autoload():
    assert (_config("tests:\n  plugins: [anyio, pytest_asyncio.plugin]\n").test_plugins
            == ("anyio", "pytest_asyncio.plugin"))
    default = _config("tests:\n  timeout: 10\n")
    assert (default.test_plugins, default.test_plugin_autoload) == ((), False)
    auto = _config("tests:\n  plugins: autoload\n")
    assert (auto.test_plugins, auto.test_plugin_autoload) == ((), True)


@pytest.mark.parametrize("value", ["3", "everything", "[anyio, 3]", "['no:anyio']", "['-p anyio']", "['']"])
def test_a_bad_setting_is_a_config_error_at_its_line(value):
    from pdd.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        _config(f"backend: replay\ntests:\n  timeout: 10\n  plugins: {value}\n")
    assert info.value.message.startswith(".pdd/config.yaml:4: ")
    assert "tests.plugins" in info.value.message and "autoload" in (info.value.hint or "")


def test_the_invocation_loads_each_plugin_and_turns_autoload_off(tmp_path):
    import sys

    from pdd.testrun import AUTOLOAD_VAR, apply_env, pytest_invocation

    argv, env = pytest_invocation(tmp_path, ["behavior_tests/test_a.py"], plugins=("anyio", "xdist.plugin"),
                                  pytest_args=("--collect-only",))
    assert argv == [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pdd", "-p", "anyio",
                    "-p", "xdist.plugin", "--collect-only", "--rootdir", str(tmp_path),
                    str(tmp_path / "behavior_tests/test_a.py")]
    assert apply_env({"PATH": "/bin"}, env)[AUTOLOAD_VAR] == "1"
    _, env = pytest_invocation(tmp_path, [], command=("pytest",), autoload=True)
    assert AUTOLOAD_VAR not in apply_env({AUTOLOAD_VAR: "1", "PATH": "/bin"}, env)


def test_a_plugin_problem_in_the_report_is_an_error_not_a_failure():
    from pdd.testrun import classify, plugin_hint

    report = {"exitstatus": 1, "collect_errors": [],
              "plugin_problems": [{"nodeid": "t.py::test_a", "problem": "fixture 'anyio_backend' not found"}]}
    assert classify(1, report) == "error"
    assert classify(1, {**report, "plugin_problems": []}) == "failed"
    hint = plugin_hint("", report)
    assert "fixture 'anyio_backend' not found" in hint and "tests.plugins" in hint
    assert plugin_hint("ERROR: usage: ...\npytest: error: unrecognized arguments: --hypothesis-seed=1\n", None)
    assert plugin_hint("E   AssertionError: assert 1 == 2\n", {"plugin_problems": []}) == ""
    assert plugin_hint("unrecognized arguments: --x", None, autoload=True) == ""


@pytest.mark.parametrize("text, problem", [
    ("E       fixture 'worker_id' not found\n>       available fixtures: cache", "fixture 'worker_id' not found"),
    ("Failed: async def functions are not natively supported.\nYou need to install a suitable plugin",
     "async def functions are not natively supported"),
    ("E   AssertionError: fixture missing", None),
])
def test_the_plugin_recognises_what_a_missing_plugin_looks_like(text, problem):
    from pdd.pytest_plugin import plugin_problem

    assert plugin_problem(text) == problem


def test_the_could_not_start_message_names_the_plugin_hint_once():
    from pdd.testrun import TestResult, plugin_hint

    output = "ERROR: Error importing plugin \"anyoi\": No module named 'anyoi'\n"
    hint = plugin_hint(output, None)
    assert "could not import" in hint and "misspelt" in hint, hint
    assert "name the plugin in tests.plugins" not in hint  # it is named there already
    result = TestResult("error", output + f"\n{hint}\n", 4, 0.1, hint=hint)
    message = result.start_problem()
    assert message.count(hint) == 1, message
    assert "Error importing plugin" in message
