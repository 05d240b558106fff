"""In-process tests of the ``uses`` front-matter key (pdd.uses, pdd.prompt,
pdd.fingerprint), of pdd's pytest plugin import hook (pdd.pytest_plugin) and of
the test-run classification (pdd.testrun.classify)."""

from __future__ import annotations

import importlib
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdd.errors import InputError
from pdd.fingerprint import Generator, compute_fingerprint
from pdd.prompt import parse_prompt
from pdd.pytest_plugin import GeneratedFinder
from pdd.testrun import classify
from pdd.targets.python import import_name
from pdd.uses import used_interfaces

PATH = "prompts/mylib/greet.prompt"


def parse(front: str):
    return parse_prompt(f"---\n{front}\n---\n# Goal\nx\n", path=PATH, name="mylib/greet")


def test_uses_is_parsed_and_defaults_to_empty():
    assert parse("uses: [src/shop/core.py, shop/util.py]").uses == ("src/shop/core.py", "shop/util.py")
    assert parse("uses: src/shop/core.py").uses == ("src/shop/core.py",)
    assert parse("depends: []").uses == ()


@pytest.mark.parametrize("value, needle", [
    ("[../outside.py]", "no '..'"),
    ("[/abs/core.py]", "relative"),
    ("[src/shop/data.json]", "Python file"),
    ("[generated/mylib/other.py]", "generated code"),
    ("[a.py, a.py]", "twice"),
    ("[1]", "list of strings"),
])
def test_bad_uses_values_name_the_file_and_line(value, needle):
    with pytest.raises(InputError) as info:
        parse(f"depends: []\nuses: {value}")
    assert info.value.path == PATH and info.value.line == 3 and needle in info.value.message


@pytest.mark.parametrize("path, name", [
    ("src/shop/core.py", "shop.core"), ("shop/core.py", "shop.core"), ("src/shop/__init__.py", "shop"),
    ("tool.py", "tool"), ("src.py", "src"),
])
def test_import_name(path, name):
    assert import_name(path) == name


def test_used_interfaces_give_interfaces_and_digests():
    files = {"src/shop/core.py": 'def shout(t: str) -> str:\n    """Loud."""\n    return t.upper()\n'}
    contexts, digests = used_interfaces(PATH, 2, ("src/shop/core.py",), files.get)
    ((name, iface),) = contexts
    assert name == "shop.core" and "def shout(t: str) -> str:" in iface and "upper" not in iface
    assert list(digests) == ["src/shop/core.py"] and len(digests["src/shop/core.py"]) == 64
    with pytest.raises(InputError, match="does not exist"):
        used_interfaces(PATH, 2, ("src/nowhere.py",), files.get)
    with pytest.raises(InputError, match="does not parse"):
        used_interfaces(PATH, 2, ("bad.py",), {"bad.py": "def (:\n"}.get)


def test_fingerprint_without_uses_is_unchanged_and_uses_enter_it():
    spec = parse("depends: []")
    gen = Generator("openai", "m", 0.0, 100)
    base = compute_fingerprint(spec, "text", gen, {})
    assert compute_fingerprint(spec, "text", gen, {}, {}) == base  # prompts without uses keep theirs
    one = compute_fingerprint(spec, "text", gen, {}, {"src/a.py": "0" * 64})
    two = compute_fingerprint(spec, "text", gen, {}, {"src/a.py": "1" * 64})
    assert len({base, one, two}) == 3


# --- the import hook ---------------------------------------------------------------

