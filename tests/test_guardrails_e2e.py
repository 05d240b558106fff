"""End-to-end tests of the guardrails: ``pdd check``, the pre-commit hook, and notes
that travel between clones (product contract, "Provenance in git notes").

Everything runs for real: the ``pdd`` CLI and ``python -m pdd.hook`` as
subprocesses, ``git commit`` running the installed hook, a bare remote made with
``git init --bare`` and several clones of it, and the fake model server of
``tests/fakeserver.py`` (through the conftest fixtures) as the backend.

The sample project has two independent tiny modules, ``alpha`` and ``beta``
(``generated/alpha.py``, ``generated/beta.py``), built with ``--no-tests`` where
the behavior tests do not matter. It is built once per test module (``template``)
and copied into each test, with its notes, cache and installed hook.

Covered: hand edits refused by the hook (also ``git commit -a``), bypassed with
``--no-verify`` and caught by ``pdd check`` on another clone (text, json, github
formats); stale output refused unless ``check: {stale: warn}``; notes synced
between clones across branches and merges, and after a lost push race; rebase,
amend and cherry-pick; a clone without notes; a plain ``git pull`` before ``pdd
notes sync``; missing, orphan and copied files; ``--tests`` and ``--regenerate``;
hook chaining; the hook's light import path; the pre-commit framework driven by
our ``.pre-commit-hooks.yaml``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Mapping, Optional

import pytest

from conftest import (
    NOTES_REF,
    FakeModelServer,
    ModuleAnswers,
    commit_all,
    git,
    init_git_repo,
    note_records,
    notes_list,
    notes_ref,
    requests_by_module,
    run_pdd_cli,
    snapshot_files,
    write_file,
    write_prompt,
    write_test,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
FETCH_NOTES = "pdd notes sync"
TRACKING = "refs/notes/remotes/origin/pdd"

ALPHA_PY = "generated/alpha.py"
BETA_PY = "generated/beta.py"


def code_for(func: str, value: int, doc: str = "") -> str:
    """A tiny module defining ``func() -> int`` returning ``value``."""
    return (f'"""Module {func}.{doc}"""\n\n__all__ = ["{func}"]\n\n\n'
            f'def {func}() -> int:\n    """The number {value}."""\n    return {value}\n')


ALPHA_CODE = code_for("alpha", 1)
BETA_CODE = code_for("beta", 2)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def run(repo: Path, *args: str, env: Mapping[str, str], input: Optional[str] = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``args`` in ``repo`` with ``env``; return the CompletedProcess (text)."""
    return subprocess.run(list(args), cwd=repo, env=dict(env), capture_output=True, text=True, input=input,
                          timeout=timeout)


