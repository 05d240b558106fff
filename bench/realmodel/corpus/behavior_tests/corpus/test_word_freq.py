import pytest
from generated.corpus.word_freq import word_frequencies


@pytest.mark.req("R1")
def test_case_insensitive():
    assert word_frequencies("The cat, the hat.") == {"the": 2, "cat": 1, "hat": 1}


@pytest.mark.req("R2")
def test_punctuation_and_apostrophes():
    assert word_frequencies("don't stop--don't!") == {"don't": 2, "stop": 1}


@pytest.mark.req("R3")
def test_empty():
    assert word_frequencies("") == {} and word_frequencies("  \n ") == {}


@pytest.mark.req("R4")
def test_type_error():
    with pytest.raises(TypeError):
        word_frequencies(None)
