"""End to end: `pdd trace`, `pdd check --trace`, `trace: required` in the hook, the
note's per-requirement results and `pdd explain`, through the real CLI in temporary
git repositories against the fake model server."""

from __future__ import annotations

import json
import re
import subprocess

from conftest import commit_all, git, note_records, pdd_environment, write_file, write_prompt, write_test

CODE = "def add(a: int, b: int) -> int:\n    return a + b\n"

PROMPT = """\
# calc/add
## Goal
add(a, b).
## Acceptance
- [R1] add(1, 2) == 3
- [R2] add is commutative
- [R3] nothing tests this one
"""
R1_LINE, R3_LINE = 5, 7  # lines of prompts/calc/add.prompt (written without front matter)

TESTS = '''\
import pytest

from generated.calc.add import add


@pytest.mark.req("R1")
def test_one():
    assert add(1, 2) == 3


def test_two():
    """Requirement: R2"""
    assert add(2, 5) == add(5, 2)


@pytest.mark.req("R9")
def test_cites_an_unknown_id():
    assert True
'''
R9_LINE = TESTS.splitlines().index('@pytest.mark.req("R9")') + 1


def _project(repo, answers, run_pdd, tests: str = TESTS):
    write_prompt(repo, "calc/add", PROMPT)
    write_test(repo, "test_add.py", tests)
    answers["calc/add"] = CODE
    proc = run_pdd(repo, "build")
    assert proc.returncode == 0, proc.stderr


def _json(proc) -> dict:
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def test_trace_reports_untested_and_dangling_with_file_and_line(git_repo, answers, run_pdd):
    _project(git_repo, answers, run_pdd)
    assert (git_repo / "prompts/calc/add.prompt").read_text().splitlines()[R1_LINE - 1].startswith("- [R1]")

    text = run_pdd(git_repo, "trace")
    assert text.returncode == 1, text.stdout + text.stderr
    assert f"untested: prompts/calc/add.prompt:{R3_LINE}: requirement [R3]" in text.stdout
    assert f"dangling: behavior_tests/test_add.py:{R9_LINE}: " in text.stdout and "[R9]" in text.stdout

    data = _json(run_pdd(git_repo, "trace", "--format", "json"))
    assert data["ok"] is False and data["counts"] == {"untested": 1, "dangling": 1, "failing": 0}
    (module,) = data["modules"]
    assert module["results_from"] == "note"
    rows = {r["id"]: r for r in module["requirements"]}
    assert rows["R1"]["result"] == "passed" and rows["R2"]["result"] == "passed"
    assert rows["R3"]["result"] == "untested" and rows["R3"]["tests"] == []
    assert [t["test"] for t in rows["R2"]["tests"]] == ["behavior_tests/test_add.py::test_two"]
    assert rows["R1"]["line"] == R1_LINE
    problems = {(p["kind"], p["file"], p["line"]) for p in module["problems"]}
    assert problems == {("untested", "prompts/calc/add.prompt", R3_LINE), ("dangling", "behavior_tests/test_add.py", R9_LINE)}

    md = run_pdd(git_repo, "trace", "--format", "markdown")
    assert md.returncode == 1
    table = [ln for ln in md.stdout.splitlines() if ln.startswith("| `")]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in table]
    assert [c[0].split("`")[1] for c in cells] == ["R1", "R2", "R3"]
    assert [c[3] for c in cells] == ["passed", "passed", "untested"]
    assert f"- **untested** `prompts/calc/add.prompt:{R3_LINE}`" in md.stdout

    gh = run_pdd(git_repo, "trace", "--format", "github")
    assert f"::error file=prompts/calc/add.prompt,line={R3_LINE},title=pdd trace untested::" in gh.stdout


