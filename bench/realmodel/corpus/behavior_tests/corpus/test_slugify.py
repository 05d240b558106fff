import pytest
from generated.corpus.slugify import slugify


@pytest.mark.req("R1")
def test_basic():
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("Python 3.12 released") == "python-3-12-released"


@pytest.mark.req("R2")
def test_no_stray_dashes():
    assert slugify("  --A  B-- ") == "a-b"


@pytest.mark.req("R3")
def test_empty():
    assert slugify("!!!") == ""
