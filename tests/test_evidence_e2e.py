"""The evidence trail end to end, through the real CLI (``python -m pdd``) in temporary git
repositories against the fake model server: run records, ``pdd log``, ``pdd explain``,
``pdd cost``, ``--budget``, the backends' retries and failures as a user sees them, the
``command`` backend with the ``claude`` preset, and a scan of everything pdd wrote for
the API key.

Sample project: ``demo/a`` (with a behavior test) and ``demo/b``, which depends on it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (
    Reply,
    ScriptedResponder,
    commit_all,
    fence,
    git,
    note_records,
    write_answer,
    write_prompt,
    write_test,
)

SECRET = "sk-test-SECRET-abc123"
FAKE_AGENT = Path(__file__).resolve().parent / "fake_agent_cli.py"
FAST = {"PYTEST_ADDOPTS": "-p no:hypothesispytest"}  # behavior tests here do not use hypothesis

A, B = "demo/a", "demo/b"
A_PY, B_PY = "generated/demo/a.py", "generated/demo/b.py"
A_CODE = '''\
"""Doubling."""

__all__ = ["double"]


def double(x: int) -> int:
    """Twice ``x``."""
    return 2 * x
'''
B_CODE = '''\
"""Quadrupling."""

from generated.demo.a import double

__all__ = ["quadruple"]


def quadruple(x: int) -> int:
    """Four times ``x``."""
    return double(double(x))
'''
A_TEST = '''\
from generated.demo.a import double


def test_double():
    assert double(21) == 42
'''
PRICE_IN, PRICE_OUT = 1.0, 10.0  # USD per 1M tokens for fake-model


def ok(proc, code=0):
    assert proc.returncode == code, (f"exit {proc.returncode} (wanted {code})\n--- stdout\n{proc.stdout}"
                                     f"\n--- stderr\n{proc.stderr}")
    return proc


def set_config(repo: Path, **values) -> None:
    """Update .pdd/config.yaml (round trip, comments kept): ``section={key: value}`` or ``key=value``."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    path = repo / ".pdd" / "config.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"))
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            for k, v in value.items():
                data[key][k] = v
        else:
            data[key] = value
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)


def make_project(repo: Path, answers, *, prices: bool = True, **config) -> str:
    """Prompts, a behavior test, answers and config; committed. Returns the commit id."""
    write_prompt(repo, A, "# Goal\n`double(x)` returns twice x.", tests=["behavior_tests/test_a.py"])
    write_prompt(repo, B, "# Goal\n`quadruple(x)` returns four times x, using double.", depends=[A], tests=[], front="untested_reason: this test is not about behavior")
    write_test(repo, "a", A_TEST)
    answers.update({A: A_CODE, B: B_CODE})
    settings = {"openai": {"max_retries": 1, "timeout": 10}, "max_tokens": 1000}
    if prices:
        settings["prices"] = {"fake-model": {"input": PRICE_IN, "output": PRICE_OUT, "date": "2025-01-01"}}
    settings.update(config)
    set_config(repo, **settings)
    return commit_all(repo, "prompts")


@pytest.fixture
def pdd(run_pdd):
    def _run(repo, *args, env=None, **kw):
        return run_pdd(repo, *args, env={**FAST, **(env or {})}, **kw)

    return _run


def run_records(repo: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((repo / ".pdd" / "runs").glob("*.json"))]


def expected_cost(tokens_in: int, tokens_out: int) -> float:
    return tokens_in * PRICE_IN / 1e6 + tokens_out * PRICE_OUT / 1e6


# -- run records, log, explain, cost -----------------------------------------------------------------------------------