def test_trace_run_reports_a_failing_requirement(git_repo, answers, run_pdd):
    _project(git_repo, answers, run_pdd)
    # The code still passes the last build's tests; now a test of R1 fails.
    write_test(git_repo, "test_add.py", TESTS.replace("assert add(1, 2) == 3", "assert add(1, 2) == 4"))
    from_note = _json(run_pdd(git_repo, "trace", "--format", "json"))
    assert from_note["counts"]["failing"] == 0  # the last build's results

    data = _json(run_pdd(git_repo, "trace", "--run", "--format", "json"))
    (module,) = data["modules"]
    assert module["results_from"] == "run"
    rows = {r["id"]: r for r in module["requirements"]}
    assert rows["R1"]["result"] == "failed" and rows["R2"]["result"] == "passed"
    failing = [p for p in module["problems"] if p["kind"] == "failing"]
    assert [(p["requirement"], p["file"], p["line"]) for p in failing] == [("R1", "prompts/calc/add.prompt", R1_LINE)]
    assert "behavior_tests/test_add.py::test_one" in failing[0]["message"]
    text = run_pdd(git_repo, "trace", "--run", "calc/add")
    assert text.returncode == 1 and f"failing: prompts/calc/add.prompt:{R1_LINE}: requirement [R1] fails" in text.stdout


def test_note_records_requirement_results_and_explain_shows_them(git_repo, answers, run_pdd):
    _project(git_repo, answers, run_pdd)
    (record,) = note_records(git_repo, "generated/calc/add.py")
    assert record["requirements"] == {"R1": "passed", "R2": "passed", "R3": "untested"}
    proc = run_pdd(git_repo, "explain", "generated/calc/add.py")
    assert proc.returncode == 0, proc.stderr
    assert "verified:    R1 passed, R2 passed, R3 untested" in proc.stdout
    assert _json(run_pdd(git_repo, "explain", "generated/calc/add.py", "--json"))["note"]["requirements"]["R1"] == "passed"


def test_check_trace_exit_codes(git_repo, answers, run_pdd):
    _project(git_repo, answers, run_pdd)
    commit_all(git_repo, "calc")
    assert run_pdd(git_repo, "check").returncode == 0  # trace is opt-in

    proc = run_pdd(git_repo, "check", "--trace", "--format", "json")
    assert proc.returncode == 1
    data = _json(proc)
    states = {(p["state"], p["path"], p["line"]) for p in data["problems"]}
    assert states == {("requirement-untested", "prompts/calc/add.prompt", R3_LINE),
                      ("requirement-dangling", "behavior_tests/test_add.py", R9_LINE)}
    text = run_pdd(git_repo, "check", "--trace")
    assert f"prompts/calc/add.prompt:{R3_LINE}: requirement [R3]" in text.stdout
    assert '@pytest.mark.req("R3")' in text.stdout  # the fix
    gh = run_pdd(git_repo, "check", "--trace", "--format", "github")
    assert f"::error file=behavior_tests/test_add.py,line={R9_LINE},title=pdd requirement-dangling::" in gh.stdout

    fixed = TESTS.replace('@pytest.mark.req("R9")', '@pytest.mark.req("R3")')
    write_test(git_repo, "test_add.py", fixed)
    commit_all(git_repo, "cite R3")
    proc = run_pdd(git_repo, "check", "--trace")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    write_test(git_repo, "test_add.py", fixed + "\ndef test_broken(:\n")
    commit_all(git_repo, "broken test file")
    proc = run_pdd(git_repo, "check", "--trace")
    assert proc.returncode == 2
    assert "behavior_tests/test_add.py" in proc.stderr and "does not parse" in proc.stderr
    assert "Traceback" not in proc.stderr


def _commit(repo, fake_server, message):
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, env=pdd_environment(fake_server),
                          capture_output=True, text=True)


def _set_trace(repo, value: str) -> None:
    config = repo / ".pdd/config.yaml"
    text = re.sub(r"(?m)^trace: .*\n", "", config.read_text())
    config.write_text(text + f"trace: {value}\n")


