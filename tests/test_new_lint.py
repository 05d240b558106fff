"""`pdd new` and `pdd lint` through the real CLI in temporary git repositories."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import write_file

REPO_ROOT = Path(__file__).resolve().parent.parent

SECTIONS_OK = """\
# {name}

## Goal

Provide {name}.

## Inputs / Outputs

`f(x: int) -> int` returns `x + 1`.

## Constraints

Standard library only.

## Failure modes

A non-int `x` raises `TypeError`.

## Out of scope

Everything else.

## Acceptance

The behavior tests call `f` and check the result.
"""

GOOD_TEST = """\
def test_one():
    assert 1 + 1 == 2


def test_two():
    assert True
"""


def prompt(name: str, body: str = SECTIONS_OK, front: str = "depends: []") -> str:
    return f"---\n{front}\n---\n" + body.format(name=name)


def lint_json(run_pdd, repo: Path, *args: str) -> tuple[int, dict]:
    proc = run_pdd(repo, "lint", "--format", "json", *args)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def by_rule(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in report["findings"]:
        out.setdefault(f["rule"], []).append(f)
    return out


# ---------------------------------------------------------------------------
# pdd new
# ---------------------------------------------------------------------------


def test_new_scaffolds_a_prompt_and_a_failing_test(git_repo, run_pdd):
    proc = run_pdd(git_repo, "new", "billing/money")
    assert proc.returncode == 0, proc.stderr
    assert "created prompts/billing/money.prompt" in proc.stdout
    assert "created behavior_tests/test_money.py" in proc.stdout
    assert "next:" in proc.stdout and "pdd build billing/money" in proc.stdout

    proc = run_pdd(git_repo, "new", "billing/invoice", "--depends", "billing/money")
    assert proc.returncode == 0, proc.stderr
    text = (git_repo / "prompts/billing/invoice.prompt").read_text()
    assert text.startswith("---\ndepends: [billing/money]\n---\n")
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == ["Goal", "Inputs / Outputs", "Constraints", "Failure modes", "Out of scope", "Acceptance"]
    for section in headings:  # each section has a one-line hint
        after = text.split(f"## {section}\n", 1)[1].strip().splitlines()[0]
        assert after.startswith("<!-- hint:"), (section, after)
    assert '{% include "_shared/python_style.md" %}' in text

    # The prompt parses, renders and lints clean apart from the placeholders.
    code, report = lint_json(run_pdd, git_repo)
    assert code == 0, report
    assert report["errors"] == 0
    assert {f["rule"] for f in report["findings"]} == {"tests-placeholder", "section-hint"}
    placeholders = [f for f in report["findings"] if f["rule"] == "tests-placeholder"]
    assert {f["file"] for f in placeholders} == {"behavior_tests/test_money.py", "behavior_tests/test_invoice.py"}

    # The behavior test fails until someone writes the acceptance tests.
    namespace: dict = {}
    source = (git_repo / "behavior_tests/test_invoice.py").read_text()
    exec(compile(source, "test_invoice.py", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    assert len(tests) == 1
    with pytest.raises(pytest.fail.Exception, match="write the acceptance tests of billing/invoice"):
        tests[0]()


def test_new_refuses_to_overwrite_and_validates(git_repo, run_pdd):
    assert run_pdd(git_repo, "new", "shop/cart").returncode == 0
    prompt_file = git_repo / "prompts/shop/cart.prompt"
    prompt_file.write_text(prompt_file.read_text() + "\nmy edits\n")
    before = prompt_file.read_text()

    proc = run_pdd(git_repo, "new", "shop/cart")
    assert proc.returncode == 2
    assert "already exists" in proc.stderr
    assert prompt_file.read_text() == before

    # An existing (unclaimed) test file is not overwritten either; nothing is written.
    write_file(git_repo, "behavior_tests/test_order.py", "def test_x():\n    pass\n")
    proc = run_pdd(git_repo, "new", "shop/order")
    assert proc.returncode == 2 and "test_order.py already exists" in proc.stderr
    assert not (git_repo / "prompts/shop/order.prompt").exists()

    for bad, message in [("shop/Bad-Name", "not a valid Python module name"), ("_shared/x", "fragments"),
                         ("shop/class", "not a valid Python module name"), ("shop", "package of existing module")]:
        proc = run_pdd(git_repo, "new", bad)
        assert proc.returncode == 2, (bad, proc.stdout)
        assert message in proc.stderr, (bad, proc.stderr)
    proc = run_pdd(git_repo, "new", "shop/pay", "--depends", "shop/nothing")
    assert proc.returncode == 2 and "unknown dependency 'shop/nothing'" in proc.stderr
    assert not (git_repo / "prompts/shop/pay.prompt").exists()

    # Same stem in another package: the default test path is taken, so it declares its own.
    proc = run_pdd(git_repo, "new", "billing/cart")
    assert proc.returncode == 0, proc.stderr
    assert "behavior_tests/test_billing_cart.py" in proc.stdout
    assert "tests: [behavior_tests/test_billing_cart.py]" in (git_repo / "prompts/billing/cart.prompt").read_text()


def test_new_uses_the_project_template_override(git_repo, run_pdd):
    write_file(git_repo, "prompts/_templates/prompt.prompt.j2", """\
        ---
        depends: [{{ depends | join(", ") }}]
        ---
        # {{ name }} (house style)

        ## Goal
        <!-- hint: goal -->
        """)
    proc = run_pdd(git_repo, "new", "house/thing")
    assert proc.returncode == 0, proc.stderr
    assert "prompts/_templates/prompt.prompt.j2" in proc.stdout
    assert "(house style)" in (git_repo / "prompts/house/thing.prompt").read_text()
    # The override lives in a fragment folder: it is not a module.
    code, report = lint_json(run_pdd, git_repo)
    assert report["modules"] == ["house/thing"]

    # A template producing a broken prompt writes nothing.
    write_file(git_repo, "prompts/_templates/prompt.prompt.j2", "---\ndepends: [oops\n---\n# x\n")
    proc = run_pdd(git_repo, "new", "house/other")
    assert proc.returncode == 2 and "broken prompt" in proc.stderr
    assert not (git_repo / "prompts/house/other.prompt").exists()
    assert not (git_repo / "behavior_tests/test_other.py").exists()


# ---------------------------------------------------------------------------
# pdd lint
# ---------------------------------------------------------------------------


def _crafted_project(repo: Path) -> None:
    """One module per rule, each breaking exactly that rule."""
    write_file(repo, "prompts/ok/base.prompt", prompt("ok/base"), dedent=False)
    write_file(repo, "behavior_tests/test_base.py", GOOD_TEST)
    write_file(repo, "generated/ok/__init__.py", "")
    write_file(repo, "generated/ok/base.py", "def f(x: int) -> int:\n    return x + 1\n")

    no_scope = SECTIONS_OK.replace("## Out of scope\n\nEverything else.\n\n", "").replace("## Goal\n\nProvide {name}.\n\n", "")
    write_file(repo, "prompts/r/missing.prompt", prompt("r/missing", no_scope), dedent=False)
    write_file(repo, "behavior_tests/test_missing.py", GOOD_TEST)

    empty = SECTIONS_OK.replace("A non-int `x` raises `TypeError`.\n", "")
    write_file(repo, "prompts/r/empty.prompt", prompt("r/empty", empty), dedent=False)
    write_file(repo, "behavior_tests/test_empty.py", GOOD_TEST)

    write_file(repo, "prompts/r/notests.prompt", prompt("r/notests"), dedent=False)

    write_file(repo, "prompts/r/zero.prompt", prompt("r/zero"), dedent=False)
    write_file(repo, "behavior_tests/test_zero.py", "from generated.r.zero import f  # not built yet: fine\n\nX = 1\n")

    write_file(repo, "prompts/r/unbuilt.prompt", prompt("r/unbuilt"), dedent=False)
    write_file(repo, "behavior_tests/test_unbuilt.py",
               "from generated.r.unbuilt import f\n\n\ndef test_f():\n    assert f(1) == 2\n")

    write_file(repo, "prompts/r/broken.prompt", prompt("r/broken"), dedent=False)
    write_file(repo, "behavior_tests/test_broken.py", "def test_(:\n    pass\n")

    inc = SECTIONS_OK + '\n{{% include "_shared/nope.md" %}}\n'
    write_file(repo, "prompts/r/include.prompt", prompt("r/include", inc), dedent=False)
    write_file(repo, "behavior_tests/test_include.py", GOOD_TEST)

    write_file(repo, "prompts/r/unused.prompt", prompt("r/unused", front="depends: [ok/base]"), dedent=False)
    write_file(repo, "behavior_tests/test_unused.py", GOOD_TEST)
    write_file(repo, "generated/r/__init__.py", "")
    write_file(repo, "generated/r/unused.py", "import json\n\n\ndef g() -> str:\n    return json.dumps(1)\n")

    write_file(repo, "prompts/r/undeclared.prompt", prompt("r/undeclared"), dedent=False)
    write_file(repo, "behavior_tests/test_undeclared.py", GOOD_TEST)
    write_file(repo, "generated/r/undeclared.py",
               "from __future__ import annotations\n\nfrom generated.ok.base import f\n\n\ndef g() -> int:\n    return f(1)\n")

    no_goal = SECTIONS_OK.replace("## Goal\n\nProvide {name}.\n\n", "")
    write_file(repo, "prompts/r/warnonly.prompt",
               prompt("r/warnonly", no_goal, front="depends: []\nlint: {disable: [no-tests]}"), dedent=False)

    big = SECTIONS_OK.replace("Everything else.", "Everything else. " + "x" * 1000)
    write_file(repo, "prompts/r/big.prompt", prompt("r/big", big), dedent=False)
    write_file(repo, "behavior_tests/test_big.py", GOOD_TEST)

    config = repo / ".pdd/config.yaml"
    config.write_text(config.read_text() + "\nlint:\n  max_prompt_chars: 600\n")


def test_each_lint_rule_fires_on_a_crafted_prompt(git_repo, run_pdd):
    _crafted_project(git_repo)
    code, report = lint_json(run_pdd, git_repo)
    assert code == 2, report  # the crafted include-missing is bad input (exit 2)
    rules = by_rule(report)

    def only(rule: str) -> list[dict]:
        return rules.get(rule, [])

    missing = [f for f in only("section-missing") if f["module"] != "r/warnonly"]
    assert {(f["file"], f["severity"]) for f in missing} == {
        ("prompts/r/missing.prompt", "error"), ("prompts/r/missing.prompt", "warning")}
    assert any("'Out of scope'" in f["message"] and f["severity"] == "error" for f in missing)
    assert any("'Goal'" in f["message"] and f["severity"] == "warning" for f in missing)

    (empty,) = only("section-empty")
    assert empty["file"] == "prompts/r/empty.prompt" and empty["severity"] == "error"
    assert "'Failure modes'" in empty["message"]
    lines = (git_repo / "prompts/r/empty.prompt").read_text().splitlines()
    assert lines[empty["line"] - 1] == "## Failure modes"

    (notests,) = only("no-tests")
    assert notests["file"] == "prompts/r/notests.prompt" and "behavior_tests/test_notests.py" in notests["message"]

    (zero,) = only("tests-collect-zero")
    assert zero["file"] == "behavior_tests/test_zero.py" and zero["module"] == "r/zero"

    (broken,) = only("tests-collect-error")
    assert broken["file"] == "behavior_tests/test_broken.py" and "SyntaxError" in broken["message"]

    (inc,) = only("include-missing")
    assert inc["file"] == "prompts/r/include.prompt" and "_shared/nope.md" in inc["message"]
    lines = (git_repo / "prompts/r/include.prompt").read_text().splitlines()
    assert "nope.md" in lines[inc["line"] - 1]

    (unused,) = only("dep-unused")
    assert unused["file"] == "prompts/r/unused.prompt" and unused["line"] == 2 and "ok/base" in unused["message"]
    assert unused["severity"] == "warning"

    (undeclared,) = only("import-undeclared")
    assert undeclared["file"] == "generated/r/undeclared.py" and undeclared["line"] == 3
    assert "generated.ok.base" in undeclared["message"] and "ok/base" in undeclared["message"]

    (big,) = only("prompt-too-large")
    assert big["file"] == "prompts/r/big.prompt" and "600" in big["message"]

    # The good module, and the unbuilt module whose tests import generated code, are quiet.
    assert not [f for f in report["findings"] if f["module"] in ("ok/base", "r/unbuilt")]
    assert report["errors"] == sum(1 for f in report["findings"] if f["severity"] == "error")

    # Naming modules restricts the lint; warnings alone exit 0.
    (warn,) = [f for f in report["findings"] if f["module"] == "r/warnonly"]
    assert warn["rule"] == "section-missing" and warn["severity"] == "warning"
    code, sub = lint_json(run_pdd, git_repo, "prompts/r/warnonly.prompt")
    assert code == 0 and sub["modules"] == ["r/warnonly"] and sub["findings"] == [warn]

    # Text and github formats.
    proc = run_pdd(git_repo, "lint", "r/notests", "r/warnonly")
    assert proc.returncode == 1
    assert (f"prompts/r/notests.prompt:{notests['line']}: error: no behavior tests: behavior_tests/test_notests.py "
            "does not exist") in proc.stdout
    assert f"prompts/r/warnonly.prompt:{warn['line']}: warning: section 'Goal' is missing" in proc.stdout
    assert "1 error(s), 1 warning(s) in 2 modules" in proc.stderr
    proc = run_pdd(git_repo, "lint", "--format", "github", "r/notests", "r/warnonly")
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    assert len(out) == 2
    assert out[0].startswith(f"::error file=prompts/r/notests.prompt,line={notests['line']},title=pdd lint no-tests::"
                             "no behavior tests: behavior_tests/test_notests.py does not exist")
    assert out[0].endswith("[no-tests]")
    assert out[1].startswith(f"::warning file=prompts/r/warnonly.prompt,line={warn['line']},"
                             "title=pdd lint section-missing::section 'Goal' is missing")


def test_rules_can_be_disabled_per_prompt(git_repo, run_pdd):
    _crafted_project(git_repo)
    for name, rule in [("r/notests", "no-tests"), ("r/big", "prompt-too-large"), ("r/unused", "dep-unused"),
                       ("r/missing", "section-missing")]:
        path = git_repo / f"prompts/{name}.prompt"
        text = path.read_text()
        path.write_text(text.replace("---\n", f"---\nlint: {{disable: [{rule}]}}\n", 1))
    code, report = lint_json(run_pdd, git_repo, "r/notests", "r/big", "r/unused", "r/missing")
    assert code == 0 and report["findings"] == [], report

    # An unknown rule id is an input error at the key's line; the build refuses it too.
    path = git_repo / "prompts/r/big.prompt"
    path.write_text(path.read_text().replace("[prompt-too-large]", "[prompt-too-large, no-such-rule]"))
    code, report = lint_json(run_pdd, git_repo, "r/big")
    assert code == 2
    (bad,) = report["findings"]
    assert bad["rule"] == "prompt-invalid" and bad["file"] == "prompts/r/big.prompt" and bad["line"] == 2
    assert "no-such-rule" in bad["message"]
    proc = run_pdd(git_repo, "build", "r/big")
    assert proc.returncode == 2 and "prompts/r/big.prompt:2" in proc.stderr and "no-such-rule" in proc.stderr


def test_lint_is_quiet_on_a_clean_project_and_rejects_bad_input(git_repo, run_pdd):
    for name in ("a/one", "a/two"):
        write_file(git_repo, f"prompts/{name}.prompt", prompt(name, front=f"depends: [{'a/one' if name == 'a/two' else ''}]"),
                   dedent=False)
        write_file(git_repo, f"behavior_tests/test_{name.split('/')[1]}.py", GOOD_TEST)
    write_file(git_repo, "generated/a/__init__.py", "")
    write_file(git_repo, "generated/a/one.py", "def f(x: int) -> int:\n    return x + 1\n")
    write_file(git_repo, "generated/a/two.py", "from generated.a import one\n\n\ndef g() -> int:\n    return one.f(1)\n")
    proc = run_pdd(git_repo, "lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == ""
    assert "0 error(s), 0 warning(s) in 2 modules" in proc.stderr

    proc = run_pdd(git_repo, "lint", "a/nothing")
    assert proc.returncode == 2 and "no module named 'a/nothing'" in proc.stderr
    proc = run_pdd(git_repo, "lint", "--format", "xml")
    assert proc.returncode == 2 and "unknown format" in proc.stderr
    config = git_repo / ".pdd/config.yaml"
    config.write_text(config.read_text() + "\nlint:\n  max_prompt_chars: many\n")
    proc = run_pdd(git_repo, "lint")
    assert proc.returncode == 2 and "max_prompt_chars" in proc.stderr


@pytest.mark.skipif(not (REPO_ROOT / "prompts").is_dir(), reason="the example project is not there")
def test_the_example_project_lints_clean(run_pdd):
    code, report = lint_json(run_pdd, REPO_ROOT)
    assert report["modules"], report
    assert report["findings"] == [], "\n".join(
        f"{f['file']}:{f['line']}: {f['severity']}: {f['message']} [{f['rule']}]" for f in report["findings"])
    assert code == 0