def git_run(repo: Path, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess:
    """``git ARGS`` in ``repo`` (hooks run with ``env``); the CompletedProcess, unchecked."""
    return run(repo, "git", *args, env=env)


def ok(proc: subprocess.CompletedProcess, what: str = "") -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{what or proc.args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def check_json(run_pdd, repo: Path, *args: str) -> tuple[int, dict]:
    proc = run_pdd(repo, "check", "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def states(payload: dict) -> Dict[str, str]:
    """``{path: state}`` of a ``check --format json`` payload (errors and warnings)."""
    return {p["path"]: p["state"] for p in payload["problems"]}


def add_project(repo: Path, run_pdd, answers) -> None:
    """Prompts ``alpha`` and ``beta``, built (no tests)."""
    answers["alpha"] = ALPHA_CODE
    answers["beta"] = BETA_CODE
    write_prompt(repo, "alpha", "# Goal\nA function alpha() returning 1.")
    write_prompt(repo, "beta", "# Goal\nA function beta() returning 2.")
    # Behavior tests, so neither module is untested (a failure since issue 10).
    write_test(repo, "alpha", "from generated.alpha import alpha\n\n\ndef test_alpha():\n    assert alpha() == 1\n")
    write_test(repo, "beta", "from generated.beta import beta\n\n\ndef test_beta():\n    assert beta() == 2\n")
    ok(run_pdd(repo, "build", "--no-tests"), "pdd build")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A repository with ``pdd init`` (hook installed) and alpha and beta built and
    committed, made once per module with its own fake server; tests copy it."""
    answers = ModuleAnswers()
    server = FakeModelServer(answers).start()
    try:
        repo = init_git_repo(tmp_path_factory.mktemp("template") / "repo")
        ok(run_pdd_cli(repo, "init", server=server), "pdd init")
        add_project(repo, lambda r, *a, **k: run_pdd_cli(r, *a, server=server, **k), answers)
        commit_all(repo, "alpha and beta")
    finally:
        server.stop()
    return repo


def project_copy(template: Path, dest: Path) -> Path:
    """A copy of the template repository (work tree, index, notes, cache, hook)."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


@pytest.fixture(autouse=True)
def _default_answers(answers) -> None:
    answers["alpha"] = ALPHA_CODE
    answers["beta"] = BETA_CODE


@pytest.fixture
def project(template, tmp_path) -> Path:
    """A fresh copy of the template: alpha and beta built, committed, hook installed."""
    return project_copy(template, tmp_path / "repo")


def make_origin(tmp_path: Path) -> Path:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True, capture_output=True)
    return origin


def clone(origin: Path, dest: Path, run_pdd, *, init: bool = True) -> Path:
    """``git clone`` then (with ``init``) ``pdd init``, which adds the notes refspec and the hook."""
    subprocess.run(["git", "clone", "-q", str(origin), str(dest)], check=True, capture_output=True,
                   env=_plain_git_env())
    git(dest, "config", "user.name", "pdd tests")
    git(dest, "config", "user.email", "pdd-tests@example.invalid")
    git(dest, "config", "commit.gpgsign", "false")
    if init:
        proc = ok(run_pdd(dest, "init"), "pdd init in the clone")
        assert "refs/notes/remotes/origin/pdd" in proc.stdout
    return dest


def _plain_git_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
    return env


def remote_pair(tmp_path: Path, template: Path, run_pdd) -> tuple[Path, Path, Path]:
    """``(origin, a, b)``: a bare remote; ``a`` has the project, got the remote,
    then ran ``pdd init`` (which adds the notes refspec), pushed main and synced the
    notes; ``b`` cloned it and ran ``pdd init`` and ``pdd notes sync``."""
    origin = make_origin(tmp_path)
    a = project_copy(template, tmp_path / "a")
    git(a, "remote", "add", "origin", str(origin))
    proc = ok(run_pdd(a, "init"), "pdd init")
    assert "refs/notes/remotes/origin/pdd" in proc.stdout
    assert git(a, "config", "--get-all", "remote.origin.fetch").splitlines() == [
        "+refs/heads/*:refs/remotes/origin/*", "+refs/notes/pdd:refs/notes/remotes/origin/pdd"]
    assert git(a, "config", "notes.pdd.mergeStrategy") == "cat_sort_uniq"
    git(a, "push", "-q", "-u", "origin", "main")
    ok(run_pdd(a, "notes", "sync"), "pdd notes sync")
    b = clone(origin, tmp_path / "b", run_pdd)
    ok(run_pdd(b, "notes", "sync"), "pdd notes sync in b")
    assert notes_ref(b) == notes_ref(a)
    return origin, a, b


def remote_notes(origin: Path) -> Dict[str, str]:
    out = subprocess.run(["git", "notes", "--ref", "pdd", "list"], cwd=origin, capture_output=True, text=True,
                         env=_plain_git_env(), check=True).stdout
    return {obj: note for note, obj in (line.split() for line in out.splitlines())}


def set_stale_policy(repo: Path, policy: str) -> None:
    cfg = repo / ".pdd" / "config.yaml"
    text = cfg.read_text(encoding="utf-8")
    assert "stale: error" in text
    cfg.write_text(text.replace("stale: error", f"stale: {policy}"), encoding="utf-8")


# ---------------------------------------------------------------------------
# Hand edits: the hook refuses them, CI's check catches a bypass
# ---------------------------------------------------------------------------


def test_hand_edit_refused_by_hook_bypass_caught_by_check_on_other_clone(template, tmp_path, run_pdd, answers, pdd_env):
    origin, a, b = remote_pair(tmp_path, template, run_pdd)
    hook = (a / ".git" / "hooks" / "pre-commit").read_text()
    assert "pdd.hook" in hook

    before = head(a)
    (a / ALPHA_PY).write_text(ALPHA_CODE.replace("return 1", "return 1  # hot fix"), encoding="utf-8")
    git(a, "add", ALPHA_PY)
    proc = git_run(a, "commit", "-m", "hand edit", env=pdd_env)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert f"pdd fix {ALPHA_PY}" in proc.stderr
    assert "pdd build" in proc.stderr
    assert "edited" in proc.stderr and ALPHA_PY in proc.stderr
    assert head(a) == before, "the refused commit must not be created"

    # `git commit -a` (the hook sees git's temporary index) is refused too.
    git(a, "reset", "-q")
    proc = git_run(a, "commit", "-a", "-m", "hand edit, -a", env=pdd_env)
    assert proc.returncode != 0 and f"pdd fix {ALPHA_PY}" in proc.stderr
    assert head(a) == before

    # The staged check says the same, in the documented shapes.
    git(a, "add", ALPHA_PY)
    code, payload = check_json(run_pdd, a, "--staged")
    assert code == 1 and payload["mode"] == "index" and states(payload) == {ALPHA_PY: "edited"}

    proc = git_run(a, "commit", "--no-verify", "-m", "hand edit (bypassing the hook)", env=pdd_env)
    ok(proc, "commit --no-verify")
    assert head(a) != before
    git(a, "push", "-q", "origin", "main")

    # The other clone: a plain `git fetch` brings the notes (refspec set by pdd init).
    git(b, "fetch", "-q")
    assert git(b, "rev-parse", TRACKING) == notes_ref(a)
    git(b, "merge", "-q", "--ff-only", "origin/main")
    ok(run_pdd(b, "notes", "sync"), "notes sync")

    proc = run_pdd(b, "check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"edited: {ALPHA_PY} is not genuine" in proc.stdout
    assert f"fix: pdd fix {ALPHA_PY}" in proc.stdout
    assert BETA_PY not in proc.stdout

    code, payload = check_json(run_pdd, b)
    assert code == 1
    assert payload["ok"] is False and payload["exit_code"] == 1 and payload["mode"] == "working tree"  # the default since issue 10
    assert payload["checked"] == 2
    [problem] = payload["problems"]
    assert problem["path"] == ALPHA_PY and problem["state"] == "edited" and problem["severity"] == "error"
    assert problem["module"] == "alpha"
    assert problem["fix"].startswith(f"pdd fix {ALPHA_PY}")
    assert "no pdd note" in problem["message"]

    proc = run_pdd(b, "check", "--format", "github")
    assert proc.returncode == 1
    annotations = [ln for ln in proc.stdout.splitlines() if ln.startswith("::")]
    assert len(annotations) == 1
    assert annotations[0].startswith(f"::error file={ALPHA_PY},title=pdd edited::")
    assert f"pdd fix {ALPHA_PY}" in annotations[0]

    # Bad --format is a usage error.
    assert run_pdd(b, "check", "--format", "xml").returncode == 2

    # The fix: rebuild from the prompt; the check passes again.
    ok(run_pdd(b, "build", "--no-tests", "--force", "alpha"), "build --force")
    assert (b / ALPHA_PY).read_text() == ALPHA_CODE
    ok(git_run(b, "commit", "-a", "-m", "rebuilt", env=pdd_env), "genuine commit")
    assert run_pdd(b, "check").returncode == 0


def test_edited_init_file_is_refused(project, run_pdd, pdd_env):
    git_repo = project
    (git_repo / "generated" / "__init__.py").write_text("import os\n", encoding="utf-8")
    proc = git_run(git_repo, "commit", "-a", "-m", "edit __init__", env=pdd_env)
    assert proc.returncode == 1
    assert "generated/__init__.py is made by pdd and was edited by hand" in proc.stderr


# ---------------------------------------------------------------------------
# Stale: prompt edited but not rebuilt
# ---------------------------------------------------------------------------


def test_stale_refused_unless_config_says_warn(project, run_pdd, answers, pdd_env):
    repo = project
    write_prompt(repo, "alpha", "# Goal\nA function alpha() returning 1, documented.")
    before = head(repo)
    proc = git_run(repo, "commit", "-a", "-m", "prompt only", env=pdd_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"error: stale: {ALPHA_PY} is stale: prompt changed" in proc.stderr
    assert "pdd build alpha" in proc.stderr and "pdd build" in proc.stderr
    assert "pdd fix" not in proc.stderr  # nothing was edited by hand
    assert head(repo) == before

    set_stale_policy(repo, "warn")
    proc = git_run(repo, "commit", "-a", "-m", "prompt only, stale allowed", env=pdd_env)
    ok(proc, "commit with check.stale: warn")
    assert f"warning: stale: {ALPHA_PY} is stale" in proc.stderr
    assert head(repo) != before

    # The policy is for the hook only: CI's check (HEAD) still fails on stale output.
    code, payload = check_json(run_pdd, repo)
    assert code == 1 and states(payload) == {ALPHA_PY: "stale"}
    assert payload["problems"][0]["fix"] == f"pdd build alpha && git add {ALPHA_PY}"

    # Rebuilding makes it fresh.
    answers["alpha"] = code_for("alpha", 1, " Documented.")
    ok(run_pdd(repo, "build", "--no-tests"), "build")
    ok(git_run(repo, "commit", "-a", "-m", "rebuilt", env=pdd_env), "genuine commit")
    assert run_pdd(repo, "check").returncode == 0


def test_stale_fragment_and_generator_change(git_repo, run_pdd, answers, pdd_env):
    repo = git_repo
    answers["alpha"] = ALPHA_CODE
    answers["beta"] = BETA_CODE
    write_prompt(repo, "alpha", '# Goal\nalpha() returns 1.\n{% include "_shared/python_style.md" %}')
    write_prompt(repo, "beta", "# Goal\nbeta() returns 2.")
    write_test(repo, "alpha", ALPHA_TEST)  # behavior tests: a module without them is `untested` (issue 10)
    write_test(repo, "beta", "from generated.beta import beta\n\n\ndef test_beta():\n    assert beta() == 2\n")
    ok(run_pdd(repo, "build", "--no-tests"))
    commit_all(repo)
    assert run_pdd(repo, "check").returncode == 0
    # An included fragment changed: only the module including it is stale.
    style = repo / "prompts" / "_shared" / "python_style.md"
    style.write_text(style.read_text() + "- Prefer pure functions.\n", encoding="utf-8")
    proc = git_run(repo, "commit", "-a", "-m", "style", env=pdd_env)
    assert proc.returncode == 1 and f"{ALPHA_PY} is stale" in proc.stderr and BETA_PY not in proc.stderr
    git(repo, "checkout", "--", ".")
    # Another model (environment override) is a warning, not staleness (see test_generator_changed_e2e.py).
    proc = run_pdd(repo, "check", env={"PDD_MODEL": "another-model"})
    assert proc.returncode == 0
    assert proc.stdout.count("warning: generator-changed:") == 2 and "model fake-model -> another-model" in proc.stdout
    assert " is stale" not in proc.stdout


# ---------------------------------------------------------------------------
# Notes travel: branches built in different clones, merged; a lost push race
# ---------------------------------------------------------------------------


def test_branches_built_in_two_clones_merge_genuine(template, tmp_path, run_pdd, answers, pdd_env):
    origin, a, b = remote_pair(tmp_path, template, run_pdd)

    git(a, "checkout", "-q", "-b", "feat-a")
    write_prompt(a, "alpha", "# Goal\nalpha() returns 10.")
    answers["alpha"] = code_for("alpha", 10)
    ok(run_pdd(a, "build", "--no-tests"))
    ok(git_run(a, "commit", "-a", "-m", "alpha 10", env=pdd_env), "commit in a (hook passes)")
    git(a, "push", "-q", "origin", "feat-a")
    ok(run_pdd(a, "notes", "sync"))

    git(b, "checkout", "-q", "-b", "feat-b")
    write_prompt(b, "beta", "# Goal\nbeta() returns 20.")
    answers["beta"] = code_for("beta", 20)
    ok(run_pdd(b, "build", "--no-tests"))
    ok(git_run(b, "commit", "-a", "-m", "beta 20", env=pdd_env), "commit in b (hook passes)")
    git(b, "push", "-q", "origin", "feat-b")
    proc = ok(run_pdd(b, "notes", "sync"))
    assert "pushed" in proc.stdout

    # The remote's notes hold both branches' notes (cat_sort_uniq merge, no conflict).
    on_remote = remote_notes(origin)
    alpha10 = git(a, "rev-parse", f"feat-a:{ALPHA_PY}")
    beta20 = git(b, "rev-parse", f"feat-b:{BETA_PY}")
    assert alpha10 in on_remote and beta20 in on_remote

    # Merge both branches in a; everything is genuine.
    git(a, "checkout", "-q", "main")
    git(a, "fetch", "-q")
    ok(git_run(a, "merge", "-q", "--no-edit", "feat-a", env=pdd_env))
    ok(git_run(a, "merge", "-q", "--no-ff", "--no-edit", "origin/feat-b", env=pdd_env), "merge feat-b")
    ok(run_pdd(a, "notes", "sync"))
    proc = run_pdd(a, "check")
    assert proc.returncode == 0, proc.stdout
    assert "2 module(s) genuine and fresh" in proc.stdout
    git(a, "push", "-q", "origin", "main")

    git(b, "checkout", "-q", "main")
    git(b, "fetch", "-q")
    git(b, "merge", "-q", "--ff-only", "origin/main")
    ok(run_pdd(b, "notes", "sync"))
    assert notes_ref(b) == notes_ref(a)
    proc = run_pdd(b, "check")
    assert proc.returncode == 0, proc.stdout
    assert (b / ALPHA_PY).read_text() == code_for("alpha", 10)
    assert (b / BETA_PY).read_text() == code_for("beta", 20)


def test_notes_sync_retries_after_losing_a_push_race(template, tmp_path, run_pdd, answers, pdd_env):
    origin, a, b = remote_pair(tmp_path, template, run_pdd)
    # Both clones write new notes locally.
    write_prompt(a, "alpha", "# Goal\nalpha() returns 3.")
    answers["alpha"] = code_for("alpha", 3)
    ok(run_pdd(a, "build", "--no-tests"))
    write_prompt(b, "beta", "# Goal\nbeta() returns 4.")
    answers["beta"] = code_for("beta", 4)
    ok(run_pdd(b, "build", "--no-tests"))
    new_a = blob_of(a, ALPHA_PY)
    new_b = blob_of(b, BETA_PY)
    before = remote_notes(origin)
    assert new_a not in before and new_b not in before

    # The race: b has fetched and merged; just before its push lands, a pushes its
    # notes (from b's pre-push hook, so the interleaving is certain).
    marker = tmp_path / "raced"
    pre_push = b / ".git" / "hooks" / "pre-push"
    pre_push.write_text(
        "#!/bin/sh\n"
        f'if [ ! -e "{marker}" ]; then\n'
        f'  touch "{marker}"\n'
        "  unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX\n"
        f'  git -C "{a}" push -q origin refs/notes/pdd:refs/notes/pdd || exit 1\n'
        "fi\n"
        "exit 0\n", encoding="utf-8")
    pre_push.chmod(0o755)
    proc = run_pdd(b, "notes", "sync")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert marker.exists(), "the concurrent push did not happen"
    assert "round 2" in proc.stdout, proc.stdout  # the first push lost the race

    after = remote_notes(origin)
    assert set(before) | {new_a, new_b} <= set(after), "a note was lost"
    # a's notes commit is an ancestor of the remote's: nothing of a's was overwritten.
    remote_tip = git(b, "ls-remote", "origin", NOTES_REF).split()[0]
    assert git(b, "merge-base", "--is-ancestor", notes_ref(a), remote_tip) == ""
    ok(run_pdd(a, "notes", "sync"))
    assert notes_ref(a) == notes_ref(b) == remote_tip
    assert note_records(a, new_b)[0]["path"] == BETA_PY
    assert note_records(b, new_a)[0]["path"] == ALPHA_PY

    # Two syncs started at the same moment: both succeed, the remote keeps every note.
    write_prompt(a, "alpha", "# Goal\nalpha() returns 5.")
    answers["alpha"] = code_for("alpha", 5)
    ok(run_pdd(a, "build", "--no-tests"))
    write_prompt(b, "beta", "# Goal\nbeta() returns 6.")
    answers["beta"] = code_for("beta", 6)
    ok(run_pdd(b, "build", "--no-tests"))
    procs = [subprocess.Popen([sys.executable, "-m", "pdd", "notes", "sync"], cwd=r, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_plain_git_env()) for r in (a, b)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ok(run_pdd(a, "notes", "sync"))
    assert set(after) | {blob_of(a, ALPHA_PY), blob_of(b, BETA_PY)} <= set(remote_notes(origin))


def blob_of(repo: Path, rel: str) -> str:
    return git(repo, "hash-object", "--", rel)


def test_pull_without_notes_sync_is_not_a_false_edit(template, tmp_path, run_pdd, answers, pdd_env):
    """A plain ``git pull`` brings the remote's notes into the remote-tracking notes
    ref only; until ``pdd notes sync`` merges them, a file built and pushed elsewhere
    must not look edited (check, hook, status, build)."""
    origin, a, b = remote_pair(tmp_path, template, run_pdd)
    write_prompt(a, "alpha", "# Goal\nalpha() returns 8.")
    answers["alpha"] = code_for("alpha", 8)
    ok(run_pdd(a, "build", "--no-tests"))
    ok(git_run(a, "commit", "-a", "-m", "alpha 8", env=pdd_env))
    git(a, "push", "-q", "origin", "main")
    ok(run_pdd(a, "notes", "sync"))

    local_before = notes_ref(b)
    git(b, "pull", "-q", "--ff-only")
    assert notes_ref(b) == local_before  # the local notes ref did not move
    assert git(b, "rev-parse", TRACKING) == notes_ref(a)
    new_alpha = blob_of(b, ALPHA_PY)
    assert note_records(b, new_alpha) == []  # not in refs/notes/pdd yet

    proc = run_pdd(b, "check")
    assert proc.returncode == 0, proc.stdout
    proc = run_pdd(b, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {m["path"]: m["state"] for m in json.loads(proc.stdout)["modules"]} == {ALPHA_PY: "fresh", BETA_PY: "fresh"}
    calls = sum(answers.calls.values())
    proc = ok(run_pdd(b, "build", "--no-tests"), "build")
    assert "2 fresh" in proc.stderr and sum(answers.calls.values()) == calls  # nothing regenerated
    # The hook, on a commit that touches the pulled file's module.
    (b / ALPHA_PY).write_text(code_for("alpha", 8) + "# hand edit\n", encoding="utf-8")
    proc = git_run(b, "commit", "-a", "-m", "edit", env=pdd_env)
    assert proc.returncode == 1 and f"pdd fix {ALPHA_PY}" in proc.stderr
    git(b, "checkout", "--", ALPHA_PY)
    write_file(b, "NOTES.md", "x\n")
    git(b, "add", "NOTES.md", ALPHA_PY)
    ok(git_run(b, "commit", "-m", "docs", env=pdd_env))

    ok(run_pdd(b, "notes", "sync"))
    assert note_records(b, new_alpha)[0]["path"] == ALPHA_PY
    assert run_pdd(b, "check").returncode == 0


# ---------------------------------------------------------------------------
# History rewriting keeps files genuine (notes are on blobs, not commits)
# ---------------------------------------------------------------------------


def test_rebase_amend_cherry_pick_keep_files_genuine(project, run_pdd, answers, pdd_env):
    repo = project

    git(repo, "checkout", "-q", "-b", "topic")
    write_prompt(repo, "beta", "# Goal\nbeta() returns 7.")
    answers["beta"] = code_for("beta", 7)
    ok(run_pdd(repo, "build", "--no-tests"))
    ok(git_run(repo, "commit", "-a", "-m", "beta 7", env=pdd_env))
    topic_commit = head(repo)

    git(repo, "checkout", "-q", "main")
    write_file(repo, "README.md", "# demo\n")
    git(repo, "add", "README.md")
    ok(git_run(repo, "commit", "-m", "readme", env=pdd_env))
    notes_before = notes_ref(repo)

    # rebase
    git(repo, "checkout", "-q", "topic")
    ok(git_run(repo, "rebase", "-q", "main", env=pdd_env), "rebase")
    assert head(repo) != topic_commit
    proc = run_pdd(repo, "check")
    assert proc.returncode == 0, proc.stdout

    # amend (the hook runs on the amended commit and passes)
    write_file(repo, "README.md", "# demo\n\nmore\n")
    git(repo, "add", "README.md")
    ok(git_run(repo, "commit", "--amend", "-m", "beta 7, amended", env=pdd_env), "amend")
    assert run_pdd(repo, "check").returncode == 0
    assert run_pdd(repo, "check", "--staged").returncode == 0

    # cherry-pick onto a branch from the original base
    git(repo, "checkout", "-q", "-b", "picked", "main~1")
    ok(git_run(repo, "cherry-pick", topic_commit, env=pdd_env), "cherry-pick")
    assert (repo / BETA_PY).read_text() == code_for("beta", 7)
    proc = run_pdd(repo, "check")
    assert proc.returncode == 0, proc.stdout

    # None of this touched the notes.
    assert notes_ref(repo) == notes_before


# ---------------------------------------------------------------------------
# A clone without the notes: "fetch the notes", never a false "edited"
# ---------------------------------------------------------------------------


def test_clone_without_notes_is_told_to_fetch_them(template, tmp_path, run_pdd, answers):
    origin, a, _b = remote_pair(tmp_path, template, run_pdd)
    c = clone(origin, tmp_path / "c", run_pdd, init=False)
    assert notes_ref(c) is None

    proc = run_pdd(c, "check")
    assert proc.returncode == 1, proc.stdout
    assert FETCH_NOTES in proc.stdout
    assert "error: edited" not in proc.stdout and "is not genuine" not in proc.stdout

    code, payload = check_json(run_pdd, c)
    assert code == 1
    assert [p["state"] for p in payload["problems"]] == ["notes-missing"]
    assert FETCH_NOTES in payload["problems"][0]["fix"]

    proc = run_pdd(c, "check", "--format", "github")
    assert proc.returncode == 1 and "title=pdd notes-missing" in proc.stdout and "pdd edited" not in proc.stdout

    # A hand edit in such a clone is not called "edited" either; the hook says how to fetch.
    (c / ALPHA_PY).write_text("x = 1\n", encoding="utf-8")
    git(c, "add", ALPHA_PY)
    proc = run(c, sys.executable, "-m", "pdd.hook", env=_plain_git_env())
    assert proc.returncode == 1
    assert FETCH_NOTES in proc.stderr and "is not genuine" not in proc.stderr
    git(c, "checkout", "HEAD", "--", ALPHA_PY)

    git(c, "fetch", "-q", "origin", "refs/notes/pdd:refs/notes/pdd")
    proc = run_pdd(c, "check")
    assert proc.returncode == 0, proc.stdout
    assert FETCH_NOTES not in proc.stdout

    # Another fresh clone: `pdd init` adds the refspec, and a plain `git fetch` is enough.
    d = clone(origin, tmp_path / "d", run_pdd)
    assert run_pdd(d, "check").returncode == 1
    git(d, "fetch", "-q")
    assert notes_ref(d) is None and git(d, "rev-parse", TRACKING) == notes_ref(a)
    proc = run_pdd(d, "check")
    assert proc.returncode == 0, proc.stdout


# ---------------------------------------------------------------------------
# Missing, orphan, and a note naming another path
# ---------------------------------------------------------------------------


def test_missing_orphan_and_copied_file(project, run_pdd, pdd_env):
    repo = project

    # Deleting a generated file -> missing (the hook refuses the deletion too).
    git(repo, "rm", "-q", ALPHA_PY)
    proc = git_run(repo, "commit", "-m", "delete alpha", env=pdd_env)
    assert proc.returncode == 1 and f"missing: prompts/alpha.prompt has no generated module {ALPHA_PY}" in proc.stderr
    ok(git_run(repo, "commit", "--no-verify", "-m", "delete alpha", env=pdd_env))
    code, payload = check_json(run_pdd, repo)
    assert code == 1 and states(payload) == {ALPHA_PY: "missing"}
    assert payload["problems"][0]["fix"] == f"pdd build alpha && git add {ALPHA_PY}"
    git(repo, "revert", "--no-edit", "HEAD")
    assert run_pdd(repo, "check").returncode == 0

    # Renaming one -> the old path missing, the new one an orphan.
    git(repo, "mv", BETA_PY, "generated/gamma.py")
    proc = git_run(repo, "commit", "-m", "rename beta", env=pdd_env)
    assert proc.returncode == 1
    assert f"missing: prompts/beta.prompt has no generated module {BETA_PY}" in proc.stderr
    assert "orphan: generated/gamma.py has no prompt generating it" in proc.stderr
    ok(git_run(repo, "commit", "--no-verify", "-m", "rename beta", env=pdd_env))
    code, payload = check_json(run_pdd, repo)
    assert code == 1 and states(payload) == {BETA_PY: "missing", "generated/gamma.py": "orphan"}
    orphan = next(p for p in payload["problems"] if p["state"] == "orphan")
    assert orphan["fix"].startswith("git rm generated/gamma.py")
    git(repo, "revert", "--no-edit", "HEAD")
    assert run_pdd(repo, "check").returncode == 0

    # A genuine file copied to another module's output: its note names another path.
    write_prompt(repo, "delta", "# Goal\nA function delta() returning 1.", tests=[],
                 front="untested_reason: a guardrail test, not about behavior")
    shutil.copyfile(repo / ALPHA_PY, repo / "generated" / "delta.py")
    git(repo, "add", "-A")
    proc = git_run(repo, "commit", "-m", "copy", env=pdd_env)
    assert proc.returncode == 1
    msg = f"generated/delta.py is not genuine: its note names {ALPHA_PY}, not this path"
    assert msg in proc.stderr and "pdd fix generated/delta.py" in proc.stderr
    ok(git_run(repo, "commit", "--no-verify", "-m", "copy", env=pdd_env))
    code, payload = check_json(run_pdd, repo)
    assert code == 1 and states(payload) == {"generated/delta.py": "edited"}
    assert msg in payload["problems"][0]["message"]

    # Deleting a prompt but keeping its module -> orphan, also in the hook.
    git(repo, "rm", "-q", "--cached", "prompts/delta.prompt")
    proc = run(repo, sys.executable, "-m", "pdd.hook", env=pdd_env)
    assert proc.returncode == 1 and "orphan: generated/delta.py" in proc.stderr


def test_check_many_modules_with_fanout_notes(tmp_path, run_pdd):
    """Over 64 modules the check lists the notes tree once and reads in batches:
    same verdicts, on a notes tree with 2/38 fanout (bench/bench_hook.py's repository)."""
    repo = tmp_path / "big"
    script = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import bench_hook; "
              "repo, changed = bench_hook.make_repo(Path(sys.argv[2]), 120); print(changed)")
    made = subprocess.run([sys.executable, "-c", script, str(REPO_ROOT / "bench"), str(repo)], capture_output=True,
                          text=True, env=_plain_git_env(), timeout=120)
    assert made.returncode == 0, made.stderr
    changed = made.stdout.strip().splitlines()[-1]
    assert all(len(line.split("\t")[-1]) == 2 for line in git(repo, "ls-tree", NOTES_REF).splitlines())
    config_env = {"PDD_BACKEND": None, "PDD_MODEL": None}  # the repository's own config decides

    proc = run_pdd(repo, "check", "--staged", env=config_env)
    assert proc.returncode == 0, proc.stdout
    proc = run_pdd(repo, "check", env=config_env)
    assert proc.returncode == 0, proc.stdout
    assert "ok, 120 module(s) genuine and fresh" in proc.stdout

    git(repo, "commit", "-q", "--no-verify", "-m", "regenerated one")
    victim = "generated/pkg00/m00007.py"
    (repo / victim).write_text((repo / victim).read_text() + "# hand edit\n", encoding="utf-8")
    git(repo, "rm", "-q", "generated/pkg01/m00100.py")
    commit_all(repo, "hand edit and a deletion")
    proc = run_pdd(repo, "check", "--format", "json", env=config_env)
    assert proc.returncode == 1, proc.stdout
    payload = json.loads(proc.stdout)
    assert payload["checked"] == 120
    assert states(payload) == {victim: "edited", "generated/pkg01/m00100.py": "missing"}
    assert changed not in proc.stdout


# ---------------------------------------------------------------------------
# pdd check --tests and --regenerate
# ---------------------------------------------------------------------------

ALPHA_TEST = """
from generated.alpha import alpha


def test_alpha_is_one():
    assert alpha() == 1
"""


def test_check_tests_and_regenerate(project, run_pdd, answers, fake_server):
    repo = project
    write_test(repo, "alpha", ALPHA_TEST)
    cfg = repo / ".pdd" / "config.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("attempts: 2", "attempts: 1"), encoding="utf-8")
    commit_all(repo, "a behavior test; one attempt per module")
    tree_before = snapshot_files(repo, skip=(".git", "__pycache__", "runs", "cache"))
    notes_before = notes_ref(repo)
    notes_map_before = notes_list(repo)

    proc = run_pdd(repo, "check", "--tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "behavior tests: passed" in proc.stdout

    # Regenerate from prompts alone: requests go to the server again (no cache).
    since = len(fake_server.requests)
    code, payload = check_json(run_pdd, repo, "--regenerate")
    assert code == 0 and payload["exit_code"] == 0 and payload["ok"] is True
    assert payload["regenerate"]["alpha"] == {"status": "built", "tests": "passed", "same_as_committed": True,
                                              "error": None}
    assert payload["regenerate"]["beta"]["status"] == "built"
    assert payload["regenerate"]["beta"]["same_as_committed"] is True
    assert requests_by_module(fake_server, since) == {"alpha": 1, "beta": 1}

    # The prompts no longer produce working code (e.g. the model changed): exit 1.
    answers["alpha"] = code_for("alpha", 2)
    answers["beta"] = code_for("beta", 2, " Reworded.")  # differs from committed, still passes its test
    proc = run_pdd(repo, "check", "--regenerate")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "regenerate alpha: failed, tests failed, differs from committed" in proc.stdout
    assert "regenerate beta: built" in proc.stdout
    assert "pdd check (working tree): ok" in proc.stdout  # the committed files themselves are fine

    # The working tree, the notes and the worktree list are untouched.
    assert snapshot_files(repo, skip=(".git", "__pycache__", "runs", "cache")) == tree_before
    assert notes_ref(repo) == notes_before and notes_list(repo) == notes_map_before
    assert git(repo, "status", "--porcelain") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1

    # A failing behavior test fails `check --tests`.
    write_test(repo, "alpha", ALPHA_TEST.replace("== 1", "== 99"))
    proc = run_pdd(repo, "check", "--tests")
    assert proc.returncode == 1 and "behavior tests: failed" in proc.stdout


# ---------------------------------------------------------------------------
# Hook installation: chaining an existing hook; the light import path
# ---------------------------------------------------------------------------


def test_existing_hook_is_kept_and_chained(project, tmp_path, run_pdd, pdd_env):
    repo = project
    marker = tmp_path / "existing-hook-ran"
    hooks = repo / ".git" / "hooks"
    existing = hooks / "pre-commit"
    existing.unlink()  # the template's pdd hook; this repository had its own before pdd
    existing.write_text(f'#!/bin/sh\necho ran >> "{marker}"\nexit 0\n', encoding="utf-8")
    existing.chmod(0o755)

    proc = ok(run_pdd(repo, "init"))
    assert "pre-commit.pre-pdd" in proc.stdout
    assert (hooks / "pre-commit.pre-pdd").read_text().startswith("#!/bin/sh\necho ran")
    assert "pdd.hook" in existing.read_text()
    proc = ok(run_pdd(repo, "hooks", "install"))
    assert "already installed" in proc.stdout

    write_prompt(repo, "alpha", "# Goal\nalpha() returns 1, really.")
    ok(run_pdd(repo, "build", "--no-tests"))
    git(repo, "add", "-A")
    ok(git_run(repo, "commit", "-m", "genuine", env=pdd_env))
    assert marker.read_text() == "ran\n"

    # A refused commit stops before the chained hook.
    (repo / ALPHA_PY).write_text("x = 1\n", encoding="utf-8")
    proc = git_run(repo, "commit", "-a", "-m", "edit", env=pdd_env)
    assert proc.returncode == 1
    assert marker.read_text() == "ran\n"

    # The chained hook's own refusal is honoured.
    git(repo, "checkout", "--", ALPHA_PY)
    (hooks / "pre-commit.pre-pdd").write_text(f'#!/bin/sh\necho ran >> "{marker}"\nexit 7\n', encoding="utf-8")
    write_file(repo, "README.md", "x\n")
    git(repo, "add", "README.md")
    proc = git_run(repo, "commit", "-m", "readme", env=pdd_env)
    assert proc.returncode != 0
    assert marker.read_text() == "ran\nran\n"


HEAVY = ("pygit2", "jinja2", "openai", "anthropic", "rich", "typer")


def test_hook_with_nothing_relevant_staged_is_light(project, run_pdd, answers, pdd_env):
    repo = project
    write_file(repo, "README.md", "# docs only\n")
    git(repo, "add", "README.md")

    t0 = time.monotonic()
    proc = run(repo, sys.executable, "-X", "importtime", "-m", "pdd.hook", env=pdd_env)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "pdd" in imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
    assert elapsed < 5

    # A prompt and its rebuilt module staged: the note's inputs match (exact fast
    # path), so nothing is rendered and Jinja2 is not imported either.
    answers["alpha"] = code_for("alpha", 1, " Same interface.")
    write_prompt(repo, "alpha", "# Goal\nalpha() returns 1; say so.")
    ok(run_pdd(repo, "build", "--no-tests"))
    git(repo, "add", "-A")
    proc = run(repo, sys.executable, "-X", "importtime", "-m", "pdd.hook", env=pdd_env)
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


# ---------------------------------------------------------------------------
# The pre-commit framework, driven by our .pre-commit-hooks.yaml
# ---------------------------------------------------------------------------


def test_pre_commit_framework_uses_our_manifest(template, tmp_path, run_pdd, answers, pdd_env):
    pytest.importorskip("pre_commit")
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    [hook] = [h for h in manifest if h["id"] == "pdd-check"]
    assert hook["entry"] == "pdd-hook" and hook["language"] == "python"
    assert hook["pass_filenames"] is False and hook["always_run"] is True
    from pre_commit.clientlib import load_manifest

    load_manifest(str(REPO_ROOT / ".pre-commit-hooks.yaml"))  # the framework accepts it

    repo = project_copy(template, tmp_path / "repo")
    (repo / ".git" / "hooks" / "pre-commit").unlink()  # pdd's own hook: the framework's replaces it
    write_prompt(repo, "alpha", "# Goal\nalpha() returns 1, framework.")
    ok(run_pdd(repo, "build", "--no-tests"))
    local = {k: v for k, v in hook.items() if k not in ("minimum_pre_commit_version",)}
    local["language"] = "system"  # pdd-hook is already installed in this interpreter's environment
    config = {"repos": [{"repo": "local", "hooks": [local]}]}
    write_file(repo, ".pre-commit-config.yaml", yaml.safe_dump(config, sort_keys=False), dedent=False)

    env = dict(pdd_env)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    ok(run(repo, sys.executable, "-m", "pre_commit", "install", env=env), "pre-commit install")
    git(repo, "add", "-A")
    proc = git_run(repo, "commit", "-m", "genuine", env=env)
    ok(proc, "genuine commit through pre-commit")
    assert "pdd check" in proc.stdout + proc.stderr  # the framework ran our hook

    before = head(repo)
    (repo / ALPHA_PY).write_text(ALPHA_CODE + "# hand edit\n", encoding="utf-8")
    git(repo, "add", ALPHA_PY)
    proc = git_run(repo, "commit", "-m", "hand edit", env=env)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Failed" in out and f"pdd fix {ALPHA_PY}" in out
    assert head(repo) == before
