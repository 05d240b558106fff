"""In-process tests of pdd.lint's rules (no CLI, no subprocess): each rule called on
prompts parsed from text and files in a temporary folder. The end-to-end runs of
``pdd lint`` are in test_new_lint.py."""

from __future__ import annotations

import json
import keyword
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdd import lint
from pdd.errors import UsageError
from pdd.lint import Collection, Finding, LintReport
from pdd.prompt import parse_prompt

FULL_BODY = """\
# m
## Goal
Money.
## Inputs / Outputs
add(a, b)
## Constraints
Exact.
## Failure modes
ValueError.
## Out of scope
Currencies.
## Acceptance
- [A1] add works
"""


def spec_of(name: str, text: str, **kw):
    return parse_prompt(text, path=f"prompts/{name}.prompt", name=name, **kw)


def rules(findings: list[Finding]) -> list[tuple[str, str, int | None]]:
    return sorted((f.rule, f.severity, f.line) for f in findings)


# --- sections --------------------------------------------------------------------------


def test_a_complete_prompt_has_no_section_findings():
    assert lint.check_sections(spec_of("m", FULL_BODY), FULL_BODY) == []


def test_missing_empty_and_hint_only_sections_with_their_severity_and_line():
    text = ("---\ndepends: []\n---\n# m\n## Goal\n<!-- hint: what it is for -->\n## Inputs/Outputs\n\n"
            "## Constraints\nx\n## Failure modes\nraises\n## Acceptance\n- [A1] <!-- hint: first promise -->\n")
    by_rule = {(f.rule, f.message.split("'")[1]): f for f in lint.check_sections(spec_of("m", text), None)}
    assert by_rule[("section-hint", "Goal")].line == 5
    assert by_rule[("section-hint", "Acceptance")].line == 13 and by_rule[("section-hint", "Acceptance")].severity == "warning"
    assert by_rule[("section-empty", "Inputs / Outputs")].line == 7
    assert by_rule[("section-empty", "Inputs / Outputs")].severity == "warning"
    missing = by_rule[("section-missing", "Out of scope")]
    assert missing.severity == "error" and missing.line == 4 and "add a '## Out of scope' heading" in missing.message
    assert len(by_rule) == 4


def test_a_section_supplied_by_an_included_fragment_is_not_missing():
    body = FULL_BODY.replace("## Out of scope\nCurrencies.\n", '{% include "_shared/scope.md" %}\n')
    spec = spec_of("m", body)
    assert [f.message for f in lint.check_sections(spec, None)] == [
        "section 'Out of scope' is missing (add a '## Out of scope' heading)"]
    assert lint.check_sections(spec, body + "## Out of scope\nCurrencies.\n") == []


def test_headings_inside_code_fences_do_not_count():
    text = FULL_BODY.replace("## Acceptance\n- [A1] add works\n", "```\n## Acceptance\n```\n")
    assert [f.rule for f in lint.check_sections(spec_of("m", text), None)] == ["section-missing"]


# --- includes ----------------------------------------------------------------------------


def test_missing_includes_are_found_inside_fragments_at_their_line(tmp_path):
    (tmp_path / "prompts" / "_shared").mkdir(parents=True)
    (tmp_path / "prompts" / "_shared" / "a.md").write_text("ok\n\n{% include '_shared/gone.md' %}\n")
    spec = spec_of("m", "# m\n{% include '_shared/a.md' %}\n{% include '_shared/none.md' %}\n")
    got = sorted((f.file, f.line, f.rule) for f in lint.check_includes(spec, tmp_path, "prompts"))
    assert got == [("prompts/_shared/a.md", 3, "include-missing"), ("prompts/m.prompt", 3, "include-missing")]
    bad = spec_of("m", "# m\n{% if %}\n")
    assert [(f.rule, f.line) for f in lint.check_includes(bad, tmp_path, "prompts")] == [("prompt-invalid", 2)]


# --- imports of the generated module (the target's import scan) --------------------------


