"""The differential engine: in-process tests of the runner's parts, and :func:`pdd.differential.compare`
through its real subprocess."""

from __future__ import annotations

import itertools
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import fresh_python
from pdd import differential_runner as runner
from pdd.differential import EngineOptions, Implementation, compare, difference_text

MODULE = "generated.demo.mod"
_counter = itertools.count(100)


def _load(tmp_path: Path, *sources: str):
    """Load ``sources`` side by side as the runner does; ``[(index, module)]``."""
    out = []
    for src in sources:
        i = next(_counter)
        path = tmp_path / f"impl_{i}.py"
        path.write_text(textwrap.dedent(src), encoding="utf-8")
        out.append((i, runner.load_candidate(i, str(path), MODULE)))
    return out


def _compare_in_process(tmp_path, a: str, b: str, *, tests=(), texts=(), max_examples=60, target=None):
    cands = _load(tmp_path, a, b)
    strs, ints, floats = runner.literals([textwrap.dedent(a), textwrap.dedent(b)], list(tests), list(texts))
    ctx = runner.Context(cands[0][1], strs, ints, floats)
    cfg = {"max_examples": max_examples, "seed": 0,
           "candidates": [{"index": cands[0][0], "label": "base"}, {"index": cands[1][0], "label": "head"}]}
    targets = runner.public_targets(cands[0][1], textwrap.dedent(a))
    return {t.name: runner.compare_target(t, cands, ctx, cfg) for t in targets if target in (None, t.name)}


# ---------------------------------------------------------------------------
# Literals and their mutations
# ---------------------------------------------------------------------------


def test_mutations_cover_digits_separators_whitespace_case_and_empty():
    m = runner.mutations("555-123-4567")
    assert {"5551234567", "555--123--4567", " 555-123-4567 ", "\t555-123-4567\n", ""} <= m
    assert {"ABC", "abc", "aBc"} <= runner.mutations("AbC")


@given(st.text(max_size=40))
def test_mutations_always_hold_the_text_and_empty_and_digits_are_digits(text):
    m = runner.mutations(text)
    assert text in m and "" in m
    digits = re.sub(r"[^0-9]", "", text)
    assert (digits in m) if digits else True
    assert all(len(v) <= 2 * len(text) + 2 for v in m)


def test_literals_come_from_tests_and_prompt_examples_too_and_may_be_long():
    long = "the quick brown fox jumps over the lazy dog, twice over"
    tests = f"def test_x():\n    assert f({long!r}) == 1\n    assert g(4096) == 2\n"
    prompt = 'Parse amounts such as `parse("1,5")`; at most 250 of them; ratio 0.25.'
    strs, ints, floats = runner.literals(["X = 'code'\n"], [tests], [prompt])
    assert {"code", long, long.upper(), "1,5", "15", 'parse("1,5")'} <= set(strs)
    assert {4096, 4097, -4096, 250, 251, 2**31 - 1, -2**63} <= set(ints)
    assert 0.25 in floats
    assert strs == sorted(strs, key=lambda v: (len(v), v))  # simplest first: hypothesis shrinks that way


def test_sweep_puts_each_literal_in_each_parameter(tmp_path):
    ((_, mod),) = _load(tmp_path, "def f(a: str, b: int, flag: bool = False) -> str:\n    return a * b\n")
    ctx = runner.Context(mod, ["", "x", "yy"], [0, 1], [])
    calls = runner.sweep_calls(runner.Target("f", "function", attr="f"), mod, ctx)
    shown = [runner.Target("f", "function", attr="f").show(c) for c in calls]
    assert shown == ["f('', 0, False)", "f('x', 0, False)", "f('', 1, False)", "f('', 0, True)", "f('yy', 0, False)"]


# ---------------------------------------------------------------------------
# Differences, agreement, side effects
# ---------------------------------------------------------------------------

PHONE_A = '''
def normalize(phone: str) -> str:
    """Digits of a phone number, grouped 3-3-4."""
    digits = "".join(c for c in phone if c.isdigit())
    if len(digits) != 10:
        raise ValueError("need ten digits")
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
'''

# head: a digits-only input is returned as is
PHONE_B = PHONE_A.replace('    digits = "".join', '    if phone.isdigit() and len(phone) == 10:\n        return phone\n    digits = "".join')

