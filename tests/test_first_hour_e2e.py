"""A newcomer's first hour (issue 10): each numbered item through the real CLI.

Every test here fails on the code before the change: it drives ``python -m pdd``
in a temporary git repository against the fake model server (no network, no key).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import (
    FAST_BEHAVIOR_TESTS,
    commit_all,
    git,
    init_git_repo,
    run_pdd_cli,
    write_file,
    write_prompt,
    write_test,
)

MONEY = '''
"""Money."""
__all__ = ["add"]


def add(a: int, b: int) -> int:
    """Sum of a and b."""
    return a + b
'''

MONEY_TEST = """
from generated.money import add


def test_add():
    assert add(2, 3) == 5
"""


def _built_repo(git_repo, run_pdd, answers):
    """A committed project with one genuine, tested module ``money``."""
    answers["money"] = MONEY
    write_prompt(git_repo, "money")
    write_test(git_repo, "money", MONEY_TEST)
    proc = run_pdd(git_repo, "build", env=FAST_BEHAVIOR_TESTS)
    assert proc.returncode == 0, proc.stderr
    commit_all(git_repo, "money")
    return git_repo


# -- 1. untested ---------------------------------------------------------------------


def test_1_module_without_behavior_tests_is_untested_everywhere(git_repo, run_pdd, answers, pdd_env):
    repo = _built_repo(git_repo, run_pdd, answers)
    os.remove(repo / "behavior_tests/test_money.py")

    build = run_pdd(repo, "build", env=FAST_BEHAVIOR_TESTS)
    assert build.returncode == 1, build.stderr
    assert "no behavior tests: write behavior_tests/test_money.py or list them in `tests:`" in build.stderr

    status = run_pdd(repo, "status", "--json")
    (state,) = json.loads(status.stdout)["modules"]
    assert state["state"] == "untested", state

    check = run_pdd(repo, "check", "--format", "json")
    assert check.returncode == 1
    assert [p["state"] for p in json.loads(check.stdout)["problems"]] == ["untested"]

    # The hook refuses a prompt change whose module has no tests ...
    write_prompt(repo, "money", "# Goal\nAdd two integers.")
    git(repo, "add", "-A")
    hook = subprocess.run(["git", "commit", "-qm", "prompt"], cwd=repo, env=pdd_env, capture_output=True, text=True)
    assert hook.returncode != 0 and "untested" in hook.stderr, hook.stderr
    # ... and a `tests:` entry naming a missing file is untested too, not only a build error.
    write_prompt(repo, "money", tests=["behavior_tests/test_nope.py"])
    check = run_pdd(repo, "check")
    assert check.returncode == 1 and "behavior_tests/test_nope.py" in check.stdout


def test_1_explicit_opt_out_needs_a_reason_and_lint_shows_it(git_repo, run_pdd, answers):
    answers["money"] = MONEY
    write_prompt(git_repo, "money", tests=[])
    proc = run_pdd(git_repo, "build")
    assert proc.returncode == 2 and "untested_reason" in proc.stderr and "prompts/money.prompt:2" in proc.stderr

    write_prompt(git_repo, "money", tests=[], front='untested_reason: "a constants table, checked by review"')
    assert run_pdd(git_repo, "build").returncode == 0
    assert run_pdd(git_repo, "check").returncode == 0
    lint = run_pdd(git_repo, "lint", "--format", "json")
    found = [f for f in json.loads(lint.stdout)["findings"] if f["rule"] == "tests-opted-out"]
    assert found and "a constants table, checked by review" in found[0]["message"] and found[0]["line"] == 3


def test_1_example_project_of_this_repository_still_builds_and_checks_clean(tmp_path):
    """The repository's own example (replay backend) in a clone: every module has tests."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    clone = tmp_path / "clone"
    branch = git(root, "rev-parse", "--abbrev-ref", "HEAD")
    subprocess.run(["git", "clone", "-q", "--no-local", "-b", branch, root, str(clone)], check=True, capture_output=True)
    env = {"PDD_BACKEND": None, "PDD_MODEL": None, **FAST_BEHAVIOR_TESTS}  # the example's own config: replay
    build = run_pdd_cli(clone, "build", env=env)
    assert build.returncode == 0, build.stderr
    assert "untested" not in build.stderr
    assert git(clone, "status", "--porcelain", "--", "generated") == ""
    check = run_pdd_cli(clone, "check", env=env)
    assert check.returncode == 0, check.stdout


