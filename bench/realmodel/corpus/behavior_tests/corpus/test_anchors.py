import pytest
from generated.corpus.anchors import make_anchors


@pytest.mark.req("R1")
def test_slugs():
    assert make_anchors(["Hello World", "Next Step"]) == ["hello-world", "next-step"]


@pytest.mark.req("R2")
def test_unique():
    assert make_anchors(["Intro", "Intro", "Intro"]) == ["intro", "intro-2", "intro-3"]


@pytest.mark.req("R3")
def test_empty_slug():
    assert make_anchors(["!!", "??"]) == ["section", "section-2"]
