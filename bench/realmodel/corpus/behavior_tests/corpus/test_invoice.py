import pytest
from generated.corpus.invoice import invoice_total


@pytest.mark.req("R1")
def test_total():
    assert invoice_total([("pen", "1.25", 4), ("pad", "3.10", 1)]) == "8.10"
    assert invoice_total([("gum", "0.05", 3)]) == "0.15"


@pytest.mark.req("R2")
def test_empty():
    assert invoice_total([]) == "0.00"


@pytest.mark.req("R3")
def test_errors():
    with pytest.raises(ValueError):
        invoice_total([("pen", "1.25", -1)])
    with pytest.raises(ValueError):
        invoice_total([("pen", "abc", 1)])
