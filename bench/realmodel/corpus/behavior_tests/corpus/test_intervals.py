import pytest
from generated.corpus.intervals import merge_intervals


@pytest.mark.req("R1")
def test_merge():
    assert merge_intervals([(1, 3), (2, 6), (8, 10)]) == [(1, 6), (8, 10)]
    assert merge_intervals([(1, 2), (2, 3)]) == [(1, 3)]


@pytest.mark.req("R2")
def test_sorted_and_input_unchanged():
    data = [(8, 10), (1, 3)]
    assert merge_intervals(data) == [(1, 3), (8, 10)]
    assert data == [(8, 10), (1, 3)]


@pytest.mark.req("R3")
def test_empty():
    assert merge_intervals([]) == []


@pytest.mark.req("R4")
def test_bad_interval():
    with pytest.raises(ValueError):
        merge_intervals([(5, 1)])
