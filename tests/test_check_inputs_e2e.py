"""End to end: ``pdd check`` on inputs that are not modules or not text."""

from __future__ import annotations

import json

from conftest import commit_all, git, write_file, write_prompt

CODE = "def add(a: int, b: int) -> int:\n    return a + b\n"
ENV = {"PDD_BACKEND": "openai", "PDD_MODEL": "fake-model"}


def _built(git_repo, answers, run_pdd):
    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd(a, b).\n", tests=[], front="untested_reason: this test is not about behavior")
    answers["calc/add"] = CODE
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    commit_all(git_repo, "add", env=ENV)


def test_a_tracked_non_module_under_generated_fails_the_check(git_repo, answers, run_pdd):
    _built(git_repo, answers, run_pdd)
    assert run_pdd(git_repo, "check").returncode == 0
    write_file(git_repo, "generated/calc/__pycache__/add.cpython-311.pyc", "not really bytecode\n")
    git(git_repo, "add", "-f", "generated/calc/__pycache__/add.cpython-311.pyc")
    hook = run_pdd(git_repo, "check", "--staged", "--format", "json")
    assert hook.returncode == 1
    problems = json.loads(hook.stdout)["problems"]
    assert [(p["path"], p["state"]) for p in problems] == [("generated/calc/__pycache__/add.cpython-311.pyc", "unexpected")]
    git(git_repo, "commit", "-q", "--no-verify", "-m", "pyc")
    full = run_pdd(git_repo, "check")
    assert full.returncode == 1 and "unexpected" in full.stdout and "git rm --cached" in full.stdout


def test_a_prompt_that_is_not_utf8_is_bad_input(git_repo, answers, run_pdd):
    _built(git_repo, answers, run_pdd)
    (git_repo / "prompts/calc/add.prompt").write_bytes(b"# Adder\n\xff\xfe broken\n")
    git(git_repo, "add", "-A")
    proc = run_pdd(git_repo, "check", "--staged")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "prompts/calc/add.prompt" in proc.stderr and "UTF-8" in proc.stderr
    assert "Traceback" not in proc.stderr
