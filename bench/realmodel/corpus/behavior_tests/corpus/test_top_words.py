import pytest
from generated.corpus.top_words import top_words


@pytest.mark.req("R1")
def test_order():
    assert top_words("b a b c a b", 2) == [("b", 3), ("a", 2)]


@pytest.mark.req("R2")
def test_ties_alphabetical():
    assert top_words("z y x", 3) == [("x", 1), ("y", 1), ("z", 1)]


@pytest.mark.req("R3")
def test_limits():
    assert top_words("a a b", 10) == [("a", 2), ("b", 1)]
    assert top_words("a", 0) == []
    with pytest.raises(ValueError):
        top_words("a", -1)
