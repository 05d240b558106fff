"""Model policy in process: ladder configuration, the attempt schedule, reading review
answers, the cost report's rung/reviewer split and ladder saving, estimate helpers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdd.config import parse_config
from pdd.errors import ConfigError
from pdd.estimate import count_tokens, output_history
from pdd.evidence import cost_report
from pdd.fingerprint import Generator
from pdd.policy import effective_budget, parse_ladder, parse_review, review_items, schedule


def test_schedule_gives_attempts_per_rung_counting_attempts_across_rungs():
    assert list(schedule(("a", "b"), 2)) == [(1, "a", 1), (1, "a", 2), (2, "b", 3), (2, "b", 4)]
    assert list(schedule(("a",), 3)) == [(1, "a", 1), (1, "a", 2), (1, "a", 3)]


def test_config_ladder_and_policy_fields():
    c = parse_config("model: [a, b]\nreview: {model: r, backend: anthropic, block: true}\n"
                     "budget: {max_usd_per_build: 2.5}\n", {})
    assert (c.model, c.ladder, c.review_model, c.review_backend, c.review_block, c.max_usd_per_build) == \
        ("a", ("a", "b"), "r", "anthropic", True, 2.5)
    one = parse_config("model: [a]\n", {})
    assert (one.model, one.ladder) == ("a", ())
    assert parse_config("model: [a, b]\n", {"PDD_MODEL": "x"}).ladder == ()  # the override is one model


@pytest.mark.parametrize("text, words", [
    ("model: []\n", "non-empty"),
    ("model: [a, a]\n", "twice"),
    ("model: [a, '']\n", "model name"),
    ("model: [a]\nreview: {model: a}\n", "own work"),
    ("model: [a, b]\nreview: {model: b, backend: command}\n", "own work"),
    ("review: {block: true}\n", "needs a model"),
    ("review: {model: r, backend: nope}\n", "unknown backend"),
    ("budget: {max_usd_per_build: -1}\n", "max_usd_per_build"),
    ("budget: {max_usd_per_build: yes}\n", "max_usd_per_build"),
])
def test_bad_policy_config_is_a_config_error_naming_the_file(text, words):
    with pytest.raises(ConfigError) as exc:
        parse_config(text, {})
    assert ".pdd/config.yaml" in str(exc.value) and words in str(exc.value)
    assert exc.value.exit_code == 2


def test_the_fingerprint_holds_the_ladder_and_is_unchanged_for_one_model():
    assert Generator("openai", "a", 0.0, 10).to_json()["model"] == "a"
    assert Generator("openai", "a", 0.0, 10, ladder=("a", "b")).to_json()["model"] == ["a", "b"]


def test_effective_budget_is_the_smaller_limit():
    assert effective_budget(None, None) is None
    assert effective_budget(5.0, None) == 5.0 and effective_budget(None, 1.0) == 1.0
    assert effective_budget(5.0, 1.0) == 1.0 and effective_budget(0.5, 1.0) == 0.5


def test_parse_ladder_rejects_non_lists():
    for bad in ("a", [], [1], ["a", "a"], [None]):
        with pytest.raises(ValueError):
            parse_ladder(bad)


# -- review answers -------------------------------------------------------------------------------------------------

def block(obj) -> str:
    return "Here:\n```json\n" + json.dumps(obj) + "\n```\n"


def test_a_contract_review_keeps_the_prompts_order_and_fills_missing_ids():
    text = block({"verdicts": [{"id": "R2", "verdict": "violated", "reason": "no"},
                               {"id": "R9", "verdict": "kept", "reason": "invented"},
                               {"id": "R1", "verdict": "kept", "reason": "yes"}]})
    r = parse_review(text, ["R1", "R2", "R3"], "m")
    assert r.status == "ok"
    assert [(v["id"], v["verdict"]) for v in r.verdicts] == [("R1", "kept"), ("R2", "violated"), ("R3", "unclear")]
    assert [v["id"] for v in r.violated] == ["R2"] and "R2: no" in r.feedback()


@pytest.mark.parametrize("text", [
    "looks fine to me",
    "```json\n{not json}\n```",
    block({"verdict": "kept"}),
    block({"verdicts": [{"id": "R1", "verdict": "great"}]}),
    block({"verdicts": "R1 kept"}),
    block([1, 2]),
    block({"verdicts": []}) + block({"verdicts": []}),
])
def test_anything_else_is_an_unclear_review(text):
    r = parse_review(text, ["R1"], "m")
    assert r.status == "unclear" and r.problem
    assert r.verdicts == [{"id": "R1", "verdict": "unclear", "reason": f"unclear review: {r.problem}"}]
    assert not r.violated


@settings(max_examples=200)
@given(st.one_of(st.text(max_size=300), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.sampled_from(["id", "verdict", "reason", "verdicts"]),
                                                                 c, max_size=4)), max_leaves=12).map(block)))
def test_parse_review_never_raises_and_always_judges_every_id(text):
    r = parse_review(text, ["R1", "R2"], "m")
    assert [v["id"] for v in r.verdicts] == ["R1", "R2"]
    assert all(v["verdict"] in ("kept", "violated", "unclear") for v in r.verdicts)


def test_review_items_are_requirement_ids_else_acceptance_items():
    assert [i for i, _ in review_items("# Acceptance\n- [A1] one\n- [A2] two\n")] == ["A1", "A2"]
    items = review_items("# Goal\n- not this\n\n## Acceptance criteria\n- first\n1. second\n  - nested, not an item\n"
                         "# Out of scope\n- no\n")
    assert items == [("Acceptance 1", "first"), ("Acceptance 2", "second")]
    assert review_items("# Goal\nnothing\n") == []


# -- cost report and history ----------------------------------------------------------------------------------------

PRICES = {"s": {"input": 1.0, "output": 2.0}, "l": {"input": 10.0, "output": 20.0}, "r": {"input": 5.0, "output": 5.0}}


def laddered_run() -> dict:
    rungs = [{"rung": 1, "model": "s", "requests": 2, "cache_hits": 0, "tokens_in": 1000, "tokens_out": 500,
              "cost_usd": 0.002},
             {"rung": 2, "model": "l", "requests": 1, "cache_hits": 0, "tokens_in": 2000, "tokens_out": 300,
              "cost_usd": 0.026}]
    review = {"model": None, "requests": 1, "cache_hits": 0, "tokens_in": 400, "tokens_out": 100, "cost_usd": 0.0025}
    entry = {"status": "built", "model": "l", "rung": 2, "ladder": ["s", "l"], "requests": 4, "cache_hits": 0,
             "tokens_in": 3400, "tokens_out": 900, "cost_usd": 0.0305, "by_rung": rungs, "review_spend": review,
             "review": {"model": "r"}}
    return {"file": "a.json", "started": "2026-01-02T00:00:00+00:00", "model": "s", "modules": {"m": entry}}


def test_cost_by_model_splits_rungs_and_reviews_and_estimates_the_ladder_saving():
    report = cost_report([laddered_run()], by="model", prices=PRICES)
    rows = {r["key"]: r for r in report["rows"]}
    assert {k: r["requests"] for k, r in rows.items()} == {"s": 2, "l": 1, "r": 1}
    assert report["total"]["requests"] == 4 and report["total"]["cost_usd"] == pytest.approx(0.0305)
    saving = report["ladder_saving"]
    assert saving["estimate"] is True and saving["actual_usd"] == pytest.approx(0.028)
    assert saving["all_last_rung_usd"] == pytest.approx((1000 * 10 + 500 * 20 + 2000 * 10 + 300 * 20) / 1e6)
    assert saving["saving_usd"] == pytest.approx(saving["all_last_rung_usd"] - 0.028)


def test_cost_by_rung_and_by_reviewer_and_since():
    rows = {r["key"]: r["requests"] for r in cost_report([laddered_run()], by="rung")["rows"]}
    assert rows == {"rung 1": 2, "rung 2": 1, "review": 1}
    rev = cost_report([laddered_run()], by="reviewer")
    assert [(r["key"], r["requests"]) for r in rev["rows"]] == [("r", 1)] and rev["total"]["requests"] == 1
    assert cost_report([laddered_run()], by="rung", since="2026-01-03")["rows"] == []
    old = {"file": "b.json", "started": "2026-01-01", "modules": {"m": {"requests": 1, "model": "s", "cost_usd": 0.1}}}
    assert {r["key"] for r in cost_report([old], by="rung")["rows"]} == {"rung 1"}
    assert cost_report([old], by="model", prices=PRICES)["ladder_saving"] is None


def test_output_history_is_the_mean_per_generation_request_without_reviews():
    gen, rev = output_history([laddered_run(), {"modules": {"x": {"requests": 2, "tokens_out": 300}}}])
    assert gen == {"m": pytest.approx(800 / 3), "x": 150} and rev == {"m": 100}


def test_count_tokens_falls_back_to_chars_over_four():
    n, method = count_tokens([{"role": "user", "content": "x" * 10}, {"role": "system", "content": "yy"}],
                             "no-such-model-anywhere")
    assert (n, method) == (3, "chars/4")