def test_run_record_log_explain_and_cost_after_a_build(git_repo, answers, pdd, fake_server):
    commit = make_project(git_repo, answers)
    ok(pdd(git_repo, "build"))

    # The run record: command, times, backend/model, and per module everything that happened.
    [run] = run_records(git_repo)
    assert run["command"] == "build" and run["argv"] == ["build"] and run["exit_code"] == 0
    assert run["started"] <= run["ended"] and run["backend"] == "openai" and run["model"] == "fake-model"
    a, b = run["modules"][A], run["modules"][B]
    for entry in (a, b):
        assert entry["status"] == "built" and len(entry["fingerprint"]) == 64 and entry["model"] == "fake-model"
        assert entry["attempts"] == 1 and entry["requests"] == 1 and entry["cache_hits"] == 0
        assert entry["tokens_in"] > 0 and entry["tokens_out"] > 0 and entry["error"] is None
        assert entry["cost_usd"] == pytest.approx(expected_cost(entry["tokens_in"], entry["tokens_out"]))
    assert a["tests"] == "passed" and b["tests"] == "none"
    assert run["totals"]["requests"] == 2 and run["errors"] == []
    assert run["totals"]["cost_usd"] == pytest.approx(a["cost_usd"] + b["cost_usd"])

    # The note carries the same tokens and cost.
    [note] = note_records(git_repo, A_PY)
    assert note["cost_usd"] == pytest.approx(a["cost_usd"]) and note["tokens_in"] == a["tokens_in"]

    # pdd log: one line per run, newest first.
    ok(pdd(git_repo, "build"))  # a no-op run: nothing requested
    log = ok(pdd(git_repo, "log")).stdout.splitlines()
    assert len(log) == 2
    assert "build" in log[0] and "exit 0" in log[0] and "2 fresh" in log[0] and "0 requests" in log[0]
    assert "openai/fake-model" in log[1] and "2 built" in log[1] and "2 requests" in log[1]
    from pdd.spend import format_usd

    assert run["totals"]["cost_usd"] > 0 and f"cost {format_usd(run['totals']['cost_usd'])}" in log[1]
    entries = json.loads(ok(pdd(git_repo, "log", "--json", "-n", "1")).stdout)["runs"]
    assert len(entries) == 1 and entries[0]["statuses"] == {"fresh": 2} and entries[0]["totals"]["requests"] == 0

    # pdd explain: provenance from the note, the commit that introduced the prompt, state now.
    text = ok(pdd(git_repo, "explain", A_PY)).stdout
    assert "fresh" in text and "genuine" in text and "prompts/demo/a.prompt" in text
    assert commit[:12] in text and "openai / fake-model" in text and "passed" in text
    assert f"{a['tokens_in']} in / {a['tokens_out']} out" in text
    data = json.loads(ok(pdd(git_repo, "explain", A_PY, "--json")).stdout)
    assert data["genuine"] is True and data["fresh"] is True and data["state"] == "fresh"
    assert data["prompt"]["path"] == "prompts/demo/a.prompt"
    assert data["prompt"]["introduced_in"]["commit"] == commit
    assert data["prompt"]["blob"] == git(git_repo, "rev-parse", "HEAD:prompts/demo/a.prompt")
    assert data["note"]["model"] == "fake-model" and data["note"]["tests"] == "passed"
    assert data["note"]["cost_usd"] == pytest.approx(a["cost_usd"])

    # pdd cost: by model (default), by module, by day, since.
    table = ok(pdd(git_repo, "cost")).stdout
    assert "fake-model" in table and "2025-01-01" in table and "total" in table and "unknown" not in table
    by_module = json.loads(ok(pdd(git_repo, "cost", "--by", "module", "--json")).stdout)
    rows = {r["key"]: r for r in by_module["rows"]}
    assert set(rows) == {A, B}
    assert rows[A]["cost_usd"] == pytest.approx(a["cost_usd"]) and rows[A]["requests"] == 1
    assert by_module["total"]["cost_usd"] == pytest.approx(run["totals"]["cost_usd"])
    today = run["started"][:10]
    by_day = json.loads(ok(pdd(git_repo, "cost", "--by", "day", "--json")).stdout)
    assert [r["key"] for r in by_day["rows"]] == [today]
    assert "no spend recorded since 2999-01-01" in ok(pdd(git_repo, "cost", "--since", "2999-01-01")).stdout
    assert "YYYY-MM-DD" in ok(pdd(git_repo, "cost", "--since", "yesterday"), 2).stderr

    # A prompt change: still genuine, now stale, and explain says the prompt changed.
    (git_repo / "prompts/demo/a.prompt").write_text((git_repo / "prompts/demo/a.prompt").read_text() + "\nMore.\n")
    data = json.loads(ok(pdd(git_repo, "explain", A_PY, "--json")).stdout)
    assert data["genuine"] is True and data["state"] == "stale" and data["prompt"]["changed_since"] is True

    # A hand edit: not genuine, exit 1.
    (git_repo / A_PY).write_text(A_CODE + "# tweak\n")
    proc = ok(pdd(git_repo, "explain", A_PY), 1)
    assert "edited" in proc.stdout and "no pdd note" in proc.stdout
    assert "no such file" in ok(pdd(git_repo, "explain", "generated/demo/zzz.py"), 2).stderr


