"""Behavior tests for generated.billing.money (spec: prompts/billing/money.prompt)."""

from __future__ import annotations

import dataclasses
import decimal
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generated.billing import money as money_module
from generated.billing.money import CURRENCIES, CurrencyMismatchError, Money, minor_units

EXPECTED_CURRENCIES = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "JPY": 0,
    "CHF": 2,
    "KWD": 3,
    "BHD": 3,
    "CAD": 2,
    "SEK": 2,
}

FAST = settings(max_examples=80, deadline=None)

codes = st.sampled_from(sorted(EXPECTED_CURRENCIES))
units = st.integers(min_value=-(10**15), max_value=10**15)


@st.composite
def monies(draw, currency=None):
    code = currency if currency is not None else draw(codes)
    return Money.from_minor_units(draw(units), code)


@st.composite
def same_currency_pair(draw, n=2):
    code = draw(codes)
    return [Money.from_minor_units(draw(units), code) for _ in range(n)]


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


# --------------------------------------------------------------------------
# public surface and currency table
# --------------------------------------------------------------------------


@pytest.mark.req("A1")
def test_all_lists_the_public_names():
    assert set(money_module.__all__) == {
        "CURRENCIES",
        "CurrencyMismatchError",
        "Money",
        "minor_units",
    }


@pytest.mark.req("A1")
def test_currency_table_is_exact():
    assert dict(CURRENCIES) == EXPECTED_CURRENCIES


@pytest.mark.req("A1")
def test_currency_table_is_read_only():
    with pytest.raises(TypeError):
        CURRENCIES["AUD"] = 2  # type: ignore[index]
    assert "AUD" not in CURRENCIES


@pytest.mark.req("A1")
@pytest.mark.parametrize("code,digits", sorted(EXPECTED_CURRENCIES.items()))
def test_minor_units(code, digits):
    assert minor_units(code) == digits


