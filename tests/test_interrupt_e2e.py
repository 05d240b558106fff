"""End to end: Ctrl-C (SIGINT) during ``pdd build`` and ``pdd fix`` loses nothing.

The behavior test of the module sleeps once the code is right, so the interrupt
lands while pdd is running tests; pdd must stop promptly (the test process is
killed), leave no half-written file, and — for ``pdd fix`` — put the prompt and
the genuine generated file back.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import commit_all, fence, note_records, notes_ref, pdd_environment, write_prompt, write_test

BODY = "# Adder\n## Goal\nProvide `add(a: int, b: int) -> int`.\n## Acceptance\nTests pass.\n"
BUGGY = "def add(a: int, b: int) -> int:\n    return a - b\n"
CORRECT = "def add(a: int, b: int) -> int:\n    return a + b\n"
SLOW_WHEN_RIGHT = """\
import time
from generated.calc.add import add

def test_add():
    assert add(2, 3) == 5
    time.sleep(60)  # only reached by correct code: the interrupt lands here
"""


def _start(repo: Path, server, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pdd", *args], cwd=repo, env=pdd_environment(server),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def _pytest_children_running(repo: Path) -> bool:
    out = subprocess.run(["pgrep", "-f", str(repo / "behavior_tests")], capture_output=True, text=True)
    return bool(out.stdout.strip())


def test_sigint_during_build_stops_promptly_and_writes_nothing(git_repo, fake_server):
    write_prompt(git_repo, "calc/add", BODY, tests=["behavior_tests/test_add.py"])
    write_test(git_repo, "test_add.py", SLOW_WHEN_RIGHT)
    fake_server.responder = lambda request: fence(CORRECT)
    proc = _start(git_repo, fake_server, "build")
    _wait_for(lambda: fake_server.request_count >= 1)
    time.sleep(1.5)  # pytest is now sleeping in the behavior test
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 15, "pdd must not wait for the 60 s test"
    assert proc.returncode == 130, err
    assert not (git_repo / "generated/calc/add.py").exists()
    assert notes_ref(git_repo) is None
    assert not list((git_repo / "generated").rglob("*.tmp"))
    assert not _pytest_children_running(git_repo)


def test_sigint_during_fix_restores_prompt_and_genuine_file(git_repo, fake_server, run_pdd):
    write_prompt(git_repo, "calc/add", BODY, tests=["behavior_tests/test_add.py"])
    write_test(git_repo, "test_add.py", SLOW_WHEN_RIGHT)
    fake_server.responder = lambda request: fence(BUGGY)
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    commit_all(git_repo, "buggy", env={"PDD_BACKEND": "openai", "PDD_MODEL": "fake-model"})
    prompt_before = (git_repo / "prompts/calc/add.prompt").read_bytes()
    code_before = (git_repo / "generated/calc/add.py").read_bytes()

    def respond(request):
        text = "\n".join(str(m.get("content", "")) for m in request["body"]["messages"])
        if "Prompt file: " in text and "Target module:" not in text:
            revised = prompt_before.decode().rstrip() + "\nIt returns the sum of a and b.\n"
            return f"````prompt\n{revised}````\n"
        return fence(CORRECT if "the sum" in text else BUGGY)

    fake_server.responder = respond
    before = fake_server.request_count
    proc = _start(git_repo, fake_server, "fix", "calc/add", "--yes")
    _wait_for(lambda: fake_server.request_count >= before + 2)  # revision, then regeneration
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert (git_repo / "prompts/calc/add.prompt").read_bytes() == prompt_before
    assert (git_repo / "generated/calc/add.py").read_bytes() == code_before
    assert note_records(git_repo, "generated/calc/add.py"), "the generated file must stay genuine"
    assert not _pytest_children_running(git_repo)


def test_sigint_during_a_slow_model_request_exits_promptly(git_repo, fake_server):
    from fakeserver import Reply

    write_prompt(git_repo, "calc/add", BODY, tests=["behavior_tests/test_add.py"])
    write_test(git_repo, "test_add.py", SLOW_WHEN_RIGHT)
    fake_server.responder = lambda request: Reply(text=fence(CORRECT), hang=40)
    proc = _start(git_repo, fake_server, "build")
    _wait_for(lambda: fake_server.request_count >= 1)
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10, "pdd must not wait for the model's answer"
    assert proc.returncode == 130, err
    assert not (git_repo / "generated/calc/add.py").exists()
    runs = list((git_repo / ".pdd/runs").glob("*.json"))
    assert len(runs) == 1 and '"interrupted": true' in runs[0].read_text()
