"""pdd inside existing Python projects (issue 20), end to end through the real CLI.

Each case is a real project layout in a temporary git repository: the project's
own pytest configuration (``pyproject.toml``, ``pytest.ini``, ``setup.cfg``,
``tox.ini``), its conftest fixtures and its own packages. ``pdd build`` of the
nested module ``mylib/greet`` (``generated/mylib/greet.py``), whose behavior test
uses a fixture, must pass at attempt 1 with the scripted answer — the candidate is
what ``generated.mylib.greet`` imports in the test process whatever the
configuration says. A broken ``conftest.py`` must give exit 2, "the test run could
not start", with no attempt spent and nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import commit_all, git, note_records, write_file, write_prompt

GREET_PY = "generated/mylib/greet.py"

GREET = '''\
"""Greetings."""


def greet(name: str) -> str:
    """``Hello, NAME!``."""
    return f"Hello, {name}!"
'''

# The behavior test: imports the candidate and takes a fixture from a conftest.py.
GREET_TEST = '''\
from generated.mylib.greet import greet


def test_greets_the_fixture_name(who):
    assert greet(who) == "Hello, Ada!"
'''

FIXTURE = '''\
import pytest


@pytest.fixture
def who():
    return "Ada"
'''

# src/ layout: the project's package, imported by the generated module.
SHOP_CORE = '''\
"""The project's own code."""


def shout(text: str) -> str:
    """``text`` in capitals with an exclamation mark."""
    return text.upper() + "!"
'''

GREET_USING_SHOP = '''\
"""Greetings, loudly."""
from shop.core import shout


def greet(name: str) -> str:
    """``HELLO, NAME!``."""
    return shout(f"Hello, {name}")
'''

GREET_USING_SHOP_TEST = '''\
from generated.mylib.greet import greet
from shop.core import shout


def test_greets_loudly(who):
    assert greet(who) == shout("Hello, Ada") == "HELLO, ADA!"
