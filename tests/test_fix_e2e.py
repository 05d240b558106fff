"""End to end: ``pdd fix`` through the real CLI against the fake model server.

The server plays two roles, told apart by the request: generation requests carry
``Target module: ...``; prompt-revision requests carry ``Prompt file: ...``. The
generator answers correct code only when the prompt (as sent) states the
requirement the tests check, so a fix passes only if it really went into the prompt.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import (
    Reply,
    commit_all,
    fence,
    note_records,
    write_prompt,
    write_test,
)

PROMPT_BODY = """\
# Adder
## Goal
Provide `add(a: int, b: int) -> int`.
## Acceptance
The behavior tests pass.
"""

BUGGY = "def add(a: int, b: int) -> int:\n    return a - b\n"
CORRECT = "def add(a: int, b: int) -> int:\n    return a + b\n"
WITH_MUL = CORRECT + "\n\ndef mul(a: int, b: int) -> int:\n    return a * b\n"

TEST_ADD = """\
from generated.calc.add import add

def test_add():
    assert add(2, 3) == 5
"""


def _text(request) -> str:
    body = request["body"]
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


class FixScript:
    """Responder: generation by a rule on the prompt text; revisions from a list."""

    def __init__(self, revisions, generate):
        self.revisions = list(revisions)
        self.generate = generate
        self.revision_requests = []
        self.generation_requests = []

    def __call__(self, request):
        text = _text(request)
        if "Prompt file: " in text and "Target module:" not in text:
            self.revision_requests.append(text)
            i = min(len(self.revision_requests) - 1, len(self.revisions) - 1)
            return self.revisions[i]
        self.generation_requests.append(text)
        answer = self.generate(text)
        return answer if isinstance(answer, Reply) else fence(answer)


def _prompt_text(repo: Path) -> str:
    return (repo / "prompts/calc/add.prompt").read_text()


def _revision(extra: str, base: str | None = None) -> str:
    base = base if base is not None else "---\ntests: [behavior_tests/test_add.py]\n---\n" + PROMPT_BODY
    return f"Here is the revised prompt.\n\n```prompt\n{base.rstrip()}\n{extra}\n```\n"


@pytest.fixture
def buggy_project(git_repo, fake_server, run_pdd):
    """calc/add built (without tests) from a prompt that does not say 'sum': its tests fail."""
    write_prompt(git_repo, "calc/add", PROMPT_BODY, tests=["behavior_tests/test_add.py"])
    write_test(git_repo, "test_add.py", TEST_ADD)
    fake_server.responder = FixScript([], lambda text: CORRECT if "the sum" in text else BUGGY)
    proc = run_pdd(git_repo, "build", "--no-tests")
    assert proc.returncode == 0, proc.stderr
    commit_all(git_repo, "buggy add", env={"PDD_BACKEND": "openai", "PDD_MODEL": "fake-model"})
    return git_repo


def test_fix_failing_test_moves_the_fix_into_the_prompt(buggy_project, fake_server, run_pdd):
    repo = buggy_project
    script = FixScript([_revision("It returns the sum of a and b, never their difference.")],
                       lambda text: CORRECT if "the sum" in text else BUGGY)
    fake_server.responder = script
    proc = run_pdd(repo, "fix", "calc/add", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the diff of the prompt file was shown
    assert "--- a/prompts/calc/add.prompt" in proc.stdout
    assert "+It returns the sum of a and b, never their difference." in proc.stdout
    # the prompt changed, the code was regenerated from it, and it is genuine
    assert "never their difference" in _prompt_text(repo)
    assert (repo / "generated/calc/add.py").read_text() == CORRECT
    records = note_records(repo, "generated/calc/add.py")
    assert records and records[-1]["path"] == "generated/calc/add.py" and records[-1]["tests"] == "passed"
    # the model saw the failing output and the code
    assert "assert" in script.revision_requests[0] and "return a - b" in script.revision_requests[0]
    # the behavior tests were not touched
    assert (repo / "behavior_tests/test_add.py").read_text() == TEST_ADD
    # a run record of the fix
    runs = [r for r in (json.loads(p.read_text()) for p in (repo / ".pdd/runs").glob("*.json")) if r["command"] == "fix"]
    assert len(runs) == 1 and runs[0]["outcome"] == "fixed" and runs[0]["attempts"][0]["applied"] is True
    assert "+It returns the sum" in runs[0]["attempts"][0]["diff"]


def test_fix_exhausted_restores_the_prompt(buggy_project, fake_server, run_pdd):
    repo = buggy_project
    before_prompt = _prompt_text(repo)
    before_code = (repo / "generated/calc/add.py").read_bytes()
    script = FixScript([_revision("Be careful, attempt one."), _revision("Be very careful, attempt two.")],
                       lambda text: BUGGY)
    fake_server.responder = script
    proc = run_pdd(repo, "fix", "calc/add", "--yes", "--attempts", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "after 2 attempt(s)" in proc.stderr and "restored" in proc.stderr
    assert _prompt_text(repo) == before_prompt
    assert (repo / "generated/calc/add.py").read_bytes() == before_code
    assert note_records(repo, "generated/calc/add.py"), "the generated file must stay genuine"
    assert len(script.revision_requests) == 2
    # the second revision request carries the failure after regenerating from revision 1
    assert "attempt one" in script.revision_requests[1]


def test_fix_keep_keeps_the_last_revision(buggy_project, fake_server, run_pdd):
    repo = buggy_project
    fake_server.responder = FixScript([_revision("Kept revision.")], lambda text: BUGGY)
    proc = run_pdd(repo, "fix", "calc/add", "--yes", "--attempts", "1", "--keep")
    assert proc.returncode == 1
    assert "Kept revision." in _prompt_text(repo)
    assert "--keep" in proc.stderr


@pytest.mark.parametrize("bad, why", [
    ("```prompt\n---\ntests: [behavior_tests/test_add.py\n---\n# Adder\n## Goal\nx\n```", "malformed YAML"),
    ("```prompt\n---\ndepends: [calc/add]\n---\n# Adder\n## Goal\nx\n```", "depends on itself"),
    ("```prompt\n---\nflavour: strong\n---\n# Adder\n## Goal\nx\n```", "unknown front-matter key"),
    ("```prompt\n---\ntests: [behavior_tests/test_add.py]\n---\nJust add numbers.\n```", "removed all"),
    ("```prompt\n---\ntests: [behavior_tests/test_other.py]\n---\n" + PROMPT_BODY + "```", "changes 'tests'"),
    ("```prompt\n---\ntests: [behavior_tests/test_add.py]\nmodel: other\n---\n" + PROMPT_BODY + "```", "changes 'model'"),
    ("```prompt\n---\ntests: [behavior_tests/test_add.py]\n---\n# Adder\n## Goal\nAdd.\n```", "dropped section"),
])
def test_fix_rejects_an_unparsable_revision(buggy_project, fake_server, run_pdd, bad, why):
    repo = buggy_project
    before = _prompt_text(repo)
    script = FixScript([bad], lambda text: BUGGY)
    fake_server.responder = script
    proc = run_pdd(repo, "fix", "calc/add", "--yes", "--attempts", "1")
    assert proc.returncode == 1
    assert "rejected" in proc.stderr and why in proc.stderr
    assert _prompt_text(repo) == before
    assert not script.generation_requests, "a rejected revision must not be regenerated"


def test_fix_dry_run_changes_nothing(buggy_project, fake_server, run_pdd):
    repo = buggy_project
    before = _prompt_text(repo)
    fake_server.responder = FixScript([_revision("It returns the sum.")], lambda text: CORRECT)
    proc = run_pdd(repo, "fix", "calc/add", "--dry-run")
    assert proc.returncode == 0
    assert "+It returns the sum." in proc.stdout
    assert _prompt_text(repo) == before


def test_fix_without_yes_and_no_terminal_declines(buggy_project, fake_server, run_pdd):
    repo = buggy_project
    before = _prompt_text(repo)
    fake_server.responder = FixScript([_revision("It returns the sum.")], lambda text: CORRECT)
    proc = run_pdd(repo, "fix", "calc/add")
    assert proc.returncode == 1
    assert "--yes" in proc.stderr
    assert _prompt_text(repo) == before


def test_fix_absorbs_a_hand_edit(git_repo, fake_server, run_pdd):
    repo = git_repo
    write_prompt(repo, "calc/add", PROMPT_BODY, tests=["behavior_tests/test_add.py"])
    write_test(repo, "test_add.py", TEST_ADD)
    fake_server.responder = FixScript([], lambda text: WITH_MUL if "mul(a, b)" in text else CORRECT)
    assert run_pdd(repo, "build").returncode == 0
    commit_all(repo, "add", env={"PDD_BACKEND": "openai", "PDD_MODEL": "fake-model"})
    # a developer edits the generated file by hand
    (repo / "generated/calc/add.py").write_text(WITH_MUL)
    assert run_pdd(repo, "status").stdout.startswith("edited")
    script = FixScript([_revision("Also provide `mul(a, b)` returning the product of a and b.")],
                       lambda text: WITH_MUL if "mul(a, b)" in text else CORRECT)
    fake_server.responder = script
    proc = run_pdd(repo, "fix", "generated/calc/add.py", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the model saw the diff of the edit
    assert "+def mul(a: int, b: int) -> int:" in script.revision_requests[0]
    # the edit was saved before anything was overwritten
    saved = list((repo / ".pdd/fix").rglob("add.py"))
    assert len(saved) == 1 and saved[0].read_text() == WITH_MUL
    assert str(saved[0].relative_to(repo)) in proc.stderr
    # the edit now lives in the prompt, and the regenerated file is genuine
    assert "mul(a, b)" in _prompt_text(repo)
    assert (repo / "generated/calc/add.py").read_text() == WITH_MUL
    assert note_records(repo, "generated/calc/add.py")
    status = run_pdd(repo, "status", "--json")
    states = {m["path"]: m["state"] for m in json.loads(status.stdout)["modules"]}
    assert states["generated/calc/add.py"] == "fresh"


def test_fix_hand_edit_that_cannot_be_absorbed_restores_the_genuine_file(git_repo, fake_server, run_pdd):
    repo = git_repo
    write_prompt(repo, "calc/add", PROMPT_BODY, tests=["behavior_tests/test_add.py"])
    write_test(repo, "test_add.py", TEST_ADD)
    fake_server.responder = FixScript([], lambda text: CORRECT)
    assert run_pdd(repo, "build").returncode == 0
    commit_all(repo, "add", env={"PDD_BACKEND": "openai", "PDD_MODEL": "fake-model"})
    before_prompt = _prompt_text(repo)
    (repo / "generated/calc/add.py").write_text(CORRECT + "\n# a note by hand\n")
    # the generator ignores the revision: the regenerated module passes the tests, but
    # a model returning a broken module for the revised prompt must not leave code changed
    fake_server.responder = FixScript([_revision("Mention the note.")], lambda text: Reply(text="no code here"))
    proc = run_pdd(repo, "fix", "generated/calc/add.py", "--yes", "--attempts", "1")
    assert proc.returncode == 1
    assert _prompt_text(repo) == before_prompt
    assert (repo / "generated/calc/add.py").read_text() == CORRECT
    assert note_records(repo, "generated/calc/add.py")
    saved = list((repo / ".pdd/fix").rglob("add.py"))
    assert saved and "# a note by hand" in saved[0].read_text()


def test_fix_keeps_code_blocks_inside_the_revised_prompt(git_repo, fake_server, run_pdd):
    """A prompt with its own ```python example survives a revision in a ````prompt fence."""
    repo = git_repo
    body = PROMPT_BODY.replace("## Acceptance", "Example:\n```python\nadd(1, 1)  # 2\n```\n## Acceptance")
    write_prompt(repo, "calc/add", body, tests=["behavior_tests/test_add.py"])
    write_test(repo, "test_add.py", TEST_ADD)
    fake_server.responder = FixScript([], lambda text: BUGGY)
    assert run_pdd(repo, "build", "--no-tests").returncode == 0
    commit_all(repo, "buggy", env={"PDD_BACKEND": "openai", "PDD_MODEL": "fake-model"})
    revised = _prompt_text(repo).rstrip() + "\nIt returns the sum of a and b.\n"
    script = FixScript([f"Revised:\n\n````prompt\n{revised}````\n"],
                       lambda text: CORRECT if "the sum" in text else BUGGY)
    fake_server.responder = script
    proc = run_pdd(repo, "fix", "calc/add", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _prompt_text(repo) == revised
    assert "````prompt" in script.revision_requests[0]  # the request shows the prompt in a 4-backtick fence


def test_fix_restores_the_prompt_byte_for_byte_with_its_mode(buggy_project, fake_server, run_pdd):
    repo = buggy_project
    prompt = repo / "prompts/calc/add.prompt"
    prompt.write_bytes(prompt.read_bytes().replace(b"\n", b"\r\n"))
    prompt.chmod(0o600)
    before = prompt.read_bytes()
    fake_server.responder = FixScript([_revision("It never helps.")], lambda text: BUGGY)
    proc = run_pdd(repo, "fix", "calc/add", "--yes", "--attempts", "1")
    assert proc.returncode == 1
    assert prompt.read_bytes() == before
    assert prompt.stat().st_mode & 0o777 == 0o600
