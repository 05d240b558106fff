"""Cost arithmetic, price table validation, the budget, run totals, cost reports, redaction."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdd.backends import Completion, Request
from pdd.errors import ConfigError, UsageError
from pdd.evidence import cost_report, cost_text
from pdd.redact import redact, redact_obj
from pdd.runs import module_cost, run_totals
from pdd.spend import (Budget, BudgetExceeded, Price, compute_cost, estimate_cost, estimate_tokens_in, format_usd,
                       parse_prices, price_for, require_prices, with_cost)

tokens = st.integers(min_value=0, max_value=10**9)
usd_per_m = st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False)


def req(chars: int = 400, max_tokens: int = 1000, model: str = "m") -> Request:
    return Request(messages=({"role": "user", "content": "x" * chars},), model=model, temperature=0.0,
                   max_tokens=max_tokens, module="mod")


# -- cost arithmetic ------------------------------------------------------------------------------------------------


@given(tokens, tokens, usd_per_m, usd_per_m)
def test_cost_is_tokens_times_price_per_million(tin, tout, pin, pout):
    cost = compute_cost(Price(pin, pout), tin, tout)
    assert cost == pytest.approx(tin * pin / 1e6 + tout * pout / 1e6, rel=1e-12, abs=1e-12)
    assert cost >= 0


@given(tokens, tokens, tokens, tokens, usd_per_m, usd_per_m)
def test_cost_is_additive_over_requests(a_in, a_out, b_in, b_out, pin, pout):
    p = Price(pin, pout)
    together = compute_cost(p, a_in + b_in, a_out + b_out)
    assert together == pytest.approx(compute_cost(p, a_in, a_out) + compute_cost(p, b_in, b_out), rel=1e-9, abs=1e-9)


@given(tokens, tokens, st.integers(min_value=1, max_value=10**6), usd_per_m, usd_per_m)
def test_cost_is_monotone_in_tokens(tin, tout, extra, pin, pout):
    p = Price(pin, pout)
    assert compute_cost(p, tin + extra, tout) >= compute_cost(p, tin, tout)
    assert compute_cost(p, tin, tout + extra) >= compute_cost(p, tin, tout)


@given(st.one_of(st.none(), tokens), st.one_of(st.none(), tokens))
def test_unknown_price_or_tokens_is_unknown_never_zero(tin, tout):
    assert compute_cost(None, tin, tout) is None
    if tin is None or tout is None:
        assert compute_cost(Price(1, 1), tin, tout) is None


@settings(max_examples=50)
@given(st.text(min_size=0, max_size=3000), st.integers(min_value=1, max_value=100000))
def test_estimate_is_ceil_chars_over_four_plus_max_tokens(text, max_tokens):
    r = Request(messages=({"role": "system", "content": text}, {"role": "user", "content": "abc"}), model="m",
                temperature=0.0, max_tokens=max_tokens)
    n = len(text) + 3
    assert estimate_tokens_in(r) == -(-n // 4)
    assert estimate_cost(r, {"m": Price(2.0, 8.0)}) == pytest.approx((-(-n // 4)) * 2.0 / 1e6 + max_tokens * 8.0 / 1e6)
    assert estimate_cost(r, {}) is None


def test_with_cost_prefers_the_reported_cost_and_falls_back_to_the_reported_model():
    prices = {"gpt-x-2025": Price(1.0, 2.0)}
    reported = Completion(text="a", tokens_in=10, tokens_out=10, cost_usd=0.5, model="other")
    assert with_cost(reported, prices, "gpt-x").cost_usd == 0.5
    c = with_cost(Completion(text="a", tokens_in=1_000_000, tokens_out=500_000, model="gpt-x-2025"), prices, "gpt-x")
    assert c.cost_usd == pytest.approx(2.0)
    assert with_cost(Completion(text="a", tokens_in=1, tokens_out=1, model="zzz"), prices, "gpt-x").cost_usd is None
    assert with_cost(Completion(text="a", model="gpt-x-2025"), prices, "gpt-x").cost_usd is None  # no token counts


def test_price_lookup_order():
    prices = {"a": Price(1, 1), "b": Price(2, 2)}
    assert price_for(prices, "a", "b") == Price(1, 1)
    assert price_for(prices, "zz", "b") == Price(2, 2)
    assert price_for(prices, None, "zz") is None


def test_format_usd():
    assert format_usd(None) == "unknown"
    assert format_usd(0) == "$0.00"
    assert format_usd(0.0123) == "$0.0123"
    assert format_usd(0.000123) == "$0.000123"
    assert format_usd(12.5) == "$12.50"


# -- price table ----------------------------------------------------------------------------------------------------


def test_parse_prices_accepts_numbers_and_dates():
    prices = parse_prices({"m1": {"input": 0.4, "output": 1.6, "date": dt.date(2025, 4, 14)},
                           "m2": {"input": 3, "output": 15, "date": "2025-05-01"}, "m3": {"input": 0, "output": 0}})
    assert prices["m1"] == Price(0.4, 1.6, "2025-04-14")
    assert prices["m2"] == Price(3.0, 15.0, "2025-05-01")
    assert prices["m3"].date is None


@pytest.mark.parametrize("entry", [
    {"input": 1.0},  # no output
    {"input": -1, "output": 1},
    {"input": True, "output": 1},
    {"input": "1", "output": 1},
    {"input": 1, "output": 1, "currency": "EUR"},
    "1.0/2.0",
])
def test_parse_prices_rejects_malformed_entries(entry):
    with pytest.raises(ConfigError) as info:
        parse_prices({"m": entry})
    assert "prices.m" in info.value.message and info.value.exit_code == 2


def test_require_prices_names_the_missing_models():
    require_prices(["a"], {"a": Price(1, 1)})
    with pytest.raises(ConfigError) as info:
        require_prices(["a", "b", "c"], {"a": Price(1, 1)})
    assert "b, c" in info.value.message and "prices" in (info.value.hint or "")
    assert info.value.exit_code == 2


# -- budget ---------------------------------------------------------------------------------------------------------


def test_budget_reserves_settles_and_stops_for_good():
    prices = {"m": Price(1.0, 10.0)}
    b = Budget(0.015, prices)
    est = b.reserve(req(chars=400, max_tokens=1000))  # 100 in + 1000 out = 0.0101
    assert est == pytest.approx(0.0101)
    b.settle(est, 0.0095)
    assert b.spent == pytest.approx(0.0095) and b.reserved == 0
    with pytest.raises(BudgetExceeded) as info:
        b.reserve(req(chars=400, max_tokens=1000))
    assert info.value.exit_code == 3
    assert "estimated $0.0101" in info.value.message and "$0.0150 budget" in info.value.message
    assert b.stopped
    with pytest.raises(BudgetExceeded):  # sticky: even a tiny request is refused now
        b.reserve(req(chars=4, max_tokens=1))


def test_budget_unknown_actual_counts_the_estimate_and_release_gives_back():
    b = Budget(1.0, {"m": Price(1.0, 1.0)})
    est = b.reserve(req())
    b.release(est)
    assert b.reserved == 0 and b.spent == 0
    est = b.reserve(req())
    b.settle(est, None)
    assert b.spent == pytest.approx(est)


def test_budget_is_thread_safe():
    b = Budget(0.05, {"m": Price(0.0, 10.0)})  # each request: 1000 out tokens = $0.01
    granted, refused = [], []

    def worker():
        try:
            granted.append(b.reserve(req(chars=0, max_tokens=1000)))
        except BudgetExceeded:
            refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 5 and len(refused) == 15


# -- run totals and cost reports -------------------------------------------------------------------------------------


def test_run_totals_unknown_cost_is_never_zero():
    assert module_cost({"requests": 0, "cost_usd": None}) == (0.0, True)
    assert module_cost({"requests": 2, "cost_usd": None}) == (0.0, False)
    known = run_totals({"a": {"requests": 1, "cache_hits": 1, "tokens_in": 10, "tokens_out": 5, "cost_usd": 0.25},
                        "b": {"requests": 0, "cache_hits": 0, "cost_usd": None}})
    assert known["cost_usd"] == pytest.approx(0.25) and known["requests"] == 1 and known["tokens_in"] == 10
    unknown = run_totals({"a": {"requests": 1, "cost_usd": 0.25}, "b": {"requests": 1, "cost_usd": None}})
    assert unknown["cost_usd"] is None and unknown["cost_unknown_modules"] == 1


RUNS = [
    {"file": "r1", "started": "2025-01-01T10:00:00+00:00", "model": "m1", "modules": {
        "a": {"model": "m1", "requests": 1, "cache_hits": 0, "tokens_in": 100, "tokens_out": 10, "cost_usd": 0.5},
        "b": {"model": "m2", "requests": 2, "cache_hits": 0, "tokens_in": 200, "tokens_out": 20, "cost_usd": None},
        "c": {"model": "m1", "requests": 0, "cache_hits": 0, "cost_usd": None, "status": "fresh"}}},
    {"file": "r2", "started": "2025-01-03T10:00:00+00:00", "model": "m1", "modules": {
        "a": {"model": "m1", "requests": 1, "cache_hits": 1, "tokens_in": 100, "tokens_out": 10, "cost_usd": 0.25}}},
]


def test_cost_report_by_model_module_day():
    by_model = cost_report(RUNS, by="model", prices={"m1": {"input": 1, "output": 2, "date": "2025-01-01"}})
    rows = {r["key"]: r for r in by_model["rows"]}
    assert set(rows) == {"m1", "m2"}  # the fresh module spent nothing and is not listed
    assert rows["m1"]["cost_usd"] == pytest.approx(0.75) and rows["m1"]["runs"] == 2 and rows["m1"]["cache_hits"] == 1
    assert rows["m1"]["price_date"] == "2025-01-01" and rows["m2"]["price_date"] is None
    assert rows["m2"]["cost_usd"] is None and cost_text(rows["m2"]) == "unknown"
    total = by_model["total"]
    assert total["cost_usd"] == pytest.approx(0.75) and total["unknown"] == 1
    assert cost_text(total) == "$0.7500 + unknown"
    by_module = {r["key"]: r for r in cost_report(RUNS, by="module")["rows"]}
    assert by_module["a"]["requests"] == 2 and by_module["a"]["tokens_in"] == 200
    by_day = {r["key"]: r for r in cost_report(RUNS, by="day")["rows"]}
    assert set(by_day) == {"2025-01-01", "2025-01-03"}
    since = cost_report(RUNS, by="day", since="2025-01-02")
    assert [r["key"] for r in since["rows"]] == ["2025-01-03"] and since["total"]["cost_usd"] == pytest.approx(0.25)


def test_cost_report_rejects_bad_options():
    with pytest.raises(UsageError):
        cost_report(RUNS, by="week")
    with pytest.raises(UsageError):
        cost_report(RUNS, since="01/02/2025")


# -- redaction ------------------------------------------------------------------------------------------------------


def test_redact_replaces_credential_like_environment_values():
    env = {"OPENAI_API_KEY": "sk-test-SECRET-abc123", "GITHUB_TOKEN": "ghp_0123456789", "SHORT_API_KEY": "abc",
           "HOME": "/home/someone-long"}
    text = "key sk-test-SECRET-abc123 and ghp_0123456789 in /home/someone-long, abc, cabin"
    # every credential value is redacted whatever its length (issue 10); a short one only as a whole word
    assert redact(text, env) == "key [redacted] and [redacted] in /home/someone-long, [redacted], cabin"
    obj = redact_obj({"a": ["x sk-test-SECRET-abc123"], "n": 1}, env)
    assert obj == {"a": ["x [redacted]"], "n": 1}