def test_hook_enforces_trace_required(git_repo, answers, run_pdd, fake_server):
    tests = TESTS.replace('@pytest.mark.req("R9")', '@pytest.mark.req("R3")')
    _project(git_repo, answers, run_pdd, tests)
    _set_trace(git_repo, "required")
    git(git_repo, "add", "-A")
    ok = _commit(git_repo, fake_server, "calc, every requirement cited")
    assert ok.returncode == 0, ok.stderr

    # A test file change alone (no prompt, no generated file staged) drops R1's citation.
    write_test(git_repo, "test_add.py", tests.replace('@pytest.mark.req("R1")\n', ""))
    git(git_repo, "add", "-A")
    refused = _commit(git_repo, fake_server, "drop a citation")
    assert refused.returncode == 1, refused.stderr
    assert f"requirement-untested: prompts/calc/add.prompt:{R1_LINE}: requirement [R1]" in refused.stderr
    assert "@pytest.mark.req" in refused.stderr

    # A new requirement in the prompt with no test: refused too (the module is rebuilt, so only trace objects).
    write_test(git_repo, "test_add.py", tests)
    write_prompt(git_repo, "calc/add", PROMPT + "- [R4] brand new\n")
    assert run_pdd(git_repo, "build").returncode == 0
    git(git_repo, "add", "-A")
    refused = _commit(git_repo, fake_server, "new requirement")
    assert refused.returncode == 1 and "[R4]" in refused.stderr, refused.stderr

    # The protection off: with `trace: optional` the same commit goes through.
    _set_trace(git_repo, "optional")
    git(git_repo, "add", "-A")
    ok = _commit(git_repo, fake_server, "new requirement, trace optional")
    assert ok.returncode == 0, ok.stderr


def test_bad_trace_setting_is_a_config_error(git_repo, run_pdd):
    _set_trace(git_repo, "always")
    proc = run_pdd(git_repo, "trace")
    assert proc.returncode == 2
    assert ".pdd/config.yaml" in proc.stderr and "trace must be 'required' or 'optional'" in proc.stderr


def test_trace_usage_errors(git_repo, run_pdd):
    proc = run_pdd(git_repo, "trace", "--format", "yaml")
    assert proc.returncode == 2 and "unknown --format" in proc.stderr
    proc = run_pdd(git_repo, "trace", "no/such")
    assert proc.returncode == 2 and "no/such" in proc.stderr


def test_lint_reports_duplicate_malformed_untested_and_dangling(git_repo, run_pdd):
    write_prompt(git_repo, "calc/add", PROMPT + "- [R1] the same id again\n- [r5] lower case\n")
    write_test(git_repo, "test_add.py", TESTS)
    proc = run_pdd(git_repo, "lint", "calc/add", "--format", "json")
    data = _json(proc)
    found = {(f["rule"], f["severity"], f["file"], f["line"]) for f in data["findings"] if f["rule"].startswith("req-")}
    assert found == {("req-duplicate", "error", "prompts/calc/add.prompt", 8),
                     ("req-malformed", "warning", "prompts/calc/add.prompt", 9),
                     ("req-untested", "warning", "prompts/calc/add.prompt", R3_LINE),
                     ("req-dangling", "warning", "behavior_tests/test_add.py", R9_LINE)}
    assert proc.returncode == 1  # the duplicate is an error


def test_new_scaffolds_acceptance_ids_cited_by_the_placeholder(git_repo, run_pdd):
    assert run_pdd(git_repo, "new", "calc/mul").returncode == 0
    text = (git_repo / "prompts/calc/mul.prompt").read_text()
    acceptance = text.split("## Acceptance\n", 1)[1]
    assert re.findall(r"^- \[(A\d)\]", acceptance, re.M) == ["A1", "A2"]
    data = _json(run_pdd(git_repo, "trace", "--format", "json"))
    rows = {r["id"]: r for r in data["modules"][0]["requirements"]}
    assert sorted(rows) == ["A1", "A2"] and all(r["tests"] for r in rows.values())
    lint = _json(run_pdd(git_repo, "lint", "--format", "json"))
    assert not [f for f in lint["findings"] if f["rule"].startswith("req-")]
    write_file(git_repo, "behavior_tests/test_mul.py", "def test_x():\n    assert True\n")
    lint = _json(run_pdd(git_repo, "lint", "--format", "json"))
    assert sorted(f["rule"] for f in lint["findings"] if f["rule"].startswith("req-")) == ["req-untested", "req-untested"]
