import pytest
from generated.corpus.roman import from_roman, to_roman


@pytest.mark.req("R1")
@pytest.mark.parametrize("n, s", [(1, "I"), (4, "IV"), (9, "IX"), (14, "XIV"), (40, "XL"), (90, "XC"),
                                  (400, "CD"), (1994, "MCMXCIV"), (3999, "MMMCMXCIX")])
def test_to_roman_examples(n, s):
    assert to_roman(n) == s


@pytest.mark.req("R2")
def test_round_trip():
    for n in range(1, 4000):
        assert from_roman(to_roman(n)) == n


@pytest.mark.req("R3")
def test_errors():
    for bad in (0, 4000, -1):
        with pytest.raises(ValueError):
            to_roman(bad)
    for bad in ("", "ABC"):
        with pytest.raises(ValueError):
            from_roman(bad)