def _project(tmp_path: Path, prompts: dict[str, str], generated: dict[str, str]) -> dict:
    for rel, code in generated.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(code)
    return {name: spec_of(name, text) for name, text in prompts.items()}


def test_dep_unused_and_import_undeclared(tmp_path):
    specs = _project(tmp_path, {
        "billing/money": "# money\n",
        "billing/tax": "# tax\n",
        "billing/invoice": "---\ndepends: [billing/money, billing/tax]\n---\n# invoice\n",
        "report": "# report\n",
    }, {
        "generated/billing/invoice.py": "from . import money\nfrom generated import report\nimport generated.nothing\n",
    })
    got = lint.check_imports(specs["billing/invoice"], specs, tmp_path)
    assert sorted((f.rule, f.file, f.line) for f in got) == [
        ("dep-unused", "prompts/billing/invoice.prompt", 2),
        ("import-undeclared", "generated/billing/invoice.py", 2),
        ("import-undeclared", "generated/billing/invoice.py", 3),
    ]
    messages = " | ".join(f.message for f in got)
    assert "dependency 'billing/tax' is declared but generated/billing/invoice.py never imports generated.billing.tax" in messages
    assert "imports generated.report, which is not a declared dependency of billing/invoice (add 'report'" in messages
    assert "imports generated.nothing, which no prompt generates" in messages
    assert lint.check_imports(specs["report"], specs, tmp_path) == []  # not built yet: nothing to say


def test_an_unparsable_generated_file_gives_no_import_findings(tmp_path):
    specs = _project(tmp_path, {"a": "# a\n"}, {"generated/a.py": "def (:\n"})
    assert lint.check_imports(specs["a"], specs, tmp_path) == []


_ident = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))


@settings(max_examples=100, deadline=None)
@given(generated=st.lists(st.lists(_ident, min_size=1, max_size=3).map(".".join), max_size=5),
       other=st.lists(_ident, max_size=3))
def test_generated_imports_keeps_exactly_the_generated_ones(generated, other):
    source = "".join(f"import generated.{g}\n" for g in generated) + "".join(f"import {o}\n" for o in other)
    got = lint.generated_imports(source, "generated.m")
    assert [base for _, base, _ in got] == [f"generated.{g}" for g in generated]
    assert [line for line, _, _ in got] == list(range(1, len(generated) + 1))


# --- behavior tests ------------------------------------------------------------------------


def test_test_rules_from_a_given_collection(tmp_path):
    (tmp_path / "behavior_tests").mkdir()
    (tmp_path / "behavior_tests" / "test_a.py").write_text("def test_x():\n    pass  # pdd-placeholder\n")
    spec = spec_of("a", "---\ntests: [behavior_tests/test_a.py, behavior_tests/test_gone.py]\n---\n# a\n")
    got = lint.check_tests(spec, tmp_path, Collection({"behavior_tests/test_a.py": 0}, {}))
    assert rules(got) == [("no-tests", "error", 2), ("tests-collect-zero", "error", 1),
                          ("tests-placeholder", "warning", 2)]
    got = lint.check_tests(spec, tmp_path, Collection({}, {"behavior_tests/test_a.py": "ImportError: no x"}))
    assert [(f.rule, f.message) for f in got if f.rule == "tests-collect-error"] == [
        ("tests-collect-error", "the tests fail to collect: ImportError: no x")]
    got = lint.check_tests(spec, tmp_path, Collection({}, {}, failure="pytest could not collect"))
    assert [(f.rule, f.file, f.line) for f in got if f.rule == "tests-collect-error"] == [
        ("tests-collect-error", "behavior_tests/test_a.py", None)]
    counted = lint.check_tests(spec, tmp_path, Collection({"behavior_tests/test_a.py": 2}, {}))
    assert rules(counted) == [("no-tests", "error", 2), ("tests-placeholder", "warning", 2)]


