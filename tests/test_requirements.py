"""Requirement ids in prompts, citations in tests, the requirements diff, and pdd's pytest plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdd import requirements
from pdd.requirements import Requirement, diff, docstring_ids, node_key, parse, scan_tests
from pdd.trace import combine, requirement_results

REPO_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------
# Parsing prompts
# ---------------------------------------------------------------------------


def test_list_items_with_ids_in_any_section():
    text = textwrap.dedent("""\
        # m
        ## Goal
        - [G1] goals count too
        ## Acceptance
        - [R1] The 61st request within 60 s returns 429
        * [RATE-2] star items
          continue on the next line
        + [A3] plus items
        1. [N4] ordered items
        2) [N5] ordered with a parenthesis
        - not a requirement [R6]
        """)
    parsed = parse(text)
    assert [(r.id, r.line, r.section) for r in parsed.requirements] == [
        ("G1", 3, "Goal"), ("R1", 5, "Acceptance"), ("RATE-2", 6, "Acceptance"), ("A3", 8, "Acceptance"),
        ("N4", 9, "Acceptance"), ("N5", 10, "Acceptance")]
    assert parsed.requirements[1].text == "The 61st request within 60 s returns 429"
    assert parsed.requirements[2].text == "star items continue on the next line"
    assert parsed.malformed == [] and parsed.duplicates == []


def test_code_fences_and_inline_code_do_not_count():
    text = textwrap.dedent("""\
        ```markdown
        - [F1] inside a backtick fence
        ```
        ~~~~
        - [F2] inside a tilde fence
        ~~~
        - [F3] still inside: the closing run is shorter
        ~~~~
        - `[I1]` in inline code
        - [OK1] after the fences
        - [L1](https://example.com) a link, not an id
        - [ ] a task box
        - [x] a ticked task box
        """)
    parsed = parse(text)
    assert [r.id for r in parsed.requirements] == ["OK1"]
    assert parsed.malformed == []


def test_malformed_and_duplicate_ids():
    text = "- [R1] one\n- [r2] lower case\n- [R_3] underscore\n- [3] digit first\n- [R1] again\n"
    parsed = parse(text)
    assert [(m.token, m.line) for m in parsed.malformed] == [("r2", 2), ("R_3", 3), ("3", 4)]
    assert [(r.id, r.line, first) for r, first in parsed.duplicates] == [("R1", 5, 1)]
    assert requirements.ids(text) == ["R1"]


ID = st.from_regex(r"\A[A-Z][A-Z0-9-]{0,6}\Z")
WORDS = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=20).map(str.strip).filter(bool)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(ID, st.sampled_from(["item", "ordered", "fenced", "tilde", "inline", "prose", "nested"]),
                          WORDS), max_size=12))
def test_parse_finds_exactly_the_list_item_ids_outside_code(items):
    lines: list[str] = []
    expected: list[tuple[str, int]] = []
    for rid, kind, words in items:
        if kind == "item":
            lines.append(f"- [{rid}] {words}")
            expected.append((rid, len(lines)))
        elif kind == "ordered":
            lines.append(f"3. [{rid}] {words}")
            expected.append((rid, len(lines)))
        elif kind == "nested":
            lines.append(f"  - [{rid}] {words}")
            expected.append((rid, len(lines)))
        elif kind == "fenced":
            lines += ["```", f"- [{rid}] {words}", "```"]
        elif kind == "tilde":
            lines += ["~~~python", f"- [{rid}] {words}", "~~~"]
        elif kind == "inline":
            lines.append(f"- `[{rid}]` {words}")
        else:
            lines += ["", f"[{rid}] {words} is prose, not a list item", ""]
    parsed = parse("\n".join(lines) + "\n")
    assert [(r.id, r.line) for r in parsed.requirements] == expected
    assert parsed.malformed == []


def test_docstring_citations():
    assert docstring_ids("Checks the boundary.\n\nRequirement: R3\n") == ["R3"]
    assert docstring_ids("Requirements: R3, RATE-2 R4") == ["R3", "RATE-2", "R4"]
    assert docstring_ids("The Requirement: r3 is lower case") == []
    assert docstring_ids(None) == []


# ---------------------------------------------------------------------------
# Citations in test files
# ---------------------------------------------------------------------------


def test_scan_tests_reads_markers_classes_pytestmark_and_docstrings():
    source = textwrap.dedent('''\
        import pytest
        from pytest import mark

        pytestmark = [pytest.mark.req("M1"), pytest.mark.slow]

        @pytest.mark.req("R1", "R2")
        @pytest.mark.parametrize("x", [1, 2])
        def test_a(x):
            pass

        def test_b():
            """Does b.

            Requirement: R3
            """

        @mark.req("C1")
        class TestGroup:
            pytestmark = pytest.mark.req("C2")

            def test_c(self):
                pass

        def helper():
            pass
        ''')
    found = {c.test: c for c in scan_tests(source, "t/test_x.py")}
    assert sorted(found) == ["t/test_x.py::TestGroup::test_c", "t/test_x.py::test_a", "t/test_x.py::test_b"]
    assert found["t/test_x.py::test_a"].cites == {"M1": 4, "R1": 6, "R2": 6}
    assert found["t/test_x.py::test_a"].line == 8
    assert found["t/test_x.py::test_b"].cites == {"M1": 4, "R3": 12}
    assert found["t/test_x.py::TestGroup::test_c"].cites == {"M1": 4, "C1": 17, "C2": 19}


def test_scan_tests_raises_syntax_error():
    with pytest.raises(SyntaxError):
        scan_tests("def test_x(:\n", "t.py")


def test_node_key_drops_parameters():
    assert node_key("a.py::test_x[1-2]") == "a.py::test_x"
    assert node_key("a.py::T::test_y") == "a.py::T::test_y"


def test_results_combine_to_the_worst():
    assert combine(["passed", "passed"]) == "passed"
    assert combine(["passed", "skipped"]) == "skipped"
    assert combine(["passed", "failed", "skipped"]) == "failed"
    assert combine([]) == "untested"
    report = [{"path": "t.py", "reqs": ["R1"], "outcome": "passed"},
              {"path": "t.py", "reqs": ["R1", "R2"], "outcome": "failed"},
              {"path": "other.py", "reqs": ["R3"], "outcome": "passed"}]
    assert requirement_results(["R1", "R2", "R3"], report, ["t.py"]) == {"R1": "failed", "R2": "failed", "R3": "untested"}
    assert requirement_results(["R1"], None, ["t.py"]) == {"R1": "not-run"}


# ---------------------------------------------------------------------------
# Requirements diff (for pdd diff)
# ---------------------------------------------------------------------------


def test_diff_added_removed_reworded():
    base = "- [R1] keep\n- [R2] old wording\n- [R3] goes away\n- [R4] same  words\n"
    head = "- [R1] keep\n- [R2] new wording\n- [R4] same\n  words\n- [R5] is new\n"
    d = diff(base, head)
    assert [r.id for r in d.added] == ["R5"]
    assert [r.id for r in d.removed] == ["R3"]
    assert [(b.text, h.text) for b, h in d.reworded] == [("old wording", "new wording")]
    data = d.to_json()
    assert data["reworded"][0]["id"] == "R2" and data["added"][0]["line"] == 5
    assert json.loads(json.dumps(data)) == data


def test_diff_of_a_new_or_deleted_prompt():
    assert [r.id for r in diff(None, "- [A1] x\n").added] == ["A1"]
    assert [r.id for r in diff("- [A1] x\n", None).removed] == ["A1"]
    assert diff(None, None).to_json() == {"added": [], "removed": [], "reworded": []}


# ---------------------------------------------------------------------------
# pdd's pytest plugin, in a subprocess
# ---------------------------------------------------------------------------

PLUGIN_TESTS = '''\
import pytest

pytestmark = pytest.mark.req("M1")


@pytest.mark.req("R1", "R2")
@pytest.mark.parametrize("x", [1, 2])
def test_marked(x):
    assert x in (1, 2)


def test_docstring():
    """Requirement: R3"""
    assert False


@pytest.mark.skip(reason="later")
@pytest.mark.req("R4")
def test_skipped():
    pass
'''


def _pytest(folder: Path, *args: str, report: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PDD_REQ_REPORT"}
    env.pop("PYTEST_ADDOPTS", None)
    if report is not None:
        env["PDD_REQ_REPORT"] = str(report)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "--rootdir", str(folder), *args], cwd=folder, env=env, capture_output=True, text=True)


def test_plugin_registers_req_for_strict_markers_and_reports_results(tmp_path):
    (tmp_path / "test_cites.py").write_text(PLUGIN_TESTS)
    report = tmp_path / "report.json"
    proc = _pytest(tmp_path, "--strict-markers", "test_cites.py", report=report)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # test_docstring fails on purpose
    assert "1 failed, 2 passed, 1 skipped" in proc.stdout
    data = json.loads(report.read_text())
    tests = {t["nodeid"]: t for t in data["tests"]}
    assert data["version"] == 1
    assert tests["test_cites.py::test_marked[1]"]["reqs"] == ["R1", "R2", "M1"]
    assert tests["test_cites.py::test_marked[2]"]["outcome"] == "passed"
    assert tests["test_cites.py::test_docstring"]["reqs"] == ["M1", "R3"]
    assert tests["test_cites.py::test_docstring"]["outcome"] == "failed"
    assert tests["test_cites.py::test_docstring"]["line"] == 12 and tests["test_cites.py::test_docstring"]["path"] == "test_cites.py"
    assert tests["test_cites.py::test_skipped"]["outcome"] == "skipped"


def test_strict_markers_fail_without_the_plugin(tmp_path):
    """The protection off: with pdd's plugin disabled, --strict-markers rejects `req`."""
    (tmp_path / "test_cites.py").write_text(PLUGIN_TESTS)
    proc = _pytest(tmp_path, "--strict-markers", "-p", "no:pdd", "test_cites.py")
    assert proc.returncode != 0
    assert "'req' not found in `markers`" in proc.stdout + proc.stderr


def test_plugin_writes_nothing_unless_asked(tmp_path):
    (tmp_path / "test_ok.py").write_text("import pytest\n\n@pytest.mark.req('R1')\ndef test_ok():\n    pass\n")
    proc = _pytest(tmp_path, "--strict-markers", "test_ok.py")
    assert proc.returncode == 0, proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".json") == []


# ---------------------------------------------------------------------------
# The example project
# ---------------------------------------------------------------------------


def test_the_example_project_has_no_untested_or_dangling_requirement():
    from pdd.project import open_project
    from pdd.trace import trace_specs

    project = open_project(REPO_ROOT)
    specs = project.specs()
    report = trace_specs(specs, sorted(specs), lambda p: (REPO_ROOT / p).read_text(encoding="utf-8"))
    assert report.problems == []
    counts = {m.name: len(m.requirements) for m in report.modules}
    assert counts == {"billing/money": 9, "billing/transactions_import": 9, "ratelimit/sliding_window": 9}
    assert all(row.tests for m in report.modules for row in m.requirements)


def test_requirement_dataclass_is_hashable():
    assert len({Requirement("R1", "x", 1), Requirement("R1", "x", 1)}) == 1