@pytest.fixture
def roots(tmp_path):
    overlay, repo = tmp_path / "overlay", tmp_path / "repo"
    for root in (overlay, repo):
        (root / "generated" / "mylib").mkdir(parents=True)
    (repo / "generated" / "__init__.py").write_text("WHERE = 'repo'\n")
    (repo / "generated" / "mylib" / "__init__.py").write_text("")
    (repo / "generated" / "mylib" / "greet.py").write_text("WHO = 'old'\n")
    (repo / "generated" / "mylib" / "other.py").write_text("WHO = 'other'\n")
    (overlay / "generated" / "mylib" / "greet.py").write_text("WHO = 'candidate'\n")
    (repo / "generated" / "ns").mkdir()
    (repo / "generated" / "ns" / "leaf.py").write_text("WHO = 'leaf'\n")
    # A decoy earlier on sys.path, as `pythonpath = ["."]` of another folder would be.
    decoy = tmp_path / "decoy"
    (decoy / "generated").mkdir(parents=True)
    (decoy / "generated" / "__init__.py").write_text("WHERE = 'decoy'\n")
    return overlay, repo, decoy


@pytest.fixture
def clean_modules():
    saved = {n: m for n, m in sys.modules.items() if n == "generated" or n.startswith("generated.")}
    path, meta = list(sys.path), list(sys.meta_path)
    for n in saved:
        del sys.modules[n]
    yield
    for n in [n for n in sys.modules if n == "generated" or n.startswith("generated.")]:
        del sys.modules[n]
    sys.modules.update(saved)
    sys.path[:], sys.meta_path[:] = path, meta


def test_without_the_hook_the_decoy_on_sys_path_wins(roots, clean_modules):
    """The attack the hook defends against: sys.path order decides."""
    _, _, decoy = roots
    sys.path.insert(0, str(decoy))
    assert importlib.import_module("generated").WHERE == "decoy"
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("generated.mylib.greet")


def test_the_hook_resolves_overlay_first_then_the_repository(roots, clean_modules):
    overlay, repo, decoy = roots
    sys.path.insert(0, str(decoy))
    sys.meta_path.insert(0, GeneratedFinder([str(overlay), str(repo)], "generated.mylib.greet"))
    assert importlib.import_module("generated").WHERE == "repo"
    assert importlib.import_module("generated.mylib.greet").WHO == "candidate"
    assert importlib.import_module("generated.mylib.other").WHO == "other"
    assert importlib.import_module("generated.ns.leaf").WHO == "leaf"  # namespace package
    assert importlib.import_module("generated.mylib").__path__ == [str(overlay / "generated" / "mylib"),
                                                                   str(repo / "generated" / "mylib")]
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("generated.mylib.absent")


@given(st.sampled_from(["generatedx", "gen", "mylib.generated", "os", "generated_helpers"]))
def test_the_hook_ignores_other_names(name):
    assert GeneratedFinder(["/nonexistent"]).find_spec(name) is None


# --- classification ------------------------------------------------------------------

@pytest.mark.parametrize("rc, report, status", [
    (0, {"exitstatus": 0, "tests_started": 3}, "passed"),
    (0, {"exitstatus": 0, "tests_started": 0, "collected": 4}, "passed"),  # --collect-only (pdd doctor)
    (0, None, "failed"),  # exit 0 with no report: the code under test ended the process (os._exit)
    (0, {"exitstatus": None, "tests_started": 1}, "failed"),  # ended before pytest's session did
    (-9, None, "failed"),  # killed by a signal: the code under test killed it
    (137, None, "failed"),
    (1, {"exitstatus": 1, "tests_started": 2}, "failed"),
    (5, {"exitstatus": 5, "tests_started": 0}, "failed"),
    (1, None, "error"),  # no report: pytest never started (e.g. bwrap could not exec the test command)
    (4, None, "error"),  # a conftest failed to load: no report
    (3, None, "error"),
    (2, {"collect_errors": [{"candidate": False}], "candidate_error": None}, "error"),
    (2, {"collect_errors": [{"candidate": True}, {"candidate": False}], "candidate_error": None}, "error"),
    (2, {"collect_errors": [{"candidate": True}], "candidate_error": None}, "failed"),
    (4, {"collect_errors": [], "candidate_error": "Traceback ..."}, "failed"),
    (2, {"collect_errors": [], "candidate_error": None}, "error"),
])
def test_classify(rc, report, status):
    assert classify(rc, report) == status
