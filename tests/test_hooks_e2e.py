"""End to end: the hooks `pdd init` installs guard merges too (pre-merge-commit)."""

from __future__ import annotations

import json
import subprocess

from conftest import commit_all, git, pdd_environment, write_prompt

CODE = "def add(a: int, b: int) -> int:\n    return a + b\n"
ENV = {"PDD_BACKEND": "openai", "PDD_MODEL": "fake-model"}


def test_pre_merge_commit_refuses_a_merge_that_brings_a_hand_edit(git_repo, answers, run_pdd, fake_server):
    hooks = git_repo / ".git" / "hooks"
    assert (hooks / "pre-commit").exists() and (hooks / "pre-merge-commit").exists()
    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd(a, b).\n", tests=[], front="untested_reason: this test is not about behavior")
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


def _commit(repo, fake_server, message):
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, env=pdd_environment(fake_server),
                          capture_output=True, text=True)


def test_hook_accepts_a_rebuilt_prompt_that_includes_a_fragment(git_repo, answers, run_pdd, fake_server):
    """The narrow staged check must see fragments: a correctly rebuilt module passes."""
    write_prompt(git_repo, "calc/add", '# Adder\n## Goal\nadd(a, b).\n{% include "_shared/python_style.md" %}\n', tests=[], front="untested_reason: this test is not about behavior")
    answers["calc/add"] = CODE
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    commit_all(git_repo, "add", env=ENV)
    with open(git_repo / "prompts/calc/add.prompt", "a") as fh:
        fh.write("Keep it simple.\n")
    git(git_repo, "add", "-A")
    refused = _commit(git_repo, fake_server, "prompt only")
    assert refused.returncode != 0 and "stale" in refused.stderr  # not rebuilt yet
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    git(git_repo, "add", "-A")
    ok = _commit(git_repo, fake_server, "prompt and module")
    assert ok.returncode == 0, ok.stderr


def test_hook_does_not_let_a_dependency_cycle_through(git_repo, answers, run_pdd, fake_server):
    write_prompt(git_repo, "a", "# A\n## Goal\nA.\n", tests=[], front="untested_reason: this test is not about behavior")
    write_prompt(git_repo, "b", "# B\n## Goal\nB.\n", depends=["a"], tests=[], front="untested_reason: this test is not about behavior")
    answers["a"] = "A = 1\n"
    answers["b"] = "from generated.a import A\nB = A\n"
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    commit_all(git_repo, "ab", env=ENV)
    write_prompt(git_repo, "x", "# X\n## Goal\nX.\n", depends=["b"], tests=[], front="untested_reason: this test is not about behavior")
    write_prompt(git_repo, "b", "# B\n## Goal\nB.\n", depends=["a", "x"], tests=[], front="untested_reason: this test is not about behavior")
    git(git_repo, "add", "-A")
    proc = _commit(git_repo, fake_server, "cycle")
    assert proc.returncode != 0
    assert "dependency cycle" in proc.stderr


