"""Environment overrides and freshness: ``generator-changed`` is a warning, not ``stale``.

A module built with a backend or model from one person's environment
(``PDD_MODEL``) must not make a teammate's commit fail: the real pre-commit hook in
a real repository accepts it with a warning, while a prompt change still makes it
stale and refused, whatever the generator.
"""

from __future__ import annotations

import json
import subprocess

from conftest import git, pdd_environment, requests_for, write_prompt, write_test

MODULE = "alpha"
PY = "generated/alpha.py"
CODE = '"""Module alpha."""\n\n\ndef alpha() -> int:\n    """The number 1."""\n    return 1\n'
LOCAL = {"PDD_MODEL": "qwen2.5-coder-local"}  # one person's environment override
TEST = "from generated.alpha import alpha\n\n\ndef test_alpha():\n    assert alpha() == 1\n"


def ok(proc: subprocess.CompletedProcess, code: int = 0) -> subprocess.CompletedProcess:
    assert proc.returncode == code, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def commit(repo, fake_server, message: str) -> subprocess.CompletedProcess:
    """``git commit -a`` with the teammate's environment (no override): the real hook runs."""
    git(repo, "add", "-A")
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, capture_output=True, text=True,
                          env=pdd_environment(fake_server))


def test_module_built_with_an_env_override_commits_for_a_teammate_with_a_warning(git_repo, answers, run_pdd,
                                                                                  fake_server):
    write_prompt(git_repo, MODULE, "# Goal\nalpha() returns 1.")
    write_test(git_repo, MODULE, TEST)  # a module without behavior tests is `untested` (issue 10)
    answers[MODULE] = CODE
    ok(run_pdd(git_repo, "build", "--no-tests", env=LOCAL))

    proc = commit(git_repo, fake_server, "built with a local model")

    assert proc.returncode == 0, proc.stderr
    assert "warning: generator-changed:" in proc.stdout + proc.stderr
    assert "model qwen2.5-coder-local -> fake-model" in proc.stdout + proc.stderr
    assert git(git_repo, "log", "-1", "--format=%s") == "built with a local model"
    # pdd check (CI, the teammate's environment) passes and says the same, as a warning
    check = ok(run_pdd(git_repo, "check", "--format", "json"))
    problems = json.loads(check.stdout)["problems"]
    assert [(p["state"], p["severity"]) for p in problems] == [("generator-changed", "warning")]
    # status names the state; build keeps the file and makes no request
    states = {m["module"]: m for m in json.loads(ok(run_pdd(git_repo, "status", "--json")).stdout)["modules"]}
    assert states[MODULE]["state"] == "generator-changed"
    before = len(requests_for(fake_server, MODULE))
    ok(run_pdd(git_repo, "build", "--no-tests"))
    assert len(requests_for(fake_server, MODULE)) == before
    # --force regenerates with the configured generator: fresh, no warning
    ok(run_pdd(git_repo, "build", "--no-tests", "--force", MODULE))
    assert len(requests_for(fake_server, MODULE)) == before + 1
    check = ok(run_pdd(git_repo, "check", "--format", "json"))
    assert json.loads(check.stdout)["problems"] == []


def test_a_prompt_change_is_still_stale_and_refused_by_the_hook(git_repo, answers, run_pdd, fake_server):
    """The counterfactual: only the generator part is relaxed; prompt inputs decide stale."""
    write_prompt(git_repo, MODULE, "# Goal\nalpha() returns 1.")
    write_test(git_repo, MODULE, TEST)  # a module without behavior tests is `untested` (issue 10)
    answers[MODULE] = CODE
    ok(run_pdd(git_repo, "build", "--no-tests", env=LOCAL))
    ok(commit(git_repo, fake_server, "built with a local model"))
    write_prompt(git_repo, MODULE, "# Goal\nalpha() returns 1, documented.")

    proc = commit(git_repo, fake_server, "prompt changed, not rebuilt")

    assert proc.returncode == 1
    assert f"{PY} is stale: prompt changed" in proc.stdout + proc.stderr
    assert git(git_repo, "log", "-1", "--format=%s") == "built with a local model"
    # the same refusal with the override set: the generator never decides staleness
    check = run_pdd(git_repo, "check", "--staged", env=LOCAL)
    assert check.returncode == 1 and f"{PY} is stale" in check.stdout