# -- 2. check reads the working tree by default ----------------------------------------


def test_2_check_defaults_to_the_working_tree(git_repo, run_pdd, answers):
    repo = _built_repo(git_repo, run_pdd, answers)
    with open(repo / "generated/money.py", "a") as fh:
        fh.write("# hand edit\n")
    status = run_pdd(repo, "status")
    assert status.stdout.startswith("edited")
    check = run_pdd(repo, "check")
    assert check.returncode == 1, check.stdout
    assert check.stdout.splitlines()[0] == "pdd check: checked the working tree"
    assert "edited" in check.stdout

    staged = run_pdd(repo, "check", "--staged")  # not staged yet: the index is clean
    assert staged.returncode == 0 and staged.stdout.splitlines()[0] == "pdd check: checked the index"
    head = git(repo, "rev-parse", "HEAD")
    rev = run_pdd(repo, "check", "--rev", "HEAD")
    assert rev.returncode == 0 and rev.stdout.splitlines()[0] == f"pdd check: checked HEAD ({head[:12]})"
    bad = run_pdd(repo, "check", "--rev", "no-such-branch")
    assert bad.returncode == 2 and "no-such-branch" in bad.stderr and "Traceback" not in bad.stderr


# -- 5. bytecode is ignored; the refusal names what it found -----------------------------


def test_5_init_ignores_bytecode_and_hook_names_an_unexpected_file(git_repo, run_pdd, answers, pdd_env):
    repo = _built_repo(git_repo, run_pdd, answers)
    assert {"__pycache__/", "*.pyc"} <= set((repo / ".gitignore").read_text().splitlines())
    pyc = repo / "generated/__pycache__/money.cpython-311.pyc"
    pyc.parent.mkdir(exist_ok=True)
    pyc.write_bytes(b"\x00bytecode")
    git(repo, "add", "-A")
    assert "generated/__pycache__" not in git(repo, "diff", "--cached", "--name-only")
    # Forced past the ignore, it is refused as a stray file, not as a hand edit.
    git(repo, "add", "-f", str(pyc))
    hook = subprocess.run(["git", "commit", "-qm", "pyc"], cwd=repo, env=pdd_env, capture_output=True, text=True)
    assert hook.returncode != 0
    assert "not a hand edit" in hook.stderr and "git rm --cached" in hook.stderr, hook.stderr
    assert "edited by hand" not in hook.stderr


# -- 7. not a pdd project ----------------------------------------------------------------


