import pytest
from generated.corpus.min_stack import MinStack


@pytest.mark.req("R1")
def test_lifo():
    s = MinStack()
    s.push(1); s.push(2)
    assert len(s) == 2 and s.top() == 2 and s.pop() == 2 and s.pop() == 1 and len(s) == 0


@pytest.mark.req("R2")
def test_min_tracks_pops_and_duplicates():
    s = MinStack()
    for x in (5, 3, 3, 7, 1):
        s.push(x)
    assert s.min() == 1
    s.pop()
    assert s.min() == 3
    s.pop(); s.pop()
    assert s.min() == 3
    s.pop()
    assert s.min() == 5


@pytest.mark.req("R3")
def test_empty():
    s = MinStack()
    for op in (s.pop, s.top, s.min):
        with pytest.raises(IndexError):
            op()
