"""`pdd critique` and `pdd probe` through the real CLI against the fake model server."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import Reply, fence, request_text, write_file

SPEC = """\
---
depends: []
---
# calc/half

## Goal

Halve integers.

## Inputs / Outputs

`half(x: int) -> int`; `Box(size: int)` with `fits(n: int) -> bool`.

## Constraints

Standard library only.

## Failure modes

Not decided yet.

## Out of scope

Floats.

## Acceptance

`half(4) == 2`; `Box(5).fits(2)`.
"""

TESTS = """\
from generated.calc.half import Box, half


def test_half():
    assert half(4) == 2


def test_box():
    assert Box(5).fits(2)
"""

CANDIDATE_A = '''\
"""Halving."""

__all__ = ["Box", "half"]


def half(x: int) -> int:
    """Half of ``x``, rounded down."""
    return x // 2


class Box:
    """A box of a size."""

    def __init__(self, size: int) -> None:
        self.size = size

    def fits(self, n: int) -> bool:
        """Whether ``n`` fits."""
        return n <= self.size
'''

CANDIDATE_B = '''\
"""Halving, strictly."""

__all__ = ["Box", "half"]


def half(x: int) -> int:
    """Half of ``x``; odd numbers are refused."""
    if x % 2:
        raise ValueError(f"odd number: {x}")
    return x // 2


class Box:
    """A box of a size."""

    def __init__(self, size: int) -> None:
        self.size = size

    def fits(self, n: int) -> bool:
        """Whether ``n`` fits, strictly."""
        return n < self.size
'''

CANDIDATE_A2 = CANDIDATE_A.replace("return x // 2", "return int(x) // 2").replace("n <= self.size", "not n > self.size")


def _by_candidate(answers: dict[str, str]):
    """A responder answering each ``candidate i of n`` request with ``answers[i]``."""

    def respond(request):
        m = re.search(r"candidate (\d+) of (\d+)", request_text(request))
        if not m:
            return Reply(status=400, text="not a probe request")
        return fence(answers[m.group(1)])

    return respond


def _project(repo: Path) -> None:
    write_file(repo, "prompts/calc/half.prompt", SPEC, dedent=False)
    write_file(repo, "behavior_tests/test_half.py", TESTS)


# ---------------------------------------------------------------------------
# critique
# ---------------------------------------------------------------------------

CRITIQUE_ANSWER = """\
Here are the decisions the specification leaves open:

1. What does `half` return for odd numbers: round down, round toward zero,
   or refuse them?
2) Is a negative `x` allowed?
3. **Box sizes**: may `fits` use {{ strict }} or non-strict comparison?