def test_unknown_price_is_shown_as_unknown_never_zero(git_repo, answers, pdd, fake_server):
    make_project(git_repo, answers, prices=False)
    ok(pdd(git_repo, "build", "--no-tests"))
    [run] = run_records(git_repo)
    assert run["modules"][A]["cost_usd"] is None and run["totals"]["cost_usd"] is None
    assert run["modules"][A]["tokens_in"] > 0  # tokens are still known
    assert note_records(git_repo, A_PY)[0]["cost_usd"] is None
    assert "cost unknown" in ok(pdd(git_repo, "log")).stdout
    table = ok(pdd(git_repo, "cost")).stdout
    [row] = [line for line in table.splitlines() if line.startswith("fake-model")]
    assert "unknown" in row and "$0.00" not in row and "no price" in row
    assert "unknown cost" in table
    assert "cost:        unknown" in ok(pdd(git_repo, "explain", A)).stdout  # a module name works too


# -- budget --------------------------------------------------------------------------------------------------------


def test_budget_stops_before_an_unaffordable_request_and_keeps_finished_work(git_repo, answers, pdd, fake_server):
    make_project(git_repo, answers)
    # demo/a's answer uses 900 output tokens: $0.009 + input. demo/b's estimate is ~$0.0103
    # (input chars/4 + max_tokens 1000 out), more than what is left of $0.015.
    answers[A] = Reply(text=fence(A_CODE), completion_tokens=900)
    proc = ok(pdd(git_repo, "build", "--budget", "0.015"), 3)
    assert "budget" in proc.stderr and "demo/b" in proc.stderr and "was not sent" in proc.stderr
    assert "stopped at the --budget of $0.015" in proc.stderr
    assert fake_server.request_count == 1  # only demo/a was asked
    assert (git_repo / A_PY).read_text() == A_CODE and note_records(git_repo, A_PY)  # kept, with its note
    assert not (git_repo / B_PY).exists()
    [run] = run_records(git_repo)
    assert run["exit_code"] == 3 and run["budget_usd"] == 0.015
    assert run["modules"][A]["status"] == "built" and run["modules"][B]["status"] == "error"
    assert "budget" in run["modules"][B]["error"]
    # Enough budget: the rest is built; demo/a is fresh and costs nothing.
    ok(pdd(git_repo, "build", "--budget", "1"))
    assert (git_repo / B_PY).read_text() == B_CODE and fake_server.request_count == 2


def test_budget_without_prices_is_refused_before_any_request(git_repo, answers, pdd, fake_server):
    make_project(git_repo, answers, prices=False)
    proc = ok(pdd(git_repo, "build", "--budget", "5"), 2)
    assert "--budget needs a price" in proc.stderr and "fake-model" in proc.stderr and "prices" in proc.stderr
    assert fake_server.request_count == 0 and not (git_repo / A_PY).exists()


# -- backend failures as the user sees them ----------------------------------------------------------------------------


def test_backend_retries_and_failures_through_the_cli(git_repo, answers, pdd, fake_server):
    make_project(git_repo, answers)

    def build_b(*replies):
        """Build with demo/b answered by ``replies``; return the process and how many requests b got."""
        answers[B] = script = ScriptedResponder(list(replies))
        proc = pdd(git_repo, "build", "--no-tests")
        return proc, script.calls

    proc, sent = build_b(*[Reply(status=500, text="upstream exploded")] * 5)  # gives up after 1 + max_retries
    ok(proc, 3)
    assert answers.calls[A] == 1  # demo/a was built first, and kept
    assert sent == 2 and "HTTP 500" in proc.stderr and "upstream exploded" in proc.stderr
    assert note_records(git_repo, A_PY) and not (git_repo / B_PY).exists()  # finished work kept

    proc, sent = build_b(*[Reply(status=401, text="Incorrect API key provided")] * 3)  # not retried
    ok(proc, 3)
    assert sent == 1 and "HTTP 401" in proc.stderr and "OPENAI_API_KEY" in proc.stderr

    proc, sent = build_b(Reply(malformed=True))
    ok(proc, 3)
    assert sent == 1 and "not valid JSON" in proc.stderr and "Traceback" not in proc.stderr

    set_config(git_repo, openai={"max_retries": 0, "timeout": 0.5})
    proc, sent = build_b(*[Reply(hang=5, text="too late")] * 3)
    ok(proc, 3)
    assert sent == 1 and "timed out" in proc.stderr

    set_config(git_repo, openai={"max_retries": 1, "timeout": 10})

    proc, sent = build_b(Reply(status=429, retry_after=1, text="slow down"), fence(B_CODE))
    ok(proc)
    assert sent == 2 and (git_repo / B_PY).read_text() == B_CODE