def test_a_submodule_under_generated_is_unexpected(git_repo, answers, run_pdd, fake_server, tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    (sub / "evil.py").write_text("X = 1\n")
    git(sub, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(sub, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "s")
    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd.\n", tests=[], front="untested_reason: this test is not about behavior")
    answers["calc/add"] = CODE
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    commit_all(git_repo, "add", env=ENV)
    git(git_repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "generated/evil")
    proc = _commit(git_repo, fake_server, "submodule")
    assert proc.returncode != 0 and "generated/evil" in proc.stderr and "submodule" in proc.stderr
    git(git_repo, "commit", "-q", "--no-verify", "-m", "submodule")
    full = run_pdd(git_repo, "check")
    assert full.returncode == 1 and "unexpected" in full.stdout


def test_build_refuses_to_write_through_a_symlinked_package(git_repo, answers, run_pdd, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "__init__.py").write_text("VALUABLE = 1\n")
    write_prompt(git_repo, "pkg/mod", "# Mod\n## Goal\nM.\n", tests=[], front="untested_reason: this test is not about behavior")
    answers["pkg/mod"] = "M = 1\n"
    (git_repo / "generated").mkdir(exist_ok=True)
    (git_repo / "generated/pkg").symlink_to(outside)
    proc = run_pdd(git_repo, "build", "--no-tests")
    assert proc.returncode == 2, proc.stderr
    assert "symbolic link" in proc.stderr
    assert (outside / "__init__.py").read_text() == "VALUABLE = 1\n"
    assert not (outside / "mod.py").exists()


def test_a_crlf_checkout_is_not_reported_as_edited_or_stale(git_repo, answers, run_pdd, fake_server, tmp_path):
    """With core.autocrlf=true the working files have CRLF line ends; status, build and
    check hash them as git does (filters applied) and render the same prompt text."""
    write_prompt(git_repo, "calc/add", '# Adder\n## Goal\nadd(a, b).\n{% include "_shared/python_style.md" %}\n',
                 tests=[], front="untested_reason: this test is not about behavior")
    answers["calc/add"] = CODE
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    commit_all(git_repo, "add", env=ENV)
    clone = tmp_path / "crlf"
    git(tmp_path, "clone", "-q", "-c", "core.autocrlf=true", str(git_repo), str(clone))
    git(clone, "fetch", "-q", "origin", "refs/notes/pdd:refs/notes/pdd")
    assert b"\r\n" in (clone / "generated/calc/add.py").read_bytes()
    assert b"\r\n" in (clone / "prompts/calc/add.prompt").read_bytes()
    status = json.loads(run_pdd(clone, "status", "--json").stdout)
    assert {m["path"]: m["state"] for m in status["modules"]} == {"generated/calc/add.py": "fresh"}
    before = fake_server.request_count
    build = run_pdd(clone, "build", "--no-tests")
    assert build.returncode == 0 and "1 fresh" in build.stderr
    assert fake_server.request_count == before
    assert run_pdd(clone, "check").returncode == 0


def test_hook_handles_includes_that_are_not_underscore_fragments(git_repo, answers, run_pdd, fake_server):
    (git_repo / "prompts").mkdir(exist_ok=True)
    (git_repo / "prompts/common.md").write_text("Shared rule one.\n")
    write_prompt(git_repo, "calc/add", '# Adder\n## Goal\nadd.\n{% include "common.md" %}\n', tests=[], front="untested_reason: this test is not about behavior")
    answers["calc/add"] = CODE
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    git(git_repo, "add", "-A")
    first = _commit(git_repo, fake_server, "prompt, include and module")
    assert first.returncode == 0, first.stderr
    (git_repo / "prompts/common.md").write_text("Shared rule two.\n")
    git(git_repo, "add", "-A")
    stale = _commit(git_repo, fake_server, "include only")
    assert stale.returncode != 0 and "stale" in stale.stderr and "generated/calc/add.py" in stale.stderr


def test_hook_refuses_deleting_a_package_init_made_by_pdd(git_repo, answers, run_pdd, fake_server):
    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd.\n", tests=[], front="untested_reason: this test is not about behavior")
    answers["calc/add"] = CODE
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    commit_all(git_repo, "add", env=ENV)
    git(git_repo, "rm", "-q", "generated/calc/__init__.py")
    proc = _commit(git_repo, fake_server, "drop init")
    assert proc.returncode != 0 and "generated/calc/__init__.py" in proc.stderr and "missing" in proc.stderr


def test_fetched_notes_are_merged_with_local_notes_of_the_same_blob(git_repo, answers, run_pdd, fake_server):
    """A teammate reworded the prompt and got the same code: the blob's fetched note has
    the new fingerprint, the local one only the old; the file must count as fresh."""
    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd.\n", tests=[], front="untested_reason: this test is not about behavior")
    answers["calc/add"] = CODE
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    commit_all(git_repo, "add", env=ENV)
    old_tip = git(git_repo, "rev-parse", "refs/notes/pdd")
    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd two ints.\n", tests=[], front="untested_reason: this test is not about behavior")
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0  # same code, a second note line
    commit_all(git_repo, "reword", env=ENV)
    git(git_repo, "update-ref", "refs/notes/remotes/origin/pdd", "refs/notes/pdd")
    git(git_repo, "update-ref", "refs/notes/pdd", old_tip)
    for args in (("check",), ("status", "--json")):
        proc = run_pdd(git_repo, *args)
        assert proc.returncode == 0 and "stale" not in proc.stdout, proc.stdout
    build = run_pdd(git_repo, "build", "--no-tests")
    assert build.returncode == 0 and "1 fresh" in build.stderr


def test_hook_refuses_deleting_the_behavior_tests_a_module_lists(git_repo, answers, run_pdd, fake_server):
    # The module is untouched, only its test file is staged (deleted): the narrow
    # staged check alone would never look at the module, which is now untested.
    from conftest import write_test

    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd.\n", tests=["tests/test_calc_add.py"])
    (git_repo / "tests").mkdir()
    (git_repo / "tests/test_calc_add.py").write_text(
        "from generated.calc.add import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    write_test(git_repo, "other", "def test_other():\n    assert True\n")
    answers["calc/add"] = CODE
    assert run_pdd(git_repo, "build").returncode == 0
    commit_all(git_repo, "add", env=ENV)
    git(git_repo, "rm", "-q", "behavior_tests/test_other.py")  # lists no module: allowed
    proc = _commit(git_repo, fake_server, "drop an unrelated test")
    assert proc.returncode == 0, proc.stderr
    git(git_repo, "rm", "-q", "tests/test_calc_add.py")
    proc = _commit(git_repo, fake_server, "drop the test")
    assert proc.returncode != 0, proc.stderr
    assert "untested" in proc.stderr and "tests/test_calc_add.py" in proc.stderr
