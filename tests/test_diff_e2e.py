"""`pdd diff` through the real CLI in temporary git repositories (fake model server for the builds)."""

from __future__ import annotations

import json
import re

from conftest import FAST_BEHAVIOR_TESTS, commit_all, git, write_prompt, write_test

PARSE_PROMPT = """\
# Goal

Parse amounts such as `parse("1,5")`: the decimal separator is `{sep}`.

## Inputs / Outputs

`parse(text: str) -> Decimal`; `parse_many(texts: list[str]) -> list[Decimal]`.

## Constraints

Standard library only.

## Failure modes

Anything else raises ValueError.

## Out of scope

Thousands separators.

## Acceptance

`parse("2") == Decimal(2)`.
"""

PARSE_COMMA = '''\
"""Amounts with a comma decimal separator."""
from decimal import Decimal, InvalidOperation


def parse(text: str) -> Decimal:
    """The amount ``text`` ("1,5"); ValueError for anything else."""
    cleaned = text.strip().replace(",", ".", 1)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    return value


def parse_many(texts: list[str]) -> list[Decimal]:
    """Each of ``texts`` parsed."""
    return [parse(t) for t in texts]
'''

# Same behavior, different code: a reworded prompt regenerated.
PARSE_COMMA_REWRITE = '''\
"""Amounts; the decimal separator is a comma."""
from decimal import Decimal, InvalidOperation


def _to_decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("NaN")


def parse(text: str) -> Decimal:
    """Parse ``text``; ValueError when it is not an amount."""
    head, sep, tail = text.strip().partition(",")
    value = _to_decimal(head + ("." if sep else "") + tail)
    if value.is_nan() or value.is_infinite():
        raise ValueError("not an amount: " + repr(text))
    return value


def parse_many(texts: list[str]) -> list[Decimal]:
    """Parse every text."""
    out = []
    for t in texts:
        out.append(parse(t))
    return out
'''

# The one-character spec change (separator "." instead of ","), and code that follows it.
PARSE_DOT = PARSE_COMMA.replace('.replace(",", ".", 1)', "").replace('("1,5")', '("1.5")').replace(
    "a comma decimal", "a dot decimal")

REPORT_CODE = '''\
"""Totals of amounts."""
from decimal import Decimal

from generated.calc.parse import parse_many


def total(texts: list[str]) -> Decimal:
    """The sum of the amounts."""
    return sum(parse_many(texts), Decimal(0))
'''

PARSE_TESTS = """\
from decimal import Decimal

from generated.calc.parse import parse


def test_whole():
    assert parse("2") == Decimal(2)
"""


