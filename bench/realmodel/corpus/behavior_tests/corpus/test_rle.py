import pytest
from generated.corpus.rle import decode, encode


@pytest.mark.req("R1")
def test_encode():
    assert encode("aaabcc") == "3a1b2c"
    assert encode("") == ""
    assert encode("x" * 12) == "12x"


@pytest.mark.req("R2")
def test_round_trip():
    for s in ["", "a", "abba", "zzzzzzzzzzzzzzzq", "  !!"]:
        assert decode(encode(s)) == s


@pytest.mark.req("R3")
def test_malformed():
    for bad in ("a3", "3"):
        with pytest.raises(ValueError):
            decode(bad)
