"""End to end: the hooks `pdd init` installs guard merges too (pre-merge-commit)."""

from __future__ import annotations

import subprocess

from conftest import commit_all, git, pdd_environment, write_prompt

CODE = "def add(a: int, b: int) -> int:\n    return a + b\n"
ENV = {"PDD_BACKEND": "openai", "PDD_MODEL": "fake-model"}


def test_pre_merge_commit_refuses_a_merge_that_brings_a_hand_edit(git_repo, answers, run_pdd, fake_server):
    hooks = git_repo / ".git" / "hooks"
    assert (hooks / "pre-commit").exists() and (hooks / "pre-merge-commit").exists()
    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd(a, b).\n", tests=[])
    answers["calc/add"] = CODE
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    commit_all(git_repo, "add", env=ENV)
    git(git_repo, "checkout", "-q", "-b", "topic")
    (git_repo / "generated/calc/add.py").write_text(CODE + "# by hand\n")
    git(git_repo, "commit", "-q", "-a", "--no-verify", "-m", "hand edit")
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "README.md").write_text("unrelated\n")
    commit_all(git_repo, "readme", env=ENV)
    merge = subprocess.run(["git", "merge", "--no-ff", "-m", "merge topic", "topic"], cwd=git_repo,
                           env=pdd_environment(fake_server), capture_output=True, text=True)
    assert merge.returncode != 0, merge.stdout + merge.stderr
    assert "pdd fix generated/calc/add.py" in merge.stderr
    assert git(git_repo, "log", "-1", "--format=%s").strip() == "readme"  # no merge commit was made