# -- the command backend through the CLI -----------------------------------------------------------------------------


def test_command_backend_claude_preset_build_uses_the_reported_cost(git_repo, answers, pdd, fake_server, tmp_path):
    make_project(git_repo, answers, command={"preset": "claude", "timeout": 30})
    answers_dir = tmp_path / "agent-answers"
    write_answer(answers_dir, A, A_CODE)
    write_answer(answers_dir, B, B_CODE)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "claude"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AGENT}" --mode claude "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {"PDD_BACKEND": "command", "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
           "FAKE_AGENT_ANSWERS": str(answers_dir), "FAKE_AGENT_COST": "0.0321"}
    ok(pdd(git_repo, "build", env=env))
    assert fake_server.request_count == 0
    assert (git_repo / A_PY).read_text() == A_CODE and (git_repo / B_PY).read_text() == B_CODE
    [note] = note_records(git_repo, A_PY)
    assert note["backend"] == "command" and note["cost_usd"] == pytest.approx(0.0321)  # the tool's, not the table's
    assert note["tokens_in"] > 0 and note["tests"] == "passed"
    report = json.loads(ok(pdd(git_repo, "cost", "--json")).stdout)
    assert report["total"]["cost_usd"] == pytest.approx(2 * 0.0321)

    # A missing program is a backend failure (exit 3) naming it. (The cache key has backend and
    # model but not command.argv: clear the cache so the request is really made.)
    shutil.rmtree(git_repo / ".pdd" / "cache")
    set_config(git_repo, command={"preset": None, "argv": ["pdd-no-such-agent", "--print"]})
    proc = ok(pdd(git_repo, "build", "--force", A, env=env), 3)
    assert "pdd-no-such-agent" in proc.stderr and "not found" in proc.stderr


# -- no secret anywhere ----------------------------------------------------------------------------------------------


def test_the_api_key_is_in_nothing_pdd_writes(git_repo, answers, pdd, fake_server):
    env = {"OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": SECRET}
    make_project(git_repo, answers)
    outputs = []

    def run(*args, code=0, extra=None):
        proc = ok(pdd(git_repo, *args, env={**env, **(extra or {})}), code)
        outputs.extend([proc.stdout, proc.stderr])
        return proc

    # A service that echoes the key in its error message (as some do) for demo/b.
    answers[B] = Reply(status=401, text=f"Incorrect API key provided: {SECRET}")
    run("build", "--record", code=3)
    answers[B] = B_CODE
    run("build", "--force", "--no-tests", extra={"PDD_BACKEND": "anthropic"})  # the anthropic SDK, via the CLI
    for args in (("log", "--json"), ("explain", A_PY), ("explain", B_PY, "--json"), ("cost", "--by", "module")):
        run(*args)
    assert any("[redacted]" in e for r in run_records(git_repo) for e in r.get("errors", []))

    leaks = [f"output of a pdd command: {o[:200]}" for o in outputs if SECRET in o]
    for path in sorted(git_repo.rglob("*")):  # working tree, .pdd (cache, runs, recordings), .git files
        if path.is_file() and SECRET.encode() in path.read_bytes():
            leaks.append(str(path.relative_to(git_repo)))
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=git_repo,
                             capture_output=True, check=True).stdout  # every object, notes included, decompressed
    assert b"pdd" in objects and git(git_repo, "notes", "--ref", "pdd", "list")
    if SECRET.encode() in objects:
        leaks.append("a git object")
    assert not leaks, f"the API key leaked into: {leaks}"