I hope this helps.
"""


def test_critique_prints_and_writes_open_questions(git_repo, run_pdd, fake_server, answers):
    _project(git_repo)
    answers["calc/half"] = lambda request: CRITIQUE_ANSWER
    proc = run_pdd(git_repo, "critique", "calc/half")
    assert proc.returncode == 0, proc.stderr
    assert "3 open question(s)" in proc.stdout
    assert "1. What does `half` return for odd numbers: round down, round toward zero, or refuse them?" in proc.stdout
    assert "2. Is a negative `x` allowed?" in proc.stdout
    assert "3. **Box sizes**: may `fits` use {{ strict }} or non-strict comparison?" in proc.stdout
    assert "I hope this helps" not in proc.stdout
    assert fake_server.request_count == 1
    sent = request_text(fake_server.last_request)
    assert "Halve integers." in sent and "do not write code" in sent.lower() or "You do not write code" in sent
    # a list of questions is capped well below a module's max_tokens (a small model can loop otherwise)
    assert fake_server.last_request["body"]["max_tokens"] == 1024

    # Same prompt again: answered from the cache, no request.
    proc = run_pdd(git_repo, "critique", "calc/half", "--write")
    assert proc.returncode == 0, proc.stderr
    assert "cached answer" in proc.stdout
    assert fake_server.request_count == 1
    text = (git_repo / "prompts/calc/half.prompt").read_text()
    assert text.startswith(SPEC)
    tail = text[len(SPEC):]
    assert "## Open questions" in tail
    assert "1. What does `half` return for odd numbers" in tail and "3. **Box sizes**" in tail

    # The file still parses and renders (the '{{ strict }}' is kept literal).
    from pdd.prompt import parse_prompt
    from pdd.render import render_prompt

    spec = parse_prompt(text, path="prompts/calc/half.prompt", name="calc/half")
    rendered = render_prompt(spec, git_repo, "prompts").text
    assert "{{ strict }}" in rendered and "## Open questions" in rendered

    # A new answer adds only the new questions, numbered on; nothing is repeated.
    answers["calc/half"] = lambda request: "1. Is a negative `x` allowed?\n2. Is `half(True)` allowed?\n"
    proc = run_pdd(git_repo, "critique", "calc/half", "--write")
    assert proc.returncode == 0, proc.stderr
    text2 = (git_repo / "prompts/calc/half.prompt").read_text()
    assert text2.count("Is a negative `x` allowed?") == 1
    assert "4. Is `half(True)` allowed?" in text2
    assert text2.count("## Open questions") == 1
    parse_prompt(text2, path="prompts/calc/half.prompt", name="calc/half")

    # Nothing open: nothing written.
    answers["calc/half"] = lambda request: "No open questions."
    proc = run_pdd(git_repo, "critique", "calc/half", "--write", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["questions"] == [] and data["written"] == []
    assert (git_repo / "prompts/calc/half.prompt").read_text() == text2


def test_a_critique_cut_off_at_max_tokens_says_so_and_drops_the_unfinished_question(git_repo, run_pdd, answers):
    # A small local model can loop until the 1024-token cap: the list it gave is shown,
    # but not as if it were complete, and not its last question, which stops mid-sentence.
    _project(git_repo)
    answers["calc/half"] = Reply(text="1. Is a negative `x` allowed?\n2. What does `half` return for odd numb",
                                 truncated=True)
    for cached in (False, True):  # the cached answer keeps the mark
        proc = run_pdd(git_repo, "critique", "calc/half")
        assert proc.returncode == 0, proc.stderr
        assert "warning: the answer was cut off at max_tokens (1024 tokens); its last, unfinished question is left out" \
            in proc.stderr
        assert "1 open question(s)" in proc.stdout and "odd numb" not in proc.stdout
        assert ("cached answer" in proc.stdout) is cached
    data = json.loads(run_pdd(git_repo, "critique", "calc/half", "--json").stdout)
    assert data["questions"] == ["Is a negative `x` allowed?"] and "cut off" in data["truncated"]
    # cut off in its closing prose: every question is whole, none is dropped
    (git_repo / "prompts/calc/half.prompt").write_text(SPEC + "\nPlease.\n")
    answers["calc/half"] = Reply(text="1. Is a negative `x` allowed?\n2. What does `half` return for odd numbers?\n\n"
                                      "Overall the specification is clear, although I would also", truncated=True)
    data = json.loads(run_pdd(git_repo, "critique", "calc/half", "--json").stdout)
    assert len(data["questions"]) == 2 and data["truncated"] == "the answer was cut off at max_tokens (1024 tokens)"
    answers["calc/half"] = lambda request: CRITIQUE_ANSWER
    (git_repo / "prompts/calc/half.prompt").write_text(SPEC + "\nMore.\n")  # a new request, a whole answer
    proc = run_pdd(git_repo, "critique", "calc/half", "--json")
    assert json.loads(proc.stdout)["truncated"] is None and "warning" not in proc.stderr


def test_critique_errors(git_repo, run_pdd, answers):
    _project(git_repo)
    proc = run_pdd(git_repo, "critique", "calc/nothing")
    assert proc.returncode == 2 and "no module named" in proc.stderr
    answers["calc/half"] = Reply(status=401, text="bad key")
    proc = run_pdd(git_repo, "critique", "calc/half", "--write")
    assert proc.returncode == 3
    assert (git_repo / "prompts/calc/half.prompt").read_text() == SPEC


# ---------------------------------------------------------------------------
# probe
# ---------------------------------------------------------------------------


def test_probe_reports_shrunk_disagreements(git_repo, run_pdd, fake_server, answers):
    _project(git_repo)
    answers["calc/half"] = _by_candidate({"1": CANDIDATE_A, "2": CANDIDATE_B})
    proc = run_pdd(git_repo, "probe", "calc/half", "--n", "2", "--max-examples", "50")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "candidate 1: passed the behavior tests" in out and "candidate 2: passed the behavior tests" in out
    assert "for `half(1)`, candidate 1 returns 0, candidate 2 raises ValueError" in out
    assert "for `Box(0).fits(0)`, candidate 1 returns True, candidate 2 returns False" in out, out
    assert "2 disagreement(s)" in out
    assert fake_server.request_count == 2
    texts = [request_text(r) for r in fake_server.requests]
    assert any("candidate 1 of 2" in t for t in texts) and any("candidate 2 of 2" in t for t in texts)
    assert not (git_repo / "generated/calc").exists()

    # Again, as JSON and without the tests: fresh requests (the cache is not consulted), same findings.
    proc = run_pdd(git_repo, "probe", "calc/half", "--n", "2", "--max-examples", "50", "--json", "--no-tests")
    assert proc.returncode == 1, proc.stderr
    assert fake_server.request_count == 4
    data = json.loads(proc.stdout)
    assert data["exit_code"] == 1 and data["compared"] == [1, 2]
    assert [c["status"] for c in data["candidates"]] == ["untested", "untested"]
    by_target = {t["target"]: t for t in data["targets"]}
    half = by_target["half"]
    assert half["status"] == "disagree" and half["call"] == "half(1)"
    assert {tuple(o["candidates"]): o["kind"] for o in half["outcomes"]} == {(1,): "returns", (2,): "raises"}
    raised = next(o for o in half["outcomes"] if o["kind"] == "raises")
    assert raised["type"] == "ValueError" and raised["message"] == "odd number: 1"
    assert by_target["Box.fits"]["status"] == "disagree"
    assert by_target["Box"]["status"] == "agree"
    assert {d["target"] for d in data["disagreements"]} == {"half", "Box.fits"}


def test_probe_finds_nothing_when_candidates_agree(git_repo, run_pdd, answers):
    _project(git_repo)
    answers["calc/half"] = _by_candidate({"1": CANDIDATE_A, "2": CANDIDATE_A2, "3": CANDIDATE_A})
    proc = run_pdd(git_repo, "probe", "calc/half", "--n", "3", "--max-examples", "30")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "half: agree" in proc.stdout and "Box.fits: agree" in proc.stdout
    assert "no disagreements" in proc.stdout
    assert not (git_repo / "generated/calc").exists()


def test_probe_needs_passing_candidates(git_repo, run_pdd, answers):
    _project(git_repo)
    broken = CANDIDATE_A.replace("return x // 2", "return x")
    answers["calc/half"] = _by_candidate({"1": broken, "2": CANDIDATE_A})
    proc = run_pdd(git_repo, "probe", "calc/half", "--n", "2")
    assert proc.returncode == 1
    assert "candidate 1: failed the behavior tests" in proc.stdout
    assert "only 1 of 2 candidates passed" in proc.stdout
