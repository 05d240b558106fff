"""In-process tests of the build core: the candidate pipeline (pdd.candidate) used by
build and probe, and the Builder's constructor parameters and concurrent accepts.

Real git repositories (``pdd init`` through the CLI), real pytest runs of behavior
tests in the overlay, real HTTP to the fake model server; no CLI for the code under test."""

from __future__ import annotations

import io
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import DUMMY_API_KEY, FAKE_MODEL, FAST_BEHAVIOR_TESTS, git, note_records, write_prompt, write_test
from pdd.build import BuildCancelled, BuildOptions, Builder
from pdd.candidate import NoCodeError, Pipeline
from pdd.modelcall import ModelCaller
from pdd.progress import PlainReporter
from pdd.project import open_project

HALF = "def half(x):\n    return x // 2\n"
WRONG = "def half(x):\n    return x\n"
TEST = """\
from generated.calc.half import half


def test_half():
    assert half(4) == 2
"""


@pytest.fixture
def project(git_repo, fake_server, monkeypatch):
    """A pdd project using the fake server as its openai backend, with module calc/half and its test."""
    for k, v in {"PDD_BACKEND": "openai", "PDD_MODEL": FAKE_MODEL, "OPENAI_API_KEY": DUMMY_API_KEY,
                 "OPENAI_BASE_URL": fake_server.openai_base_url, **FAST_BEHAVIOR_TESTS}.items():
        monkeypatch.setenv(k, v)
    write_prompt(git_repo, "calc/half", "# Goal\nHalve integers: `half(x: int) -> int`.")
    write_test(git_repo, "half", TEST)
    fake_server.answers["calc/half"] = HALF
    return open_project(git_repo)


def _pipeline(project, **kw) -> Pipeline:
    return Pipeline(project.root, project.config, project.specs()["calc/half"], **kw)


# -- the candidate pipeline ---------------------------------------------------------------------------------------------

def test_existing_tests_lists_only_the_files_present(project):
    spec = project.specs()["calc/half"]
    assert spec.existing_tests(project.root) == ["behavior_tests/test_half.py"]
    (project.root / "behavior_tests/test_half.py").unlink()
    assert spec.existing_tests(project.root) == []


def test_pipeline_extracts_and_refuses_an_answer_without_code(project):
    assert _pipeline(project).extract(f"Sure.\n\n```python\n{HALF}```\n") == HALF
    with pytest.raises(NoCodeError, match="no code block"):
        _pipeline(project).extract("I cannot help with that.")


def test_pipeline_trial_compile_error_names_the_file_and_line(project):
    verdict = _pipeline(project).trial("def half(x):\n    return (\n")
    assert verdict.status == "syntax-error" and not verdict.passed and verdict.outcome is None
    assert verdict.problem.startswith("generated/calc/half.py:")


def test_pipeline_trial_runs_the_behavior_tests_in_the_overlay(project):
    target = project.root / "generated/calc/half.py"
    assert not target.exists()
    good = _pipeline(project).trial(HALF)
    assert good.status == "passed" and good.passed and good.outcome.status == "passed"
    bad = _pipeline(project).trial(WRONG)
    assert bad.status == "failed" and not bad.passed and "assert" in bad.problem
    assert not target.exists()  # generated/ is never touched by a trial


def test_pipeline_without_tests_is_untested(project):
    verdict = _pipeline(project, run_tests=False).trial(WRONG)
    assert verdict.status == "untested" and verdict.passed and verdict.outcome is None


def test_probe_goes_through_the_same_pipeline(project, fake_server):
    from pdd.probe import ProbeOptions, _generate
    from pdd.freshness import module_inputs

    answers = iter([HALF, WRONG, "no code at all"])
    lock = threading.Lock()

    def answer(_request):
        with lock:
            code = next(answers)
        return f"```python\n{code}```\n" if code.startswith("def") else code

    fake_server.answers["calc/half"] = answer
    spec = project.specs()["calc/half"]
    cands, spend = _generate(project, spec, module_inputs(project, spec), ProbeOptions(n=3), 1.0)
    assert sorted(c.status for c in cands) == ["failed", "no-code", "passed"]
    assert spend.entry()["requests"] == 3 and fake_server.request_count == 3


# -- the Builder ---------------------------------------------------------------------------------------------------------

def _builder(project, **kw) -> Builder:
    return Builder(project, BuildOptions(**{"jobs": 4, **kw.pop("options", {})}), PlainReporter(io.StringIO()), **kw)