def test_7_commands_outside_a_pdd_project_say_run_pdd_init_and_write_nothing(tmp_path, run_pdd):
    repo = init_git_repo(tmp_path / "plain")
    write_file(repo, "README", "hello\n")
    for args in (("build",), ("status",), ("check",), ("new", "x")):
        proc = run_pdd(repo, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "not a pdd project" in proc.stderr and "pdd init" in proc.stderr
    assert sorted(p.name for p in repo.iterdir()) == [".git", "README"]


def test_7_replay_without_a_recording_says_none_exists(git_repo, run_pdd):
    config = git_repo / ".pdd/config.yaml"
    config.write_text(config.read_text().replace("backend: openai", "backend: replay"))
    assert run_pdd(git_repo, "new", "money").returncode == 0
    (git_repo / "behavior_tests/test_money.py").write_text("def test_money():\n    import generated.money\n")
    proc = run_pdd(git_repo, "build", env={"PDD_BACKEND": None})
    assert proc.returncode == 3
    assert "no recording exists for money" in proc.stderr
    assert "changed since it was recorded" not in proc.stderr
    assert "PDD_BACKEND=openai" in proc.stderr


# -- 10. CLI polish ----------------------------------------------------------------------


def test_10_help_flags_examples_completion_and_one_error_style(git_repo, run_pdd):
    short = run_pdd(git_repo, "build", "-h")
    assert short.returncode == 0 and short.stdout.startswith("Usage: ") and "build [OPTIONS]" in short.stdout
    assert "<bool>" not in short.stdout and "Examples:" in short.stdout
    top = run_pdd(git_repo, "--help")
    assert "--install-completion" in top.stdout and "Examples:" in top.stdout
    assert run_pdd(git_repo, "--show-completion", env={"SHELL": "/bin/bash"}).returncode == 0

    bad = run_pdd(git_repo, "build", "--bogus")  # piped: no box panels
    assert bad.returncode == 2
    assert bad.stderr.startswith("pdd: error: No such option: --bogus"), bad.stderr
    assert "╭" not in bad.stderr and "│" not in bad.stderr

    write_prompt(git_repo, "inc", "# Goal\n{% include '_shared/nope.md' %}", tests=[],
                 front="untested_reason: lint test")
    assert run_pdd(git_repo, "lint").returncode == 2

    config = git_repo / ".pdd/config.yaml"
    text = config.read_text().replace("backend: openai", "backend: opneai")
    config.write_text(text)
    line = text.splitlines().index("backend: opneai") + 1
    typo = run_pdd(git_repo, "status", env={"PDD_BACKEND": None})
    assert typo.returncode == 2
    assert f".pdd/config.yaml:{line}: unknown backend 'opneai': did you mean 'openai'?" in typo.stderr


def test_10_pdd_help_stays_light():
    """``pdd --help`` imports neither rich nor the model SDKs nor pygit2."""
    code = ("import sys; sys.argv=['pdd','--help']\nfrom pdd.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad=[m for m in ('rich','openai','anthropic','pygit2','jinja2') if m in sys.modules]\n"
            "print('HEAVY', bad, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in proc.stderr, proc.stderr


# -- 3. every model command reports its spend; pdd cost totals them ----------------------

from test_fix_e2e import BUGGY, CORRECT, FixScript, _revision, buggy_project  # noqa: E402,F401


def _set_prices(repo):
    config = repo / ".pdd/config.yaml"
    config.write_text(config.read_text().replace(
        "prices: {}", "prices:\n  fake-model: {input: 1.0, output: 2.0, date: 2026-01-01}"))


def _runs(repo, command):
    runs = [json.loads(p.read_text()) for p in sorted((repo / ".pdd/runs").glob("*.json"))]
    return [r for r in runs if r["command"] == command]


def test_3_fix_spend_is_in_its_run_record_and_in_pdd_cost(buggy_project, fake_server, run_pdd):
    repo = buggy_project
    _set_prices(repo)
    fake_server.responder = FixScript([_revision("It returns the sum of a and b.")],
                                      lambda text: CORRECT if "the sum" in text else BUGGY)
    proc = run_pdd(repo, "fix", "calc/add", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "spend: 2 request(s)" in proc.stderr and "(prompt revisions: 1, regenerations: 1)" in proc.stderr
    (fix,) = _runs(repo, "fix")
    entry = fix["modules"]["calc/add"]
    assert entry["requests"] == 1 and entry["tokens_in"] > 0 and entry["cost_usd"] > 0
    assert fix["totals"]["requests"] == 1 and fix["totals"]["cost_usd"] == entry["cost_usd"]
    cost = json.loads(run_pdd(repo, "cost", "--by", "module", "--json").stdout)
    (row,) = cost["rows"]
    # the first build (1, before prices were set: unknown), the fix's revision (1) and its regeneration (1)
    assert row["key"] == "calc/add" and row["requests"] == 3 and row["unknown"] == 1
    assert row["cost_usd"] > entry["cost_usd"]


def test_3_unknown_prices_are_unknown_and_replay_costs_nothing(buggy_project, fake_server, run_pdd):
    repo = buggy_project
    fake_server.responder = FixScript([_revision("It returns the sum of a and b.")],
                                      lambda text: CORRECT if "the sum" in text else BUGGY)
    proc = run_pdd(repo, "fix", "calc/add", "--yes")
    assert proc.returncode == 0 and "cost unknown" in proc.stderr and "$0.00" not in proc.stderr
    (fix,) = _runs(repo, "fix")
    assert fix["totals"]["cost_usd"] is None and fix["totals"]["cost_unknown_modules"] == 1

    assert run_pdd(repo, "build", "--force", "--record", env=FAST_BEHAVIOR_TESTS).returncode == 0
    replay = run_pdd(repo, "build", "--force", env={"PDD_BACKEND": "replay", **FAST_BEHAVIOR_TESTS})
    assert replay.returncode == 0, replay.stderr
    assert "spend: 1 request(s)" in replay.stderr and "$0.00" in replay.stderr and "unknown" not in replay.stderr
    last = _runs(repo, "build")[-1]
    assert last["backend"] == "replay" and last["totals"]["requests"] == 1 and last["totals"]["cost_usd"] == 0


# -- 4. the diff to approve is wrapped, never cut --------------------------------------------


def test_4_fix_diff_wraps_long_lines_at_80_columns(buggy_project, fake_server, run_pdd):
    repo = buggy_project
    long_line = "It returns the sum of a and b; " + " ".join(f"word{i}" for i in range(60)) + " END."
    fake_server.responder = FixScript([_revision(long_line)], lambda text: CORRECT)
    proc = run_pdd(repo, "fix", "calc/add", "--dry-run", env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    start = next(i for i, line in enumerate(lines) if line.startswith("+It returns the sum"))
    pieces = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("+\u21aa "):
            break
        pieces.append(line[len("+\u21aa "):])
    assert "".join(pieces) == "+" + long_line


# -- 6. an answer without a code (or prompt) block is reported as such ------------------------


def test_6_prose_answers_are_reported_with_their_first_lines(git_repo, run_pdd, answers, fake_server):
    write_prompt(git_repo, "money")
    write_test(git_repo, "money", MONEY_TEST)
    answers["money"] = lambda request: "I am sorry, I cannot write this module.\nIt needs more detail."
    build = run_pdd(git_repo, "build", env=FAST_BEHAVIOR_TESTS)
    assert build.returncode == 1
    assert "the answer had no code block; it began: 'I am sorry, I cannot write this module.'" in build.stderr
    assert "SyntaxError" not in build.stderr
    status = run_pdd(git_repo, "status").stdout
    assert "behavior tests failed" not in status


def test_6_prose_fix_answer_says_no_prompt_block(buggy_project, fake_server, run_pdd):
    repo = buggy_project
    before = (repo / "prompts/calc/add.prompt").read_text()
    script = FixScript(["The prompt looks fine to me."], lambda text: CORRECT)
    fake_server.responder = script
    proc = run_pdd(repo, "fix", "calc/add", "--yes", "--attempts", "2")
    assert proc.returncode == 1
    assert "the answer had no prompt block; it began: 'The prompt looks fine to me.'" in proc.stderr
    assert "none was applied or tested" in proc.stderr and "removed all" not in proc.stderr
    assert (repo / "prompts/calc/add.prompt").read_text() == before and not script.generation_requests


# -- 8. notes advice that works in every state; CI without remote notes; hooks in clones ------


def _fetch_step(repo) -> str:
    """The shell script of the workflow's notes-fetch step, as `pdd init --ci github` wrote it."""
    text = (repo / ".github/workflows/pdd.yml").read_text()
    block = text.split("- name: Fetch the provenance notes", 1)[1].split("- uses:", 1)[0]
    body = block.split("run: |", 1)[1]
    return "\n".join(line.strip() for line in body.splitlines() if line.strip())


def test_8_notes_advice_ci_fetch_and_hooks_in_a_fresh_clone(git_repo, run_pdd, answers, pdd_env, tmp_path):
    repo = git_repo
    assert run_pdd(repo, "init", "--ci", "github").returncode == 0
    answers["money"] = MONEY
    write_prompt(repo, "money")
    write_test(repo, "money", MONEY_TEST)
    first = run_pdd(repo, "build", env=FAST_BEHAVIOR_TESTS)
    assert first.returncode == 0 and "no git remote" in first.stderr and "git push" not in first.stderr
    commit_all(repo, "money", env=pdd_env)

    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    # The CI step tolerates a remote without notes ...
    script = _fetch_step(repo)
    ci = subprocess.run(["bash", "-ec", script], cwd=repo, env=pdd_env, capture_output=True, text=True)
    assert ci.returncode == 0, ci.stderr
    assert "origin has no pdd notes yet" in ci.stdout
    # ... and the advice after a build is the one that works: pdd notes sync.
    git(repo, "update-ref", "-d", "refs/notes/pdd")
    again = run_pdd(repo, "build", "--force", env=FAST_BEHAVIOR_TESTS)
    assert "share them with `pdd notes sync`" in again.stderr and "git push origin refs/notes/pdd" not in again.stderr
    assert run_pdd(repo, "notes", "sync").returncode == 0

    # A teammate's fresh clone: no notes, no hook. The advice fetches them; pdd init installs the hook.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    status = run_pdd(clone, "status")
    assert "pdd notes sync" in status.stdout
    assert not (clone / ".git/hooks/pre-commit").exists()
    init = run_pdd(clone, "init")
    assert init.returncode == 0 and "installed the pdd pre-commit hook" in init.stdout
    assert (clone / ".git/hooks/pre-commit").exists()
    assert run_pdd(clone, "notes", "sync").returncode == 0
    assert run_pdd(clone, "check").returncode == 0
    ci = subprocess.run(["bash", "-ec", script], cwd=clone, env=pdd_env, capture_output=True, text=True)
    assert ci.returncode == 0 and "no pdd notes yet" not in ci.stdout


# -- 9. one broken prompt does not hide the others --------------------------------------------


def test_9_a_broken_prompt_is_reported_and_the_others_still_build(git_repo, run_pdd, answers):
    answers["money"] = MONEY
    write_prompt(git_repo, "money")
    write_test(git_repo, "money", MONEY_TEST)
    write_prompt(git_repo, "broken", raw="---\ndepends: [money\n---\n# Goal\nx\n")
    write_prompt(git_repo, "needs_broken", depends=["broken"], tests=[], front="untested_reason: demo")
    build = run_pdd(git_repo, "build", env=FAST_BEHAVIOR_TESTS)
    assert build.returncode == 2, build.stderr
    assert "prompts/broken.prompt:" in build.stderr and "malformed YAML" in build.stderr
    assert "depends on broken, whose prompt is broken" in build.stderr
    assert "built  money" in build.stderr and (git_repo / "generated/money.py").is_file()
    assert not (git_repo / "generated/needs_broken.py").exists()

    status = run_pdd(git_repo, "status")
    assert status.returncode == 2
    assert "fresh" in status.stdout and "generated/money.py" in status.stdout
    assert "broken" in status.stdout and "prompts/broken.prompt:" in status.stderr
    assert "Traceback" not in status.stderr + build.stderr


def test_7_build_right_after_pdd_new_spends_nothing_on_the_placeholder(git_repo, run_pdd, fake_server):
    """The placeholder test of `pdd new` fails on purpose: building before writing the tests
    would pay for attempts that cannot pass. The build refuses the module (exit 1), makes no
    request, and says what to write; once the tests are written it builds."""
    assert run_pdd(git_repo, "new", "money").returncode == 0
    proc = run_pdd(git_repo, "build")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "still the placeholder `pdd new` wrote" in proc.stderr and "behavior_tests/test_money.py" in proc.stderr
    assert fake_server.requests == []
    fake_server.answers["money"] = "```python\nVALUE = 1\n```\n"
    (git_repo / "behavior_tests/test_money.py").write_text(
        "from generated.money import VALUE\n\ndef test_value():\n    assert VALUE == 1\n")
    proc = run_pdd(git_repo, "build")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(fake_server.requests) == 1