'''


def _pyproject(pytest_options: str) -> str:
    return f'[project]\nname = "demo"\nversion = "0"\n\n[tool.pytest.ini_options]\n{pytest_options}\n'


def _flat(repo: Path) -> None:
    """The common case: the fixture in behavior_tests/conftest.py."""
    write_file(repo, "behavior_tests/conftest.py", FIXTURE)


def layout_pythonpath_dot(repo: Path) -> None:
    write_file(repo, "pyproject.toml", _pyproject('pythonpath = ["."]'))
    _flat(repo)


def layout_import_mode_importlib(repo: Path) -> None:
    write_file(repo, "pyproject.toml", _pyproject('addopts = "--import-mode=importlib"\npythonpath = ["."]'))
    _flat(repo)


def layout_pytest_ini_testpaths(repo: Path) -> None:
    write_file(repo, "pytest.ini", "[pytest]\ntestpaths = tests\npythonpath = .\naddopts = -p no:cacheprovider\n")
    write_file(repo, "tests/test_existing.py", "def test_existing():\n    assert True\n")
    _flat(repo)


def layout_setup_cfg(repo: Path) -> None:
    write_file(repo, "setup.cfg", "[metadata]\nname = demo\n\n[tool:pytest]\npythonpath = .\naddopts = -ra\n")
    _flat(repo)


def layout_tox_ini(repo: Path) -> None:
    write_file(repo, "tox.ini", "[tox]\nenvlist = py3\n\n[pytest]\npythonpath = .\naddopts = -p no:cacheprovider -x\n")
    _flat(repo)


def layout_root_conftest(repo: Path) -> None:
    """The fixture comes from the repository root's conftest.py."""
    write_file(repo, "conftest.py", FIXTURE)
    write_file(repo, "pyproject.toml", _pyproject('pythonpath = ["."]'))


def layout_strict_markers_x(repo: Path) -> None:
    write_file(repo, "pyproject.toml", _pyproject('addopts = "--strict-markers -x"\nmarkers = ["slow: slow tests"]'))
    _flat(repo)


def layout_existing_tests_folder(repo: Path) -> None:
    """tests/ with a conftest.py that needs the project's environment: not pdd's business."""
    write_file(repo, "pyproject.toml", _pyproject('testpaths = ["tests"]\npythonpath = ["."]'))
    write_file(repo, "tests/conftest.py", "import some_package_only_in_the_projects_venv  # noqa: F401\n")
    write_file(repo, "tests/test_app.py", "def test_app():\n    assert True\n")
    _flat(repo)


def layout_src(repo: Path) -> None:
    """src/ layout on pythonpath; the generated module imports the project's package."""
    write_file(repo, "pyproject.toml", _pyproject('pythonpath = ["src"]'))
    write_file(repo, "src/shop/__init__.py", "")
    write_file(repo, "src/shop/core.py", SHOP_CORE)
    _flat(repo)


def layout_src_namespace(repo: Path) -> None:
    """src/ layout with a namespace package (no __init__.py), importlib import mode."""
    write_file(repo, "pyproject.toml", _pyproject('pythonpath = ["src"]\naddopts = "--import-mode=importlib"'))
    write_file(repo, "src/shop/core.py", SHOP_CORE)
    _flat(repo)


LAYOUTS = {
    "pythonpath-dot": (layout_pythonpath_dot, GREET, GREET_TEST, None),
    "import-mode-importlib": (layout_import_mode_importlib, GREET, GREET_TEST, None),
    "pytest-ini-testpaths": (layout_pytest_ini_testpaths, GREET, GREET_TEST, None),
    "setup-cfg": (layout_setup_cfg, GREET, GREET_TEST, None),
    "tox-ini": (layout_tox_ini, GREET, GREET_TEST, None),
    "root-conftest": (layout_root_conftest, GREET, GREET_TEST, None),
    "strict-markers-x": (layout_strict_markers_x, GREET, GREET_TEST, None),
    "existing-tests-folder": (layout_existing_tests_folder, GREET, GREET_TEST, None),
    "src-layout": (layout_src, GREET_USING_SHOP, GREET_USING_SHOP_TEST, "src/shop/core.py"),
    "src-namespace-package": (layout_src_namespace, GREET_USING_SHOP, GREET_USING_SHOP_TEST, "src/shop/core.py"),
}


def make_project(repo: Path, run_pdd, layout: str) -> None:
    """Lay out the project, add the greet prompt and test, pdd init, commit."""
    setup, _code, test, uses = LAYOUTS[layout]
    setup(repo)
    proc = run_pdd(repo, "init")
    assert proc.returncode == 0, proc.stderr
    write_prompt(repo, "mylib/greet", front=f"uses: [{uses}]" if uses else None)
    write_file(repo, "behavior_tests/test_greet.py", test)
    commit_all(repo, "project")


@pytest.fixture
def repo(tmp_path):
    from conftest import init_git_repo

    return init_git_repo(tmp_path / "repo")


def runs(repo: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((repo / ".pdd" / "runs").glob("*.json"))]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_build_passes_at_attempt_1_in_the_projects_own_configuration(repo, answers, run_pdd, fake_server, layout):
    make_project(repo, run_pdd, layout)
    answers["mylib/greet"] = LAYOUTS[layout][1]
    proc = run_pdd(repo, "build", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    module = json.loads(proc.stdout)["modules"]["mylib/greet"]
    assert (module["status"], module["attempts"], module["tests"]) == ("built", 1, "passed")
    assert answers.calls["mylib/greet"] == 1
    (record,) = note_records(repo, git(repo, "hash-object", GREET_PY))
    assert record["attempts"] == 1 and record["tests"] == "passed"
    assert (repo / GREET_PY).read_text() == LAYOUTS[layout][1]


def test_the_reported_failure_is_real_without_pdds_import_hook(repo, run_pdd, tmp_path):
    """The attack: the project's `pythonpath = ["."]` puts the working tree's
    generated/ (without the candidate) ahead of an overlay on PYTHONPATH — the
    issue's "No module named 'generated.mylib'". pdd's hook is what makes it pass."""
    import os
    import subprocess
    import sys

    make_project(repo, run_pdd, "pythonpath-dot")
    overlay = tmp_path / "overlay"
    write_file(overlay, GREET_PY, GREET)
    write_file(overlay, "generated/mylib/__init__.py", "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDD_")}
    plain = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:pdd",
                            "behavior_tests/test_greet.py"], cwd=repo, capture_output=True, text=True,
                           env={**env, "PYTHONPATH": str(overlay)})
    assert plain.returncode == 2 and "No module named 'generated.mylib'" in plain.stdout, plain.stdout
    hooked = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pdd",
                             "behavior_tests/test_greet.py"], cwd=repo, capture_output=True, text=True,
                            env={**env, "PDD_TEST_ROOTS": os.pathsep.join([str(overlay), str(repo)])})
    assert hooked.returncode == 0, hooked.stdout


BROKEN = {
    "behavior-tests-conftest": ("behavior_tests/conftest.py", FIXTURE + "\nraise RuntimeError('conftest is broken')\n",
                                "conftest is broken"),
    "root-conftest-syntax": ("conftest.py", "def broken(:\n", "SyntaxError"),
    "missing-project-import": ("behavior_tests/test_other.py", "import shop_helpers_that_do_not_exist\n",
                               "shop_helpers_that_do_not_exist"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_test_setup_could_not_start_exit_2_no_attempt(repo, answers, run_pdd, fake_server, case):
    make_project(repo, run_pdd, "pythonpath-dot")
    rel, text, needle = BROKEN[case]
    write_file(repo, rel, text)
    prompt = "mylib/greet"
    if case == "missing-project-import":  # the module's tests include a file with a bad project import
        write_prompt(repo, prompt, tests=["behavior_tests/test_greet.py", "behavior_tests/test_other.py"])
    commit_all(repo, "broken")
    answers[prompt] = GREET
    proc = run_pdd(repo, "build", "--attempts", "3")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the test run could not start" in proc.stderr and needle in proc.stderr, proc.stderr
    assert "Traceback (most recent call last)" not in proc.stderr.split("could not start")[0]
    assert answers.calls[prompt] == 1  # one answer, tested once: no retry fed with the error
    assert not (repo / GREET_PY).exists()
    (record,) = runs(repo)
    assert record["exit_code"] == 2
    assert record["modules"][prompt]["attempts"] == 0


def test_an_import_error_in_the_candidate_is_a_failed_attempt_fed_back(repo, answers, run_pdd, fake_server):
    """The model's fault (the candidate imports what does not exist) is an attempt
    and its error goes back to the model, unlike a broken set-up."""
    from conftest import requests_for, request_text

    make_project(repo, run_pdd, "pythonpath-dot")
    answers["mylib/greet"] = ["import no_such_module_anywhere\n" + GREET, GREET]
    proc = run_pdd(repo, "build", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    module = json.loads(proc.stdout)["modules"]["mylib/greet"]
    assert (module["status"], module["attempts"]) == ("built", 2)
    retry = request_text(requests_for(fake_server, "mylib/greet")[1])
    assert "no_such_module_anywhere" in retry


def test_a_missing_name_in_the_candidate_is_a_failed_attempt(repo, answers, run_pdd, fake_server):
    make_project(repo, run_pdd, "pythonpath-dot")
    answers["mylib/greet"] = [GREET.replace("def greet", "def hello"), GREET]
    proc = run_pdd(repo, "build", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["modules"]["mylib/greet"]["attempts"] == 2


def status_of(run_pdd, repo: Path) -> dict:
    proc = run_pdd(repo, "status", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return {m["module"]: m for m in json.loads(proc.stdout)["modules"] if m.get("module")}


def test_uses_gives_the_project_files_interface_to_the_model_and_enters_the_fingerprint(
        repo, answers, run_pdd, fake_server):
    from conftest import request_text, requests_for

    make_project(repo, run_pdd, "src-layout")
    answers["mylib/greet"] = GREET_USING_SHOP
    assert run_pdd(repo, "build").returncode == 0
    text = request_text(requests_for(fake_server, "mylib/greet")[0])
    assert "### shop.core" in text and "def shout(text: str) -> str:" in text
    assert "text.upper()" not in text  # the interface, not the body
    (record,) = note_records(repo, git(repo, "hash-object", GREET_PY))
    assert set(record["inputs"]["uses"]) == {"src/shop/core.py"}
    commit_all(repo, "built")
    assert run_pdd(repo, "check").returncode == 0
    # A body change of the used file: still fresh (early cutoff), for status and check.
    write_file(repo, "src/shop/core.py", SHOP_CORE.replace('+ "!"', '+ "!" * 1'))
    commit_all(repo, "body")
    assert status_of(run_pdd, repo)["mylib/greet"]["state"] == "fresh"
    assert run_pdd(repo, "check").returncode == 0
    # An interface change: stale, and check fails until rebuilt.
    write_file(repo, "src/shop/core.py", SHOP_CORE.replace("(text: str)", "(text: str, mark: str = '!')"))
    commit_all(repo, "interface")
    assert status_of(run_pdd, repo)["mylib/greet"]["state"] == "stale"
    check = run_pdd(repo, "check")
    assert check.returncode == 1 and "used project file" in check.stdout + check.stderr, check.stdout + check.stderr
    assert run_pdd(repo, "build").returncode == 0
    assert answers.calls["mylib/greet"] == 2


def test_a_missing_uses_file_is_a_lint_error_and_a_build_input_error(repo, answers, run_pdd, fake_server):
    make_project(repo, run_pdd, "pythonpath-dot")
    write_prompt(repo, "mylib/greet", front="uses: [src/shop/nowhere.py]")
    lint = run_pdd(repo, "lint", "--format", "json")
    assert lint.returncode == 1, lint.stdout + lint.stderr
    found = [f for f in json.loads(lint.stdout)["findings"] if f["rule"] == "uses-missing"]
    assert found and found[0]["file"] == "prompts/mylib/greet.prompt" and found[0]["line"] == 2
    assert "src/shop/nowhere.py does not exist" in found[0]["message"]
    answers["mylib/greet"] = GREET
    build = run_pdd(repo, "build")
    assert build.returncode == 2 and "prompts/mylib/greet.prompt:2" in build.stderr and "nowhere.py" in build.stderr
    assert "Traceback" not in build.stderr
    assert answers.calls["mylib/greet"] == 0 and not (repo / GREET_PY).exists()


# --- pdd doctor -------------------------------------------------------------------------

def test_doctor_shows_the_test_run_and_verifies_the_overlay(repo, run_pdd, answers):
    make_project(repo, run_pdd, "setup-cfg")
    before = run_pdd(repo, "doctor", "--json")  # not built yet: sound, with a note
    assert before.returncode == 0, before.stdout + before.stderr
    (note,) = json.loads(before.stdout)["notes"]
    assert "behavior_tests/test_greet.py" in note and "pdd build" in note
    answers["mylib/greet"] = GREET
    assert run_pdd(repo, "build").returncode == 0
    proc = run_pdd(repo, "doctor", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["sound"] is True and data["problems"] == []
    assert data["rootdir"] == str(repo) and data["inifile"] == str(repo / "setup.cfg")
    assert data["candidate_file"] == "<overlay>/generated/pdd_doctor_probe.py"
    assert data["import_order"][0].startswith("<overlay>/generated") and data["import_order"][1] == f"{repo}/generated"
    assert str(repo) in data["sys_path"]  # setup.cfg's pythonpath = .
    assert data["command"][-5:-1] == ["-p", "pdd", "--rootdir", str(repo)]
    from pdd.sandbox import _probe_bwrap

    bwrap_usable = _probe_bwrap()[0] is not None
    assert data["sandbox"]["setting"] == "auto" and data["sandbox"]["confined"] is bwrap_usable
    assert data["collected"] == 1
    text = run_pdd(repo, "doctor")
    assert text.returncode == 0 and "inifile:     " + str(repo / "setup.cfg") in text.stdout
    assert "ok: generated.* resolves to the candidate" in text.stdout
    # the setting doctor shows is the configured one
    cfg = repo / ".pdd" / "config.yaml"
    cfg.write_text(cfg.read_text().replace("  sandbox: auto", "  sandbox: none"))
    data = json.loads(run_pdd(repo, "doctor", "--json").stdout)
    assert data["sandbox"]["setting"] == "none" and data["sandbox"]["confined"] is False


@pytest.mark.parametrize("rel, text, needles", [
    ("behavior_tests/conftest.py", "raise RuntimeError('conftest is broken')\n",
     ("the test run could not start", "conftest is broken")),
    ("behavior_tests/test_other.py", "import shop_helpers_that_do_not_exist\n",
     ("behavior_tests/test_other.py does not collect", "shop_helpers_that_do_not_exist")),
], ids=["broken-conftest", "test-file-does-not-collect"])
def test_doctor_reports_a_test_setup_that_would_stop_the_build(repo, run_pdd, rel, text, needles):
    make_project(repo, run_pdd, "pythonpath-dot")
    write_file(repo, rel, text)
    proc = run_pdd(repo, "doctor", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (problem,) = json.loads(proc.stdout)["problems"]
    assert all(n in problem for n in needles), problem


SHADOWING_CONFTEST = '''\
import importlib.machinery
import sys


class Shadow:
    """Resolves generated.* through sys.path, ahead of every other finder."""

    def find_spec(self, name, path=None, target=None):
        if name == "generated" or name.startswith("generated."):
            return importlib.machinery.PathFinder.find_spec(name, path)
        return None


sys.meta_path.insert(0, Shadow())
'''


def test_doctor_detects_a_finder_that_shadows_pdds_hook(repo, run_pdd, answers):
    """The attack: a conftest puts its own finder first; generated.* then comes from
    the working tree, not the overlay. Without it, doctor is sound (test above)."""
    make_project(repo, run_pdd, "root-conftest")
    answers["mylib/greet"] = GREET
    assert run_pdd(repo, "build").returncode == 0
    assert run_pdd(repo, "doctor").returncode == 0
    write_file(repo, "conftest.py", FIXTURE + "\n" + SHADOWING_CONFTEST)
    proc = run_pdd(repo, "doctor", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    problems = "\n".join(json.loads(proc.stdout)["problems"])
    assert "not first on sys.meta_path" in problems
