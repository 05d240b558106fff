import pytest
from generated.corpus.lru_cache import LRUCache


@pytest.mark.req("R1")
def test_get_put():
    c = LRUCache(2)
    c.put("a", 1)
    assert c.get("a") == 1 and c.get("zz") is None and c.get("zz", 5) == 5 and len(c) == 1


@pytest.mark.req("R2")
def test_eviction_order():
    c = LRUCache(2)
    c.put("a", 1); c.put("b", 2)
    c.get("a")
    c.put("c", 3)
    assert "b" not in c and "a" in c and "c" in c and len(c) == 2


@pytest.mark.req("R3")
def test_contains_does_not_refresh():
    c = LRUCache(2)
    c.put("a", 1); c.put("b", 2)
    assert "a" in c
    c.put("c", 3)
    assert "a" not in c


@pytest.mark.req("R4")
def test_bad_capacity():
    with pytest.raises(ValueError):
        LRUCache(0)
