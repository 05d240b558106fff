import pytest
from generated.corpus.money import format_cents, parse_cents


@pytest.mark.req("R1")
def test_parse():
    assert parse_cents("12.34") == 1234 and parse_cents("5") == 500 and parse_cents("-0.50") == -50
    assert parse_cents("0.5") == 50


@pytest.mark.req("R2")
def test_format():
    assert format_cents(1234) == "12.34" and format_cents(-50) == "-0.50" and format_cents(7) == "0.07"


@pytest.mark.req("R3")
def test_round_trip():
    for c in (0, 1, -1, 99, 100, -12345, 10**9):
        assert parse_cents(format_cents(c)) == c


@pytest.mark.req("R4")
def test_bad():
    for bad in ("", "1.234", "abc", "1,00"):
        with pytest.raises(ValueError):
            parse_cents(bad)