PHONE_TESTS = 'def test_dashes():\n    assert normalize("555-123-4567") == "555-123-4567"\n'


def test_digits_only_difference_is_found_from_a_test_literal(tmp_path):
    res = _compare_in_process(tmp_path, PHONE_A, PHONE_B, tests=[PHONE_TESTS])["normalize"]
    assert res["status"] == "disagree" and res["confirmed"] is True
    assert res["call"] == "normalize('5551234567')"
    assert difference_text(res) == "normalize('5551234567'): base returns '555-123-4567', head returns '5551234567'"


LONG = "the quick brown fox jumps over the lazy dog, twice over"
ECHO_A = "def shout(text: str) -> str:\n    return text.upper()\n"
ECHO_B = ECHO_A.replace("    return", "    if len(text) > 40 and text.count(' ') >= 8:\n        return text\n    return")


def test_long_literal_of_a_behavior_test_reveals_a_difference_random_text_misses(tmp_path):
    tests = f"def test_it():\n    assert shout({LONG!r})\n"
    found = _compare_in_process(tmp_path, ECHO_A, ECHO_B, tests=[tests])["shout"]
    assert found["status"] == "disagree" and found["call"] == f"shout({LONG!r})"
    # the same comparison without the test's literals: the difference goes unseen
    missed = _compare_in_process(tmp_path, ECHO_A, ECHO_B, max_examples=200)["shout"]
    assert missed["status"] == "agree" and missed["examples"] >= 200


def test_equivalent_rewrite_agrees_with_an_honest_example_count(tmp_path):
    rewrite = '''
def normalize(phone: str) -> str:
    digits = [c for c in phone if c in "0123456789" or c.isdigit()]
    if len(digits) == 10:
        return "".join(digits[:3]) + "-" + "".join(digits[3:6]) + "-" + "".join(digits[6:])
    raise ValueError("ten digits please")
'''
    res = _compare_in_process(tmp_path, PHONE_A, rewrite, tests=[PHONE_TESTS], max_examples=80)["normalize"]
    assert res["status"] == "agree"
    assert res["examples"] >= 80  # the literal sweep, then the hypothesis budget


def test_exception_type_difference(tmp_path):
    a = "def half(x: int) -> int:\n    if x % 2:\n        raise ValueError(x)\n    return x // 2\n"
    b = a.replace("ValueError", "TypeError")
    res = _compare_in_process(tmp_path, a, b)["half"]
    assert res["status"] == "disagree" and res["call"] == "half(1)"
    assert difference_text(res) == "half(1): base raises ValueError, head raises TypeError"


def test_mutation_of_an_argument_is_a_difference(tmp_path):
    a = "def ordered(xs: list[int]) -> list[int]:\n    return sorted(xs)\n"
    b = "def ordered(xs: list[int]) -> list[int]:\n    xs.sort()\n    return xs\n"
    res = _compare_in_process(tmp_path, a, b)["ordered"]
    assert res["status"] == "disagree"
    assert re.fullmatch(r"ordered\(\[(-?\d+), (-?\d+)\]\)", res["call"]), res["call"]
    text = difference_text(res)
    assert "head returns [" in text and "and changes argument 1 to [" in text, text
    # an in-place sort that restores its argument is not a mutation
    c = "def ordered(xs: list[int]) -> list[int]:\n    ys = list(xs)\n    ys.sort()\n    return ys\n"
    assert _compare_in_process(tmp_path, a, c)["ordered"]["status"] == "agree"


@pytest.mark.parametrize("body", [
    "import random\n\ndef roll(n: int) -> float:\n    return random.random() + n\n",
    "import time\n\ndef stamp(n: int) -> int:\n    return time.perf_counter_ns() + n\n",
    "_seen = []\n\ndef count(n: int) -> int:\n    _seen.append(n)\n    return len(_seen)\n",
])
def test_nondeterministic_or_stateful_functions_are_not_compared(tmp_path, body):
    (res,) = _compare_in_process(tmp_path, body, body).values()
    assert res["status"] == "nondeterministic", res
    assert "base gives different results for the same input" in res["reason"]
    assert "outcomes" not in res  # not reported as a difference