def test_an_opted_out_module_shows_its_reason(tmp_path):
    spec = spec_of("a", "---\ntests: []\nuntested_reason: constants only\n---\n# a\n")
    got = lint.check_tests(spec, tmp_path, None)
    assert [(f.rule, f.severity, f.line, f.message) for f in got] == [
        ("tests-opted-out", "warning", 3, "untested by choice (tests: []): constants only")]


def test_parse_collection_counts_and_errors(tmp_path):
    output = (f"behavior_tests/test_a.py: 3\n{tmp_path}/behavior_tests/test_c.py: 1\n"
              "______ ERROR collecting behavior_tests/test_b.py ______\n"
              f"E   File \"{tmp_path}/behavior_tests/test_b.py\", line 1\n"
              "E   ModuleNotFoundError: No module named 'nope'\n"
              "=========== short test summary info ===========\n")
    files = ["behavior_tests/test_a.py", "behavior_tests/test_b.py", "behavior_tests/test_c.py"]
    got = lint.parse_collection(output, 2, files, tmp_path)
    assert got.counts == {"behavior_tests/test_a.py": 3, "behavior_tests/test_c.py": 1}
    assert got.errors == {"behavior_tests/test_b.py": "ModuleNotFoundError: No module named 'nope'"}
    assert got.failure is None
    broken = lint.parse_collection("usage: pytest\nerror: unrecognized arguments: --bogus\n", 4, files, tmp_path)
    assert broken.failure == ("pytest could not collect the tests (exit 4): usage: pytest | "
                              "error: unrecognized arguments: --bogus")
    assert lint.parse_collection("", 5, files, tmp_path) == Collection({}, {}, None)


# --- requirements, names, output -------------------------------------------------------------


def test_requirement_ids_duplicate_and_malformed():
    spec = spec_of("a", "# a\n## Acceptance\n- [A1] one\n- [A1] again\n- [a2] lower\n")
    got = lint.check_requirements(spec)
    assert rules(got) == [("req-duplicate", "error", 4), ("req-malformed", "warning", 5)]
    assert "first at line 3" in next(f.message for f in got if f.rule == "req-duplicate")


def test_resolve_names_accepts_module_prompt_and_generated_paths():
    specs = {"billing/money": spec_of("billing/money", "# m\n")}
    paths = {"billing/money": "prompts/billing/money.prompt"}
    for raw in ("billing/money", "prompts/billing/money.prompt", "./generated/billing/money.py", "billing/money.prompt"):
        assert lint.resolve_names([raw, raw], paths, specs, "prompts") == ["billing/money"]
    with pytest.raises(UsageError) as info:
        lint.resolve_names(["billing/nope"], paths, specs, "prompts")
    assert "no module named 'billing/nope'" in info.value.message and "billing/money" in (info.value.hint or "")


def test_report_formats_and_exit_codes():
    findings = [Finding("no-tests", "error", "prompts/a.prompt", 2, "no tests: a, b", "a"),
                Finding("dep-unused", "warning", "prompts/a.prompt", None, "50% unused", "a")]
    report = LintReport(findings, ["a"])
    assert (report.errors, report.warnings, report.exit_code) == (1, 1, 1)
    assert lint.format_report(report, "text").splitlines() == [
        "prompts/a.prompt:2: error: no tests: a, b [no-tests]", "prompts/a.prompt: warning: 50% unused [dep-unused]"]
    github = lint.format_report(report, "github").splitlines()
    assert github[0] == "::error file=prompts/a.prompt,line=2,title=pdd lint no-tests::no tests: a, b [no-tests]"
    assert github[1] == "::warning file=prompts/a.prompt,title=pdd lint dep-unused::50%25 unused [dep-unused]"
    data = json.loads(lint.format_report(report, "json"))
    assert data["errors"] == 1 and data["exit_code"] == 1 and data["findings"][0]["rule"] == "no-tests"
    assert LintReport([findings[1]], ["a"]).exit_code == 0
    assert lint.summary(report) == "pdd lint: 1 error(s), 1 warning(s) in 1 module"
