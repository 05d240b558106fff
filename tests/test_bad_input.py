"""Bad input never gives a traceback (issue 9, section 3).

End to end through the real CLI in temporary git repositories (the fake model server
of ``tests/fakeserver.py`` as the model), plus hypothesis property tests over
malformed note lines, configurations and prompts. Each property test counts the
inputs it tried and the tracebacks it saw and prints them (run with ``-s``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import NOTES_REF, blob_id, commit_all, git, write_file, write_prompt

CODE = "def add(a: int, b: int) -> int:\n    return a + b\n"
ENV = {"PDD_BACKEND": "openai", "PDD_MODEL": "fake-model"}
OUT = "generated/calc/add.py"


def _built(git_repo, answers, run_pdd, body="# Adder\n## Goal\nadd(a, b).\n"):
    write_prompt(git_repo, "calc/add", body, tests=[])
    answers["calc/add"] = CODE
    proc = run_pdd(git_repo, "build", "--no-tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    commit_all(git_repo, "add", env=ENV)


def _no_traceback(proc):
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


# -- notes ----------------------------------------------------------------------------------------------------------

def _set_note(repo: Path, text: str) -> None:
    git(repo, "notes", "--ref", "pdd", "add", "-f", "-m", text, blob_id(repo, OUT))


@pytest.mark.parametrize("field,value", [("inputs", "x"), ("cost_usd", "x"), ("tokens_in", [1]),
                                         ("time", 5), ("path", None)])
def test_a_note_line_with_wrong_types_is_reported_and_skipped(git_repo, answers, run_pdd, field, value):
    _built(git_repo, answers, run_pdd)
    good = json.loads(git(git_repo, "notes", "--ref", "pdd", "show", blob_id(git_repo, OUT)).splitlines()[0])
    bad = dict(good, **{field: value, "time": "9999" if field != "time" else value})
    _set_note(git_repo, json.dumps(good) + "\n" + json.dumps(bad))
    for cmd in (("check",), ("status",), ("explain", OUT), ("build", "--no-tests")):
        proc = run_pdd(git_repo, *cmd)
        _no_traceback(proc)
        assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)
        assert "line 2" in proc.stderr and "ignored" in proc.stderr and repr(field) in proc.stderr, (cmd, proc.stderr)
    # the only line is bad: the file has no valid note, so it is edited (exit 1), not a crash
    _set_note(git_repo, json.dumps(bad))
    proc = run_pdd(git_repo, "check")
    _no_traceback(proc)
    assert proc.returncode == 1 and "line 1" in proc.stderr


def _point_notes_ref_at(repo: Path, what: str) -> None:
    if what == "blob":
        target = git(repo, "rev-parse", f"HEAD:{OUT}")
    elif what == "tree":
        target = git(repo, "rev-parse", "HEAD^{tree}")
    else:  # a commit that is not a notes commit
        target = git(repo, "rev-parse", "HEAD")
    git(repo, "update-ref", NOTES_REF, target)


@pytest.mark.parametrize("what", ["blob", "tree", "commit"])
def test_a_notes_ref_that_is_not_a_notes_commit_is_exit_2(git_repo, answers, run_pdd, pdd_env, what):
    _built(git_repo, answers, run_pdd)
    _point_notes_ref_at(git_repo, what)
    for cmd in (("check",), ("status",), ("explain", OUT), ("build", "--no-tests")):
        proc = run_pdd(git_repo, *cmd)
        _no_traceback(proc)
        assert proc.returncode == 2, (cmd, proc.stdout, proc.stderr)
        assert "is not a notes commit" in proc.stderr and "git update-ref -d refs/notes/pdd" in proc.stderr
        assert "edited" not in proc.stdout
    # the hook (git plumbing path) refuses the commit with the same message
    write_file(git_repo, OUT, CODE + "# hand edit\n")
    git(git_repo, "add", OUT)
    hook = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=git_repo, env=pdd_env, capture_output=True, text=True)
    assert hook.returncode != 0 and "is not a notes commit" in hook.stderr
    _no_traceback(hook)
    # the ref was not touched by the failed build
    assert git(git_repo, "cat-file", "-t", NOTES_REF) == ("commit" if what == "commit" else what)