def test_confirmation_rejects_a_difference_that_does_not_reproduce(tmp_path):
    src = "FLAG = [0]\n\ndef f(x: int) -> int:\n    return x + FLAG[0]\n"
    (ia, a), (ib, b) = _load(tmp_path, src, src)
    target = runner.Target("f", "function", attr="f")
    call = runner.Call(None, (runner.Val(1),), ())
    b.FLAG[0] = 1
    outcomes = [(ia, runner.run_call(target, call, a, 1.0)), (ib, runner.run_call(target, call, b, 1.0))]
    assert outcomes[0][1].key != outcomes[1][1].key
    assert runner._confirmed(target, call, outcomes, [(ia, a), (ib, b)], 1.0)
    b.FLAG[0] = 0  # the "difference" is gone on a re-run
    assert not runner._confirmed(target, call, outcomes, [(ia, a), (ib, b)], 1.0)


def test_fixed_seed_reproduces_the_run(tmp_path):
    a = "def clip(x: int, hi: int) -> int:\n    return min(x, hi)\n"
    b = "def clip(x: int, hi: int) -> int:\n    return x if x < hi else hi - (x > 10**6)\n"
    first = _compare_in_process(tmp_path, a, b)["clip"]
    again = _compare_in_process(tmp_path, a, b)["clip"]
    assert first["status"] == "disagree"
    assert (first["call"], first["examples"], difference_text(first)) == \
        (again["call"], again["examples"], difference_text(again))


# ---------------------------------------------------------------------------
# compare(): the real subprocess
# ---------------------------------------------------------------------------


def test_compare_runs_n_implementations_in_a_subprocess(tmp_path):
    impls = [Implementation(1, "base", textwrap.dedent(PHONE_A)), Implementation(2, "head", textwrap.dedent(PHONE_B)),
             Implementation(3, "hand-written", textwrap.dedent(PHONE_A))]
    out = compare(impls, module=MODULE, deps_root=tmp_path, tests=[PHONE_TESTS],
                  options=EngineOptions(max_examples=30, seed=3))
    assert out.problem is None and out.seed == 3 and out.max_examples == 30
    (t,) = out.differences
    assert t["call"] == "normalize('5551234567')"
    assert {tuple(o["labels"]) for o in t["outcomes"]} == {("base", "hand-written"), ("head",)}
    assert difference_text(t) == ("normalize('5551234567'): base and hand-written returns '555-123-4567', "
                                  "head returns '5551234567'")


def test_compare_reports_a_broken_implementation_and_does_not_leak_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    spy = "import os\nLEAK = os.environ.get('OPENAI_API_KEY')\n\ndef f(x: int) -> int:\n    return x\n"
    out = compare([Implementation(1, "base", spy), Implementation(2, "head", "def f(x: int) -> int:\n    return (\n")],
                  module=MODULE, deps_root=tmp_path, options=EngineOptions(max_examples=5))
    assert out.import_failures == 1 and "head cannot be imported: SyntaxError" in out.notes[0]["reason"]
    out = compare([Implementation(1, "base", spy), Implementation(2, "head", spy.replace("LEAK =", "LEAK = 1 or"))],
                  module=MODULE, deps_root=tmp_path, options=EngineOptions(max_examples=5))
    leak = {t["target"]: t for t in out.targets}["LEAK"]
    assert leak["status"] == "disagree"  # base sees None (the key is not passed on), head sees 1
    assert {o["repr"] for o in leak["outcomes"]} == {"None", "1"}


def test_compare_times_out_cleanly(tmp_path):
    slow = "import time\ntime.sleep(30)\n\ndef f(x: int) -> int:\n    return x\n"
    out = compare([Implementation(1, "base", slow), Implementation(2, "head", slow)], module=MODULE,
                  deps_root=tmp_path, options=EngineOptions(timeout=2))
    assert out.problem and "timed out after 2 s" in out.problem and out.targets == []


def test_the_parent_side_does_not_import_hypothesis():
    code = "import sys, pdd.differential, pdd.diff; print('hypothesis' in sys.modules)"
    assert fresh_python(code) == "False"


# ---------------------------------------------------------------------------
# pdd diff's pure parts: prompt hunks per section, interface diff
# ---------------------------------------------------------------------------


