import pytest
from generated.corpus.ring_buffer import RingBuffer


@pytest.mark.req("R1")
def test_order():
    b = RingBuffer(3)
    b.append(1); b.append(2)
    assert b.to_list() == [1, 2] and len(b) == 2 and b.capacity == 3


@pytest.mark.req("R2")
def test_overwrite_oldest():
    b = RingBuffer(3)
    for x in range(1, 6):
        b.append(x)
    assert b.to_list() == [3, 4, 5] and len(b) == 3


@pytest.mark.req("R3")
def test_bad_capacity():
    for bad in (0, -2):
        with pytest.raises(ValueError):
            RingBuffer(bad)