def _setup(repo, run_pdd, answers, code=PARSE_COMMA):
    write_prompt(repo, "calc/parse", PARSE_PROMPT.format(sep=","))
    write_prompt(repo, "calc/report", "# Goal\nSum amounts with `total(texts)`.\n", depends=["calc/parse"],
                 tests=[], front="untested_reason: a thin sum over calc/parse, whose tests cover the parsing")
    write_test(repo, "parse", PARSE_TESTS)
    answers["calc/parse"] = code
    answers["calc/report"] = REPORT_CODE
    proc = run_pdd(repo, "build", env=FAST_BEHAVIOR_TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return commit_all(repo, "base")


def _rebuild(repo, run_pdd, answers, prompt, code):
    write_prompt(repo, "calc/parse", prompt)
    answers["calc/parse"] = code
    proc = run_pdd(repo, "build", "calc/parse", env=FAST_BEHAVIOR_TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_behavior_change_is_reported_with_a_concrete_input(git_repo, run_pdd, answers):
    base = _setup(git_repo, run_pdd, answers)
    _rebuild(git_repo, run_pdd, answers, PARSE_PROMPT.format(sep="."), PARSE_DOT)

    proc = run_pdd(git_repo, "diff", "--format", "json", "--max-examples", "60", env=FAST_BEHAVIOR_TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["base"] == base and data["head"] == "working tree"
    assert data["max_examples"] == 60 and data["seed"] == 0
    (mod,) = data["modules"]  # calc/report did not change
    assert mod["module"] == "calc/parse" and mod["status"] == "changed"
    assert mod["prompt"]["sections"] == ["Goal"]
    assert any("+" in h["diff"] and "`.`" in h["diff"] for h in mod["prompt"]["hunks"])
    assert mod["interface"]["breaking"] == []
    diffs = {d["target"]: d for d in mod["behavior"]["differences"]}
    assert set(diffs) == {"parse", "parse_many"}
    call = diffs["parse"]["call"]
    assert re.fullmatch(r"parse\('.*,.*'\)", call), call
    assert re.search(r"base returns Decimal\('.*'\), head raises ValueError", diffs["parse"]["text"]), diffs
    target = next(t for t in mod["behavior"]["targets"] if t["target"] == "parse")
    assert target["confirmed"] is True
    assert mod["tests"]["result"]["status"] == "passed"
    assert [t["status"] for t in mod["tests"]["files"]] == ["unchanged"]
    prov = mod["provenance"]
    assert prov["base"]["genuine"] and prov["head"]["genuine"]
    assert prov["base"]["model"] == prov["head"]["model"] == "fake-model"
    assert prov["base"]["fingerprint"] != prov["head"]["fingerprint"]
    assert mod["requirements"] == {"added": [], "removed": [], "reworded": []}  # the prompt has no ids

    # the gate: behavior differences fail --fail-on behavior, not --fail-on breaking
    assert run_pdd(git_repo, "diff", "--fail-on", "breaking", "--max-examples", "30", "--no-tests").returncode == 0
    proc = run_pdd(git_repo, "diff", "--fail-on", "behavior", "--max-examples", "30", "--no-tests")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "DIFFERENT parse('" in proc.stdout and "head raises ValueError" in proc.stdout

    # markdown: a PR comment with a collapsible section per module
    proc = run_pdd(git_repo, "diff", "--format", "markdown", "--max-examples", "30", "--no-tests")
    assert proc.returncode == 0
    md = proc.stdout
    assert md.count("<details>") == md.count("</details>") == 1
    row = next(ln for ln in md.splitlines() if ln.startswith("| `calc/parse`"))
    assert [c.strip() for c in row.strip("|").split("|")] == ["`calc/parse`", "changed", "0", "2"]
    assert "```diff" in md and "@@ Goal" in md

    # github: annotations on the changed prompt line
    proc = run_pdd(git_repo, "diff", "--format", "github", "--max-examples", "30", "--no-tests")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("::notice"))
    assert line.startswith("::notice file=prompts/calc/parse.prompt,line=3,")
    assert sum(ln.startswith("::warning") for ln in proc.stdout.splitlines()) == 2

    # the same run twice gives the same report (fixed seed)
    a = run_pdd(git_repo, "diff", "--format", "json", "--max-examples", "30", "--no-tests").stdout
    b = run_pdd(git_repo, "diff", "--format", "json", "--max-examples", "30", "--no-tests").stdout
    assert json.loads(a) == json.loads(b)


def test_reworded_prompt_with_equivalent_code_agrees(git_repo, run_pdd, answers):
    _setup(git_repo, run_pdd, answers)
    reworded = PARSE_PROMPT.format(sep=",").replace("Standard library only.", "Use only the standard library.")
    _rebuild(git_repo, run_pdd, answers, reworded, PARSE_COMMA_REWRITE)
    commit_all(git_repo, "reworded")

    proc = run_pdd(git_repo, "diff", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
                   "--max-examples", "80", "--fail-on", "behavior", env=FAST_BEHAVIOR_TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (mod,) = json.loads(proc.stdout)["modules"]
    assert mod["prompt"]["sections"] == ["Constraints"]
    assert mod["behavior"]["differences"] == []
    statuses = {t["target"]: (t["status"], t["examples"]) for t in mod["behavior"]["targets"]}
    assert statuses["parse"][0] == "agree" and statuses["parse"][1] >= 40
    assert statuses["parse_many"][0] == "agree"
    assert mod["tests"]["result"]["status"] == "passed"  # run in an export of HEAD

    text = run_pdd(git_repo, "diff", "--base", "HEAD~1", "--head", "HEAD", "--max-examples", "30", "--no-tests").stdout
    assert re.search(r"same\s+parse: agrees on \d+ example\(s\)", text), text
    assert "0 behavior difference(s)" in text


def test_interface_removal_is_breaking_with_dependents(git_repo, run_pdd, answers):
    _setup(git_repo, run_pdd, answers)
    without = PARSE_COMMA.split("\n\ndef parse_many")[0] + "\n"
    prompt = PARSE_PROMPT.format(sep=",").replace("; `parse_many(texts: list[str]) -> list[Decimal]`", "")
    _rebuild(git_repo, run_pdd, answers, prompt, without)

    proc = run_pdd(git_repo, "diff", "--format", "json", "--no-tests", "--max-examples", "20")
    assert proc.returncode == 0, proc.stderr
    (mod,) = json.loads(proc.stdout)["modules"]
    assert mod["interface"]["removed"] == ["parse_many"] and mod["interface"]["breaking"] == ["parse_many"]
    assert mod["dependents"] == ["calc/report"] and mod["users"] == {"parse_many": ["calc/report"]}
    assert mod["prompt"]["sections"] == ["Inputs / Outputs"]
    assert {t["target"]: t["status"] for t in mod["behavior"]["targets"]}["parse"] == "agree"

    proc = run_pdd(git_repo, "diff", "--fail-on", "breaking", "--no-tests", "--max-examples", "20")
    assert proc.returncode == 1
    assert "- parse_many  BREAKING for dependents calc/report (used by calc/report)" in proc.stdout
    md = run_pdd(git_repo, "diff", "--format", "markdown", "--no-tests", "--max-examples", "20").stdout
    assert "| `calc/parse` | changed | 1 | 0 |" in md


def test_stateful_function_is_not_compared(git_repo, run_pdd, answers):
    _setup(git_repo, run_pdd, answers)
    stateful = PARSE_COMMA.replace(
        "    return [parse(t) for t in texts]\n",
        "    _CALLS.append(1)\n    return [parse(t) for t in texts] + [Decimal(len(_CALLS))]\n\n\n_CALLS = []\n",
    ) + "\n\ndef token(n: int) -> int:\n    return n\n"
    git_repo.joinpath("generated/calc/parse.py").write_text(stateful)  # a hand edit: diff still reviews it
    proc = run_pdd(git_repo, "diff", "calc/parse", "--format", "json", "--no-tests", "--max-examples", "20")
    assert proc.returncode == 0, proc.stderr
    (mod,) = json.loads(proc.stdout)["modules"]
    assert mod["interface"]["added"] == ["token"] and mod["interface"]["breaking"] == []
    assert mod["provenance"]["head"]["genuine"] is False and mod["provenance"]["base"]["genuine"] is True
    targets = {t["target"]: t for t in mod["behavior"]["targets"]}
    assert set(targets) == {"parse", "parse_many"}  # token is on head only: nothing to compare it with
    assert targets["parse"]["status"] == "agree"
    assert targets["parse_many"]["status"] == "nondeterministic"
    assert "head gives different results for the same input" in targets["parse_many"]["reason"]
    assert mod["behavior"]["differences"] == []
    text = run_pdd(git_repo, "diff", "calc/parse", "--no-tests", "--max-examples", "20").stdout
    assert "not compared parse_many: head gives different results for the same input" in text


def test_bad_revision_and_options_exit_2(git_repo, run_pdd, answers):
    _setup(git_repo, run_pdd, answers)
    proc = run_pdd(git_repo, "diff", "--base", "no-such-rev")
    assert proc.returncode == 2 and "--base 'no-such-rev' is not a commit" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_pdd(git_repo, "diff", "--format", "yaml")
    assert proc.returncode == 2 and "unknown --format 'yaml'" in proc.stderr
    proc = run_pdd(git_repo, "diff", "--head", "HEAD", "--worktree")
    assert proc.returncode == 2
    proc = run_pdd(git_repo, "diff", "nope/none")
    assert proc.returncode == 2 and "no module named 'nope/none'" in proc.stderr
    proc = run_pdd(git_repo, "diff")
    assert proc.returncode == 0 and "no module changed" in proc.stdout
    git(git_repo, "checkout", "-q", "-b", "feature")
    assert run_pdd(git_repo, "diff", "calc/parse", "--no-tests").returncode == 0