def test_prompt_hunks_are_filed_under_their_sections():
    from pdd.diff import prompt_diff

    base = "---\n# a YAML comment, not a heading\ndepends: []\n---\n# Goal\nParse.\n\n## Failure modes\nRaise.\n"
    head = base.replace("depends: []", "depends: [x]").replace("Raise.", "Raise ValueError.")
    hunks = prompt_diff(base, head, "prompts/p.prompt")
    assert [(h["section"], h["head_line"]) for h in hunks] == [("front matter", 3), ("Failure modes", 9)]
    assert "-Raise.\n+Raise ValueError." in hunks[1]["diff"]
    removed = prompt_diff(base, base.replace("## Failure modes\nRaise.\n", ""), "p")
    assert [h["section"] for h in removed] == ["Failure modes"]  # a pure deletion: the base side's section


def test_interface_diff_flags_removals_and_signature_changes_as_breaking():
    from pdd.diff import interface_diff

    base = "def f(x: int) -> int:\n    return x\n\ndef g() -> None:\n    pass\n\nclass C:\n    def m(self, a: str) -> str:\n        return a\n\nRATE = 1\n"
    head = base.replace("def g() -> None:\n    pass\n", "def h() -> None:\n    pass\n").replace(
        "def m(self, a: str)", "def m(self, a: str, b: int = 0)").replace("return x\n", "return x + 1\n")
    d = interface_diff(base, head)
    assert d["added"] == ["h"] and d["removed"] == ["g"]
    assert d["changed"] == [{"name": "C.m", "base": "def m(self, a: str) -> str",
                             "head": "def m(self, a: str, b: int=0) -> str"}]
    assert d["breaking"] == ["C.m", "g"]
    assert interface_diff(base, base)["breaking"] == []  # a body change is not an interface change


# --- requirement changes in pdd diff ------------------------------------------------

BASE_PROMPT = """---
tests: [behavior_tests/test_rate.py]
---
# Rate
## Acceptance
- [A1] The 61st request within 60 s is refused.
- [A2] Limits are per user.
"""

HEAD_PROMPT = BASE_PROMPT.replace("The 61st request within 60 s", "The 101st request within 60 s").replace(
    "- [A2] Limits are per user.\n", "- [A3] A zero limit is a ValueError.\n")

CITING_TESTS = """import pytest

@pytest.mark.req("A1")
def test_refuses_over_limit():
    pass

@pytest.mark.req("A2")
def test_per_user():
    pass
"""


def test_requirement_changes_flag_a_reworded_promise_whose_tests_did_not_change():
    from pdd.diff import ModuleDiff, _requirement_lines, requirement_changes

    same = {"behavior_tests/test_rate.py": CITING_TESTS}
    r = requirement_changes(BASE_PROMPT, HEAD_PROMPT, same, same)
    assert [e["id"] for e in r["added"]] == ["A3"] and r["added"][0]["tests"] == []
    assert [e["id"] for e in r["removed"]] == ["A2"]
    assert r["removed"][0]["tests"] == ["behavior_tests/test_rate.py::test_per_user"]
    (reworded,) = r["reworded"]
    assert reworded["id"] == "A1" and "61st" in reworded["base_text"] and "101st" in reworded["text"]
    assert reworded["tests"] == ["behavior_tests/test_rate.py::test_refuses_over_limit"]
    assert reworded["tests_unchanged"] is True
    m = ModuleDiff("rate", "changed", "prompts/rate.prompt", "generated/rate.py", requirements=r)
    text = "\n".join(_requirement_lines(m))
    assert "reworded [A1]" in text and "NONE OF ITS TESTS CHANGED" in text and "added [A3]" in text
    # the test citing A1 changed too: reworded, but not flagged
    changed = {"behavior_tests/test_rate.py": CITING_TESTS.replace("pass", "assert True", 1)}
    assert requirement_changes(BASE_PROMPT, HEAD_PROMPT, same, changed)["reworded"][0]["tests_unchanged"] is False
    # nothing changed: nothing listed; no prompt on either side: None
    assert requirement_changes(BASE_PROMPT, BASE_PROMPT, same, same) == {"added": [], "removed": [], "reworded": []}
    assert requirement_changes(None, None, {}, {}) is None