@pytest.mark.req("A1")
@pytest.mark.parametrize("bad", ["usd", "Usd", "US", "USDX", "U$D", "", " USD", "USD ", "ÜSD"])
def test_malformed_currency_code_is_value_error_naming_it(bad):
    for call in (
        lambda: minor_units(bad),
        lambda: Money(1, bad),
        lambda: Money.parse("1", bad),
        lambda: Money.zero(bad),
        lambda: Money.from_minor_units(1, bad),
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert repr(bad) in str(info.value)
        assert "invalid currency code" in str(info.value)


@pytest.mark.req("A1")
@pytest.mark.parametrize("unknown", ["ZZZ", "AUD", "XYZ"])
def test_unknown_currency_code_is_value_error_naming_it(unknown):
    for call in (
        lambda: minor_units(unknown),
        lambda: Money(1, unknown),
        lambda: Money.parse("1", unknown),
        lambda: Money.zero(unknown),
        lambda: Money.from_minor_units(1, unknown),
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == f"unknown currency code: {unknown!r}"


@pytest.mark.req("A1")
@pytest.mark.parametrize("bad", [None, 840, b"USD", ("USD",)])
def test_non_string_currency_is_type_error(bad):
    with pytest.raises(TypeError):
        Money(1, bad)
    with pytest.raises(TypeError):
        minor_units(bad)


# --------------------------------------------------------------------------
# construction and quantization
# --------------------------------------------------------------------------


@pytest.mark.req("A2")
def test_constructor_quantizes_to_minor_units():
    assert Money(5, "USD").amount == Decimal("5.00")
    assert Money(5, "USD").amount.as_tuple().exponent == -2
    assert Money(5, "JPY").amount.as_tuple().exponent == 0
    assert Money(5, "KWD").amount.as_tuple().exponent == -3
    assert Money(Decimal("1.5"), "EUR").amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "raw,currency,expected",
    [
        ("2.345", "USD", "2.34"),
        ("2.355", "USD", "2.36"),
        ("2.3450001", "USD", "2.35"),
        ("-2.345", "USD", "-2.34"),
        ("-2.355", "USD", "-2.36"),
        ("0.5", "JPY", "0"),
        ("1.5", "JPY", "2"),
        ("2.5", "JPY", "2"),
        ("1.0005", "KWD", "1.000"),
        ("1.0015", "KWD", "1.002"),
    ],
)
@pytest.mark.req("A2")
def test_constructor_rounds_half_even(raw, currency, expected):
    m = Money(Decimal(raw), currency)
    assert m.amount == Decimal(expected)
    assert format(m.amount, "f") == expected


@pytest.mark.req("A2")
def test_zero_is_never_negative():
    for m in (
        Money(Decimal("-0"), "USD"),
        Money(Decimal("-0.001"), "USD"),
        -Money.zero("USD"),
        usd("-0"),
        usd("-0.00"),
        usd("1.00") - usd("1.00"),
        usd("-1.00") * 0,
    ):
        assert not m.amount.is_signed()
        assert str(m) == "0.00 USD"


@pytest.mark.req("A6")
@pytest.mark.parametrize("bad", [1.5, 0.1, float("nan"), True, False, "1.00", Fraction(1, 2), None, [1]])
def test_constructor_rejects_non_int_non_decimal_with_type_error(bad):
    with pytest.raises(TypeError):
        Money(bad, "USD")


@pytest.mark.req("A6")
@pytest.mark.parametrize("bad", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_constructor_rejects_non_finite_decimal(bad):
    with pytest.raises(ValueError, match="not finite"):
        Money(Decimal(bad), "USD")


@pytest.mark.req("A4")
def test_zero():
    assert Money.zero("EUR") == Money(0, "EUR")
    assert str(Money.zero("KWD")) == "0.000 KWD"
    assert str(Money.zero("JPY")) == "0 JPY"


@pytest.mark.req("A4")
def test_minor_units_round_trip_examples():
    assert Money.from_minor_units(1234, "EUR") == Money(Decimal("12.34"), "EUR")
    assert Money.from_minor_units(-5, "KWD") == Money(Decimal("-0.005"), "KWD")
    assert Money.from_minor_units(7, "JPY") == Money(7, "JPY")
    assert Money.parse("12.34", "EUR").to_minor_units() == 1234
    assert Money.parse("1.5", "KWD").to_minor_units() == 1500
    assert Money.parse("-0.01", "USD").to_minor_units() == -1
    assert isinstance(Money.parse("12.34", "EUR").to_minor_units(), int)


@pytest.mark.req("A4")
@pytest.mark.parametrize("bad", [1.0, True, Decimal("1"), "1"])
def test_from_minor_units_requires_int(bad):
    with pytest.raises(TypeError):
        Money.from_minor_units(bad, "USD")


@pytest.mark.req("A4")
@FAST
@given(units, codes)
def test_minor_units_round_trip(n, code):
    assert Money.from_minor_units(n, code).to_minor_units() == n


# --------------------------------------------------------------------------
# immutability
# --------------------------------------------------------------------------


@pytest.mark.req("A7")
def test_money_is_immutable():
    m = usd("1.00")
    with pytest.raises(AttributeError):
        m.amount = Decimal("2.00")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        m.currency = "EUR"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del m.amount
    with pytest.raises((AttributeError, dataclasses.FrozenInstanceError)):
        m.extra = 1  # type: ignore[attr-defined]
    assert m == usd("1.00")


# --------------------------------------------------------------------------
# parse
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,currency,canonical",
    [
        ("12.34", "EUR", "12.34 EUR"),
        ("12.3", "EUR", "12.30 EUR"),
        ("12", "EUR", "12.00 EUR"),
        ("0", "USD", "0.00 USD"),
        ("-0.50", "USD", "-0.50 USD"),
        ("-7", "USD", "-7.00 USD"),
        ("007.50", "USD", "7.50 USD"),
        ("1000", "JPY", "1000 JPY"),
        ("-15", "JPY", "-15 JPY"),
        ("1.5", "KWD", "1.500 KWD"),
        ("1.234", "BHD", "1.234 BHD"),
        ("1000000000000.99", "CHF", "1000000000000.99 CHF"),
    ],
)
@pytest.mark.req("A3")
def test_parse_accepts_the_grammar(text, currency, canonical):
    m = Money.parse(text, currency)
    assert m.currency == currency
    assert str(m) == canonical


@pytest.mark.parametrize(
    "text,currency",
    [
        ("", "USD"),
        (" 1.00", "USD"),
        ("1.00 ", "USD"),
        ("1.00\n", "USD"),
        ("\t1", "USD"),
        ("+1.00", "USD"),
        ("--1", "USD"),
        ("-", "USD"),
        (".5", "USD"),
        ("5.", "USD"),
        ("-.5", "USD"),
        ("1e3", "USD"),
        ("1E3", "USD"),
        ("1E-2", "USD"),
        ("1.0e1", "USD"),
        ("NaN", "USD"),
        ("nan", "USD"),
        ("sNaN", "USD"),
        ("Infinity", "USD"),
        ("-Infinity", "USD"),
        ("inf", "USD"),
        ("1,000.00", "USD"),
        ("1,000", "USD"),
        ("1_000", "USD"),
        ("1 000", "USD"),
        ("12,34", "EUR"),
        ("1.000", "USD"),
        ("0.001", "USD"),
        ("1.0", "JPY"),
        ("1.", "JPY"),
        ("1.2345", "KWD"),
        ("١٢", "USD"),
        ("١٢.٣٤", "USD"),
        ("１２", "USD"),
        ("$1.00", "USD"),
        ("1.00USD", "USD"),
        ("0x10", "USD"),
        ("1.2.3", "USD"),
    ],
)
@pytest.mark.req("A3")
def test_parse_rejects_everything_else(text, currency):
    with pytest.raises(ValueError) as info:
        Money.parse(text, currency)
    assert str(info.value) == f"invalid amount for {currency}: {text!r}"


@pytest.mark.req("A3")
@pytest.mark.parametrize("bad", [1.5, 12, Decimal("1.00"), None, b"1.00"])
def test_parse_requires_str(bad):
    with pytest.raises(TypeError):
        Money.parse(bad, "USD")


@pytest.mark.req("A1")
def test_parse_checks_currency():
    with pytest.raises(ValueError, match="unknown currency code: 'ZZZ'"):
        Money.parse("1.00", "ZZZ")


@pytest.mark.req("A3")
@FAST
@given(monies())
def test_parse_str_round_trip(m):
    text, code = str(m).split(" ")
    assert code == m.currency
    parsed = Money.parse(text, code)
    assert parsed == m
    assert str(parsed) == str(m)


@pytest.mark.req("A3")
@FAST
@given(
    codes,
    st.booleans(),
    st.integers(min_value=0, max_value=10**12),
    st.data(),
)
def test_parse_accepts_any_short_fraction(code, negative, whole, data):
    digits = CURRENCIES[code]
    frac = data.draw(st.text(alphabet="0123456789", min_size=0, max_size=digits))
    text = ("-" if negative else "") + str(whole) + ("." + frac if frac else "")
    m = Money.parse(text, code)
    assert m.amount == Decimal(text)


@pytest.mark.req("A3")
@FAST
@given(codes, st.integers(min_value=0, max_value=10**6), st.data())
def test_parse_rejects_too_many_decimals(code, whole, data):
    digits = CURRENCIES[code]
    frac = data.draw(st.text(alphabet="0123456789", min_size=digits + 1, max_size=digits + 4))
    with pytest.raises(ValueError):
        Money.parse(f"{whole}.{frac}", code)


# --------------------------------------------------------------------------
# str / repr / bool / hash / equality
# --------------------------------------------------------------------------


@pytest.mark.req("A7")
def test_str_formats():
    assert str(Money.parse("12.34", "EUR")) == "12.34 EUR"
    assert str(Money.parse("-0.5", "USD")) == "-0.50 USD"
    assert str(Money(1000, "JPY")) == "1000 JPY"
    assert str(Money(Decimal("1E+3"), "JPY")) == "1000 JPY"
    assert str(Money(Decimal("1E+3"), "USD")) == "1000.00 USD"
    assert str(Money(1, "KWD")) == "1.000 KWD"
    assert str(Money.zero("GBP")) == "0.00 GBP"
    assert str(Money(10**20, "USD")) == "100000000000000000000.00 USD"
    assert str(Money(Decimal("0.00000001"), "USD")) == "0.00 USD"


@pytest.mark.req("A7")
def test_repr():
    assert repr(Money.parse("12.34", "EUR")) == "Money(Decimal('12.34'), 'EUR')"
    assert repr(Money(1000, "JPY")) == "Money(Decimal('1000'), 'JPY')"
    assert eval(repr(usd("-3.10")), {"Money": Money, "Decimal": Decimal}) == usd("-3.10")


@pytest.mark.req("A7")
def test_bool():
    assert not Money.zero("USD")
    assert usd("0.01")
    assert usd("-0.01")


@pytest.mark.req("A7")
def test_equality_requires_same_currency_and_amount():
    assert usd("1.00") == usd("1")
    assert usd("1.00") == Money(Decimal("1.0"), "USD")
    assert usd("1.00") != usd("1.01")
    assert usd("1.00") != Money.parse("1.00", "EUR")
    assert usd("1.00") != Money.parse("1", "CAD")
    assert not (usd("1.00") == Money.parse("1.00", "EUR"))


@pytest.mark.req("A7")
@pytest.mark.parametrize("other", [0, 1, Decimal("1.00"), "1.00 USD", 1.0, None])
def test_money_never_equals_a_non_money(other):
    assert usd("1.00") != other
    assert Money.zero("USD") != 0
    assert not (Money.zero("USD") == 0)


@pytest.mark.req("A7")
def test_hash_and_set_behaviour():
    a = usd("1.00")
    b = Money(Decimal("1.0"), "USD")
    assert hash(a) == hash(b)
    s = {a, b, Money.parse("1.00", "EUR"), usd("2.00")}
    assert len(s) == 3
    d = {a: "x"}
    assert d[b] == "x"
    assert Money.parse("1.00", "EUR") not in d


# --------------------------------------------------------------------------
# arithmetic
# --------------------------------------------------------------------------


@pytest.mark.req("A4")
def test_add_sub_neg_pos_abs():
    assert usd("1.10") + usd("2.25") == usd("3.35")
    assert usd("1.10") - usd("2.25") == usd("-1.15")
    assert -usd("1.10") == usd("-1.10")
    assert +usd("1.10") == usd("1.10")
    assert abs(usd("-1.10")) == usd("1.10")
    assert abs(usd("1.10")) == usd("1.10")
    assert isinstance(+usd("1.10"), Money)
    assert sum([usd("1.00"), usd("2.00"), usd("0.50")], Money.zero("USD")) == usd("3.50")


@pytest.mark.req("A5")
def test_currency_mismatch_error_is_value_error():
    assert issubclass(CurrencyMismatchError, ValueError)


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
@pytest.mark.req("A5")
def test_mixing_currencies_raises(op):
    with pytest.raises(CurrencyMismatchError) as info:
        op(usd("1.00"), Money.parse("1.00", "EUR"))
    assert str(info.value) == "currency mismatch: USD vs EUR"


@pytest.mark.req("A6")
@pytest.mark.parametrize("other", [1, Decimal("1.00"), 1.0, "1.00", None])
def test_adding_non_money_is_type_error(other):
    m = usd("1.00")
    with pytest.raises(TypeError):
        m + other
    with pytest.raises(TypeError):
        other + m
    with pytest.raises(TypeError):
        m - other
    with pytest.raises(TypeError):
        other - m


@pytest.mark.req("A7")
@pytest.mark.parametrize("other", [1, Decimal("1.00"), 1.0, "1.00"])
def test_ordering_non_money_is_type_error(other):
    m = usd("1.00")
    for op in (
        lambda: m < other,
        lambda: m <= other,
        lambda: m > other,
        lambda: m >= other,
    ):
        with pytest.raises(TypeError):
            op()


@pytest.mark.req("A7")
def test_ordering_same_currency():
    assert usd("1.00") < usd("1.01")
    assert usd("1.00") <= usd("1.00")
    assert usd("-5") < usd("0")
    assert usd("2") > usd("1.99")
    assert usd("2") >= usd("2.00")
    assert not usd("2") < usd("2")
    assert sorted([usd("3"), usd("-1"), usd("2")]) == [usd("-1"), usd("2"), usd("3")]
    assert max([usd("3"), usd("-1"), usd("2")]) == usd("3")


@pytest.mark.req("A2")
def test_multiply_by_int_and_decimal():
    assert usd("1.25") * 3 == usd("3.75")
    assert 3 * usd("1.25") == usd("3.75")
    assert usd("1.25") * -2 == usd("-2.50")
    assert usd("10.00") * Decimal("0.333") == usd("3.33")
    assert Decimal("0.333") * usd("10.00") == usd("3.33")
    assert usd("0.05") * Decimal("0.5") == usd("0.02")  # 0.025 -> half even
    assert usd("0.15") * Decimal("0.5") == usd("0.08")  # 0.075 -> half even
    assert usd("0.07") * Decimal("0.5") == usd("0.04")  # 0.035 -> half even
    assert Money(3, "JPY") * Decimal("0.5") == Money(2, "JPY")  # 1.5 -> 2
    assert Money(5, "JPY") * Decimal("0.5") == Money(2, "JPY")  # 2.5 -> 2
    assert Money.parse("1.001", "KWD") * Decimal("0.5") == Money.parse("0.500", "KWD")


@pytest.mark.req("A6")
@pytest.mark.parametrize(
    "factor", [1.5, 2.0, True, False, "2", Decimal("NaN"), Decimal("Infinity"), Fraction(1, 2), None]
)
def test_multiply_rejects_other_factors(factor):
    m = usd("1.00")
    with pytest.raises(TypeError):
        m * factor
    with pytest.raises(TypeError):
        factor * m


@pytest.mark.req("A6")
def test_multiply_money_by_money_is_type_error():
    with pytest.raises(TypeError):
        usd("1.00") * usd("2.00")


@pytest.mark.req("A6")
def test_no_division():
    with pytest.raises(TypeError):
        usd("1.00") / 2  # type: ignore[operator]


@pytest.mark.req("A9")
def test_independent_of_callers_decimal_context():
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = decimal.ROUND_DOWN
        assert usd("12345.67") + usd("0.01") == usd("12345.68")
        assert usd("12345.67") - usd("0.01") == usd("12345.66")
        assert usd("12345.67") * 3 == usd("37037.01")
        assert usd("0.05") * Decimal("0.5") == usd("0.02")
        assert Money(Decimal("2.355"), "USD").amount == Decimal("2.36")
        assert Money.parse("123456789.123", "KWD").to_minor_units() == 123456789123
        assert Money.from_minor_units(123456789123, "KWD") == Money.parse("123456789.123", "KWD")
        assert str(-usd("12345.67")) == "-12345.67 USD"
        assert sum(usd("1000.01").allocate([1, 1, 1]), Money.zero("USD")) == usd("1000.01")


@pytest.mark.req("A4")
@FAST
@given(same_currency_pair(2))
def test_add_is_commutative(pair):
    a, b = pair
    assert a + b == b + a


@pytest.mark.req("A4")
@FAST
@given(same_currency_pair(3))
def test_add_is_associative(triple):
    a, b, c = triple
    assert (a + b) + c == a + (b + c)


@pytest.mark.req("A4")
@FAST
@given(same_currency_pair(2))
def test_subtraction_is_adding_the_negation(pair):
    a, b = pair
    assert a - b == a + (-b)
    assert (a - b) + b == a
    assert a - a == Money.zero(a.currency)


@pytest.mark.req("A4")
@FAST
@given(monies())
def test_double_negation_and_zero_identity(a):
    assert -(-a) == a
    assert a + Money.zero(a.currency) == a
    assert (a + (-a)).amount == 0
    assert abs(a) >= Money.zero(a.currency)


@pytest.mark.req("A4")
@FAST
@given(monies(), st.integers(min_value=0, max_value=20))
def test_multiply_by_int_is_repeated_addition(a, n):
    total = Money.zero(a.currency)
    for _ in range(n):
        total = total + a
    assert a * n == total
    assert n * a == total


@pytest.mark.req("A2")
@FAST
@given(
    monies(),
    st.decimals(min_value=-1000, max_value=1000, allow_nan=False, allow_infinity=False, places=4),
)
def test_multiply_by_decimal_is_exact_product_rounded_half_even(a, k):
    expected_units = Fraction(a.to_minor_units()) * Fraction(k)
    result = (a * k).to_minor_units()
    floor = expected_units.numerator // expected_units.denominator
    frac = expected_units - floor
    if frac < Fraction(1, 2):
        assert result == floor
    elif frac > Fraction(1, 2):
        assert result == floor + 1
    else:
        assert result == (floor if floor % 2 == 0 else floor + 1)


@pytest.mark.req("A7")
@FAST
@given(same_currency_pair(2))
def test_ordering_agrees_with_minor_units(pair):
    a, b = pair
    assert (a < b) == (a.to_minor_units() < b.to_minor_units())
    assert (a <= b) == (a.to_minor_units() <= b.to_minor_units())
    assert (a == b) == (a.to_minor_units() == b.to_minor_units())


# --------------------------------------------------------------------------
# allocate
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount,currency,ratios,expected",
    [
        ("100.00", "USD", [1, 1, 1], ["33.34", "33.33", "33.33"]),
        ("0.05", "USD", [1, 1], ["0.03", "0.02"]),
        ("0.05", "USD", [70, 30], ["0.04", "0.01"]),
        ("-0.05", "USD", [1, 1], ["-0.03", "-0.02"]),
        ("10", "JPY", [1, 0, 1], ["5", "0", "5"]),
        ("1.000", "KWD", [1, 2], ["0.333", "0.667"]),
        ("0.01", "USD", [1, 1, 1], ["0.01", "0.00", "0.00"]),
        ("0.02", "USD", [1, 1, 1], ["0.01", "0.01", "0.00"]),
        ("0.02", "USD", [1, 2, 2], ["0.00", "0.01", "0.01"]),
        ("100.00", "EUR", [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")], ["50.00", "25.00", "25.00"]),
        ("1.00", "USD", [Decimal("1"), 2], ["0.33", "0.67"]),
        ("0.00", "USD", [1, 1], ["0.00", "0.00"]),
        ("7", "JPY", [1], ["7"]),
    ],
)
@pytest.mark.req("A8")
def test_allocate_examples(amount, currency, ratios, expected):
    parts = Money.parse(amount, currency).allocate(ratios)
    assert isinstance(parts, list)
    assert parts == [Money.parse(e, currency) for e in expected]
    assert all(p.currency == currency for p in parts)


@pytest.mark.req("A8")
def test_allocate_accepts_any_sequence():
    assert usd("1.00").allocate((1, 1)) == [usd("0.50"), usd("0.50")]


@pytest.mark.req("A8")
@pytest.mark.parametrize("ratios", [[], ()])
def test_allocate_rejects_empty(ratios):
    with pytest.raises(ValueError, match="ratios must not be empty"):
        usd("1.00").allocate(ratios)


@pytest.mark.req("A8")
@pytest.mark.parametrize("ratios", [[0], [0, 0], [Decimal(0), 0]])
def test_allocate_rejects_all_zero(ratios):
    with pytest.raises(ValueError):
        usd("1.00").allocate(ratios)


@pytest.mark.req("A8")
@pytest.mark.parametrize("ratios", [[1, -1], [Decimal("-0.5"), 2], [Decimal("NaN"), 1], [Decimal("Infinity"), 1]])
def test_allocate_rejects_negative_or_non_finite(ratios):
    with pytest.raises(ValueError):
        usd("1.00").allocate(ratios)


@pytest.mark.req("A8")
@pytest.mark.parametrize("ratios", [[0.5, 0.5], [1, 1.0], [True, 1], ["1", 1], [Fraction(1, 2), 1], [None]])
def test_allocate_rejects_non_int_decimal_ratios(ratios):
    with pytest.raises(TypeError):
        usd("1.00").allocate(ratios)


ratio_lists = st.lists(
    st.one_of(
        st.integers(min_value=0, max_value=1000),
        st.decimals(min_value=0, max_value=100, places=3, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=12,
).filter(lambda rs: sum(rs) > 0)


@pytest.mark.req("A8")
@FAST
@given(monies(), ratio_lists)
def test_allocate_sums_exactly_and_is_fair(m, ratios):
    parts = m.allocate(ratios)
    assert len(parts) == len(ratios)
    assert all(isinstance(p, Money) and p.currency == m.currency for p in parts)
    assert sum(parts, Money.zero(m.currency)) == m
    total = Fraction(m.to_minor_units())
    weight = sum(Fraction(r) for r in ratios)
    for part, ratio in zip(parts, ratios):
        exact = total * Fraction(ratio) / weight
        assert abs(Fraction(part.to_minor_units()) - exact) < 1
        if ratio == 0:
            assert not part
        # every part has the sign of the original (or is zero)
        assert part.to_minor_units() * m.to_minor_units() >= 0


@pytest.mark.req("A8")
@FAST
@given(monies(), ratio_lists)
def test_allocate_of_negation_is_negation_of_allocate(m, ratios):
    assert (-m).allocate(ratios) == [-p for p in m.allocate(ratios)]


@pytest.mark.req("A8")
@FAST
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=30))
def test_allocate_equal_ratios_gives_extra_units_to_the_first_parts(n, k):
    parts = Money.from_minor_units(n, "USD").allocate([1] * k)
    got = [p.to_minor_units() for p in parts]
    q, r = divmod(n, k)
    assert got == [q + 1] * r + [q] * (k - r)