def test_builder_uses_the_caller_and_run_root_it_is_given(project, tmp_path, fake_server):
    caller = ModelCaller(project)
    elsewhere = tmp_path / "records"
    elsewhere.mkdir()
    report = _builder(project, caller=caller, run_root=elsewhere).run()
    assert report.exit_code == 0 and [r.status for r in report.results] == ["built"]
    assert caller.spend.entry()["requests"] == 1 and fake_server.request_count == 1
    assert report.run_path is not None and report.run_path.is_relative_to(elsewhere)
    assert not list((project.root / ".pdd" / "runs").glob("*.json"))


def test_concurrent_builds_give_every_file_its_note_before_it_is_written(project, fake_server):
    names = [f"calc/m{i}" for i in range(6)]
    for i, name in enumerate(names):
        write_prompt(project.root, name, f"# Goal\n`value() -> int` returns {i}.", front="tests: []\nuntested_reason: constants")
        fake_server.answers[name] = f"def value():\n    return {i}\n"
    project.forget_specs()
    report = _builder(project, options={"jobs": 6, "names": names}).run()
    assert report.exit_code == 0 and {r.status for r in report.results} == {"built"}
    commits = int(git(project.root, "rev-list", "--count", "refs/notes/pdd"))
    assert 1 <= commits <= len(names)  # grouped: never more than one notes commit per module
    for name in names:
        records = note_records(project.root, f"generated/{name}.py")
        assert [r["path"] for r in records] == [f"generated/{name}.py"]


def test_no_accept_starts_after_cancel(project):
    builder = _builder(project)
    specs, _order, _forced = builder.plan()
    builder.cancel.set()
    with pytest.raises(BuildCancelled):
        builder.build_one(specs["calc/half"], False)
    builder._wait_accepts()  # none in progress: returns at once
    assert not (project.root / "generated/calc/half.py").exists()
    assert git(project.root, "notes", "--ref=pdd", "list", check=False) == ""


def test_forget_specs_rereads_the_prompts(project):
    assert set(project.specs()) == {"calc/half"}
    write_prompt(project.root, "calc/other", "# Goal\nx")
    assert set(project.specs()) == {"calc/half"}
    project.forget_specs()
    assert set(project.specs()) == {"calc/half", "calc/other"}


def test_the_backend_is_built_before_the_workers_only_when_a_module_needs_it(project, monkeypatch):
    built: list[str] = []
    original = ModelCaller.prepare
    monkeypatch.setattr(ModelCaller, "prepare", lambda self: (built.append(threading.current_thread().name),
                                                                original(self)))
    assert _builder(project).run().exit_code == 0
    assert built == [threading.main_thread().name]
    built.clear()
    report = _builder(project).run()  # everything fresh now: no backend, no SDK import
    assert [r.status for r in report.results] == ["fresh"] and built == []


@settings(max_examples=200, deadline=None)
@given(base=st.floats(0, 1), repeats=st.integers(0, 5), attempt=st.integers(1, 8),
       module=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20))
def test_retry_sampling_varies_every_retry_reproducibly(base, repeats, attempt, module):
    from pdd.build import MAX_RETRY_TEMPERATURE, retry_sampling

    temperature, seed = retry_sampling(base, repeats, module, attempt)
    assert retry_sampling(base, repeats, module, attempt) == (temperature, seed)  # recorded, so reproducible
    if attempt == 1:  # the first request is exactly as configured: cache keys and recordings unchanged
        assert (temperature, seed) == (base, None)
        return
    assert 0 <= seed < 2**31
    assert temperature == max(base, min(MAX_RETRY_TEMPERATURE, base + 0.5 * (attempt - 1 + repeats)))
    assert temperature > base or base >= MAX_RETRY_TEMPERATURE  # a retry never samples as coldly as attempt 1
    assert retry_sampling(base, repeats, module + "x", attempt)[1] != seed or attempt == 1  # a seed per module


def test_retry_sampling_example():
    from pdd.build import retry_sampling

    assert [retry_sampling(0.0, 0, "m", a)[0] for a in (1, 2, 3)] == [0.0, 0.5, 1.0]
    assert retry_sampling(0.0, 1, "m", 2)[0] == 1.0  # attempt 2 after a repeat: two steps
    assert retry_sampling(1.5, 0, "m", 2)[0] == 1.5  # never colder than configured
    assert len({retry_sampling(0.0, 0, "m", a)[1] for a in (2, 3, 4)}) == 3  # a seed per attempt
