"""Fault injection: SIGKILL ``pdd build`` and ``pdd fix`` at many points; nothing is lost.

Each loop is bounded in time. After every kill the invariants are checked:

* every file under ``generated/`` is genuine (its blob has a pdd note) and is the
  old or the new version; no other file there (no temporary file left behind);
* ``refs/notes/pdd`` is readable (a commit, its notes listable);
* for ``pdd fix``: the prompt is the original, or the revision landed with its
  genuine regenerated module, or ``pdd status`` names the interrupted fix and its
  saved copy of the original prompt restores it byte for byte;
* at the end: the next ``pdd build`` succeeds and a commit passes the pre-commit hook.

The counts (kills tried / held) are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import (FAST_BEHAVIOR_TESTS, NOTES_REF, commit_all, fence, git, pdd_environment, write_prompt,
                      write_test)

LOOP_SECONDS = float(os.environ.get("PDD_FAULT_SECONDS", "10"))  # per loop; at least 5 kills each
MODULES = ("calc/add", "calc/mul", "text/shout")
VERSIONS = {
    "calc/add": ("def add(a, b):\n    return a + b\n", "def add(a, b):\n    return b + a\n"),
    "calc/mul": ("def mul(a, b):\n    return a * b\n", "def mul(a, b):\n    return b * a\n"),
    "text/shout": ("def shout(s):\n    return s.upper()\n", "def shout(s):\n    return str(s).upper()\n"),
}
TESTS = {
    "calc/add": "from generated.calc.add import add\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    "calc/mul": "from generated.calc.mul import mul\n\ndef test_mul():\n    assert mul(2, 3) == 6\n",
    "text/shout": "from generated.text.shout import shout\n\ndef test_shout():\n    assert shout('a') == 'A'\n",
}


def _blob(repo: Path, data: bytes) -> str:
    return subprocess.run(["git", "hash-object", "--stdin"], cwd=repo, input=data, capture_output=True,
                          check=True).stdout.decode().strip()


def _annotated(repo: Path) -> set[str]:
    kind = subprocess.run(["git", "cat-file", "-t", NOTES_REF], cwd=repo, capture_output=True, text=True)
    assert kind.returncode == 0 and kind.stdout.strip() == "commit", f"notes ref unreadable: {kind.stderr}"
    out = subprocess.run(["git", "notes", f"--ref={NOTES_REF}", "list"], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return {line.split()[1] for line in out.stdout.splitlines()}


def _check_generated(repo: Path, allowed: dict[str, set[str]]) -> None:
    """Every file under generated/ genuine and one of ``allowed[path]`` (texts)."""
    from pdd.prompt import INIT_TEXT

    notes = _annotated(repo)
    for p in sorted((repo / "generated").rglob("*")):
        if p.is_dir() or "__pycache__" in p.parts:
            continue
        rel = p.relative_to(repo).as_posix()
        data = p.read_bytes()
        if p.name == "__init__.py":
            assert data == INIT_TEXT.encode(), f"{rel} is not pdd's package file"
            continue
        assert rel in allowed, f"unexpected file {rel} (a leftover?)"
        assert data.decode() in allowed[rel], f"{rel} is neither the old nor the new version"
        assert _blob(repo, data) in notes, f"{rel} is not genuine (no note on its blob)"


def _kill_at(argv: list[str], repo: Path, env: dict[str, str], delay: float) -> int | None:
    """Start ``pdd ARGV``, SIGKILL it after ``delay`` s; return its exit code if it ended first."""
    proc = subprocess.Popen([sys.executable, "-m", "pdd", *argv], cwd=repo, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def _timed(argv: list[str], repo: Path, env: dict[str, str]) -> float:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pdd", *argv], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return time.monotonic() - t0


def _no_test_process_left(repo: Path) -> bool:
    for _ in range(50):
        out = subprocess.run(["pgrep", "-f", str(repo / "behavior_tests")], capture_output=True, text=True)
        if not out.stdout.strip():
            return True
        time.sleep(0.1)
    return False


def _project(git_repo: Path, fake_server) -> dict[str, str]:
    for name in MODULES:
        test = f"behavior_tests/test_{name.split('/')[1]}.py"
        write_prompt(git_repo, name, f"# Goal\nThe module {name}.\n", tests=[test])
        write_test(git_repo, Path(test).name, TESTS[name])
    flip = {"n": 0}
    lock = threading.Lock()

    def respond(request):
        text = "\n".join(str(m.get("content", "")) for m in request["body"]["messages"])
        name = next(n for n in MODULES if f"generated/{n}.py" in text)
        with lock:
            flip["n"] += 1
            k = flip["n"]
        return fence(VERSIONS[name][k % 2])

    fake_server.responder = respond
    return pdd_environment(fake_server, FAST_BEHAVIOR_TESTS)


def test_sigkill_during_build_loses_nothing(git_repo, fake_server, run_pdd):
    env = _project(git_repo, fake_server)
    allowed = {f"generated/{n}.py": set(VERSIONS[n]) for n in MODULES}
    full = _timed(["build", "--jobs", "2"], git_repo, env)
    commit_all(git_repo, "built", env=env)
    rng = random.Random(9)
    tried = held = 0
    deadline = time.monotonic() + LOOP_SECONDS
    failures: list[str] = []
    while time.monotonic() < deadline or tried < 5:
        delay = rng.uniform(0.05, full * 1.1)
        rc = _kill_at(["build", "--force", "--jobs", "2"], git_repo, env, delay)
        tried += 1
        try:
            assert rc in (None, 0), f"build exited {rc}"
            _check_generated(git_repo, allowed)
            assert _no_test_process_left(git_repo), "a test process outlived pdd"
            held += 1
        except AssertionError as exc:
            failures.append(f"kill at {delay:.2f} s: {exc}")
    print(f"\n[faults] pdd build: {tried} SIGKILLs tried, {held} held (full build {full:.2f} s)")
    assert not failures, failures
    # leftovers never block the next build or commit
    proc = run_pdd(git_repo, "build", env=FAST_BEHAVIOR_TESTS)
    assert proc.returncode == 0, proc.stderr
    assert "edited" not in proc.stderr
    _check_generated(git_repo, allowed)
    _commit_through_hook(git_repo, env)
    assert not list((git_repo / "generated").rglob("*.tmp"))


BUGGY = "def add(a, b):\n    return a - b\n"
CORRECT = "def add(a, b):\n    return a + b\n"


def test_sigkill_during_fix_loses_nothing(git_repo, fake_server, run_pdd):
    write_prompt(git_repo, "calc/add", "# Goal\nadd(a, b).\n", tests=["behavior_tests/test_add.py"])
    write_test(git_repo, "test_add.py", TESTS["calc/add"])
    prompt = git_repo / "prompts/calc/add.prompt"
    original = prompt.read_bytes()
    revised = original.decode().rstrip() + "\nIt returns the sum of a and b.\n"

    def respond(request):
        text = "\n".join(str(m.get("content", "")) for m in request["body"]["messages"])
        if "Prompt file: " in text and "Target module:" not in text:
            return f"````prompt\n{revised}````\n"
        return fence(CORRECT if "the sum" in text else BUGGY)

    fake_server.responder = respond
    env = pdd_environment(fake_server, FAST_BEHAVIOR_TESTS)
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    commit_all(git_repo, "buggy", env=env)
    allowed = {"generated/calc/add.py": {BUGGY, CORRECT}}
    full = _timed(["fix", "calc/add", "--yes"], git_repo, env)

    def reset() -> None:
        git(git_repo, "checkout", "-q", "--", "prompts", "generated")
        for pending in (git_repo / ".pdd/fix").glob("*/pending.json"):
            pending.unlink()

    reset()
    rng = random.Random(7)
    tried = held = named = 0
    deadline = time.monotonic() + LOOP_SECONDS
    failures: list[str] = []
    while time.monotonic() < deadline or tried < 5:
        delay = rng.uniform(0.05, full * 1.1)
        rc = _kill_at(["fix", "calc/add", "--yes"], git_repo, env, delay)
        tried += 1
        try:
            assert rc in (None, 0), f"fix exited {rc}"
            _check_generated(git_repo, allowed)
            now = prompt.read_bytes()
            status = subprocess.run([sys.executable, "-m", "pdd", "status", "--json"], cwd=git_repo, env=env,
                                    capture_output=True, text=True, timeout=60)
            assert status.returncode == 0, status.stderr
            fixes = json.loads(status.stdout)["interrupted_fixes"]
            if now != original:
                landed = (git_repo / "generated/calc/add.py").read_text() == CORRECT
                assert fixes or landed, "a revised prompt with stale code and no record of the original"
                if fixes:
                    named += 1
                    assert (git_repo / fixes[0]["saved"]).read_bytes() == original
                    assert f"cp {fixes[0]['saved']} prompts/calc/add.prompt" in fixes[0]["advice"]
            else:
                assert fixes == [], "a restored prompt needs no restore advice"
            assert _no_test_process_left(git_repo), "a test process outlived pdd"
            held += 1
        except AssertionError as exc:
            failures.append(f"kill at {delay:.2f} s: {exc}")
        reset()
    print(f"\n[faults] pdd fix: {tried} SIGKILLs tried, {held} held, {named} named an interrupted fix "
          f"(full fix {full:.2f} s)")
    assert not failures, failures
    proc = run_pdd(git_repo, "build", env=FAST_BEHAVIOR_TESTS)
    assert proc.returncode == 0, proc.stderr
    _commit_through_hook(git_repo, env)


def _commit_through_hook(repo: Path, env: dict[str, str]) -> None:
    """``git add -A`` and a commit that runs pdd's pre-commit hook (it must pass)."""
    assert (repo / ".git/hooks/pre-commit").exists()
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "--allow-empty", "-m", "after the kills", env=env)


def test_interrupted_fix_is_named_and_pdd_fix_refuses_until_restored(git_repo, fake_server, run_pdd):
    """A fix killed after applying its revision: status and fix name it; the advice restores it."""
    from pdd.recovery import new_fix_folder, save_original

    write_prompt(git_repo, "calc/add", "# Goal\nadd(a, b).\n", tests=["behavior_tests/test_add.py"])
    write_test(git_repo, "test_add.py", TESTS["calc/add"])
    fake_server.responder = lambda request: fence(BUGGY)
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    prompt = git_repo / "prompts/calc/add.prompt"
    original = prompt.read_bytes()
    # what a fix killed right after applying its revision leaves (pid 1 is never ours)
    folder = new_fix_folder(git_repo)
    save_original(folder, "calc/add", "prompts/calc/add.prompt", "generated/calc/add.py", original)
    info = json.loads((folder / "pending.json").read_text())
    (folder / "pending.json").write_text(json.dumps({**info, "pid": _dead_pid()}))
    prompt.write_bytes(original + b"A revision.\n")
    status = run_pdd(git_repo, "status")
    assert "interrupted fix" in status.stdout and "cp .pdd/fix/" in status.stdout, status.stdout
    proc = run_pdd(git_repo, "fix", "calc/add", "--yes")
    assert proc.returncode == 2 and "interrupted" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    advice = json.loads(run_pdd(git_repo, "status", "--json").stdout)["interrupted_fixes"][0]["advice"]
    cp = re.search(r"`(cp [^`]*?) &&", advice).group(1).split()
    subprocess.run(cp, cwd=git_repo, check=True)
    assert prompt.read_bytes() == original
    assert json.loads(run_pdd(git_repo, "status", "--json").stdout)["interrupted_fixes"] == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_fix_folders_never_collide(tmp_path):
    from pdd.recovery import new_fix_folder

    folders: list[Path] = []
    lock = threading.Lock()

    def make() -> None:
        for _ in range(50):
            f = new_fix_folder(tmp_path)
            with lock:
                folders.append(f)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(folders) == 200 and len(set(folders)) == 200
    assert all(f.is_dir() and not any(f.iterdir()) for f in folders)


def test_two_hand_edit_fixes_in_one_second_keep_both_copies(git_repo, fake_server, run_pdd):
    """Both failed fixes of a hand edit keep their saved copy (the genuine file is put back)."""
    write_prompt(git_repo, "calc/add", "# Goal\nadd(a, b).\n", tests=["behavior_tests/test_add.py"])
    write_test(git_repo, "test_add.py", TESTS["calc/add"])
    fake_server.responder = lambda request: fence(CORRECT)
    assert run_pdd(git_repo, "build", env=FAST_BEHAVIOR_TESTS).returncode == 0
    commit_all(git_repo, "built", env=pdd_environment(fake_server))
    fake_server.responder = lambda request: "no prompt block here"  # every revision is rejected
    edits = ["def add(a, b):\n    return a + b  # one\n", "def add(a, b):\n    return a + b  # two\n"]
    for edit in edits:
        (git_repo / "generated/calc/add.py").write_text(edit)
        proc = run_pdd(git_repo, "fix", "generated/calc/add.py", "--yes", "--attempts", "1", env=FAST_BEHAVIOR_TESTS)
        assert proc.returncode == 1, proc.stderr
    saved = sorted((git_repo / ".pdd/fix").rglob("add.py"))
    assert sorted(p.read_text() for p in saved) == sorted(edits)


def test_stray_temp_file_is_named_by_status_and_removed_by_build(git_repo, fake_server, run_pdd):
    env = _project(git_repo, fake_server)
    assert run_pdd(git_repo, "build", env=FAST_BEHAVIOR_TESTS).returncode == 0
    stray = git_repo / "generated/calc/.add.py.ab12cd_9.tmp"  # what an older pdd's killed write left
    stray.write_text(VERSIONS["calc/add"][0])
    (git_repo / ".pdd/cache/tmp").mkdir(parents=True, exist_ok=True)
    (git_repo / ".pdd/cache/tmp/.mul.py.zz99yy88.tmp").write_text("half")
    status = run_pdd(git_repo, "status")
    assert "leftover generated/calc/.add.py.ab12cd_9.tmp" in status.stdout, status.stdout
    assert "leftover .pdd/cache/tmp/.mul.py.zz99yy88.tmp" in status.stdout
    proc = run_pdd(git_repo, "build", env=FAST_BEHAVIOR_TESTS)
    assert proc.returncode == 0 and "removed generated/calc/.add.py.ab12cd_9.tmp" in proc.stderr, proc.stderr
    assert not stray.exists() and not any((git_repo / ".pdd/cache/tmp").iterdir())
    commit_all(git_repo, "clean", env=env)
    # control: the stray file alone would have blocked the commit
    stray.write_text(VERSIONS["calc/add"][0])
    git(git_repo, "add", "-A")
    blocked = subprocess.run(["git", "commit", "-q", "-m", "stray"], cwd=git_repo, env=env, capture_output=True,
                             text=True)
    assert blocked.returncode != 0


def test_concurrent_builds_wait_for_the_lock_and_never_say_edited(git_repo, fake_server):
    env = _project(git_repo, fake_server)
    procs = [subprocess.Popen([sys.executable, "-m", "pdd", "build", "--force"], cwd=git_repo, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "edited" not in err
    assert any("waiting: another pdd is running in this repository" in err for _, err in outs)


def test_lock_timeout_is_exit_2(git_repo, fake_server):
    from pdd.recovery import repo_lock

    env = _project(git_repo, fake_server)
    env["PDD_LOCK_TIMEOUT"] = "0.5"
    with repo_lock(git_repo, "test"):
        proc = subprocess.run([sys.executable, "-m", "pdd", "build"], cwd=git_repo, env=env, capture_output=True,
                              text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "another pdd is still running" in proc.stderr and "Traceback" not in proc.stderr
    assert not (git_repo / "generated/calc/add.py").exists()


def test_stale_scratch_folders_are_removed(tmp_path):
    from pdd.sandbox import remove_stale_scratch

    dead = tmp_path / f"pdd-tests-{_dead_pid()}-abc"
    alive = tmp_path / f"pdd-tests-{os.getpid()}-abc"
    other = tmp_path / "pdd-testsuite"
    for d in (dead, alive, other):
        d.mkdir()
        (d / "f").write_text("x")
    assert remove_stale_scratch(tmp_path) == [dead]
    assert not dead.exists() and alive.exists() and other.exists()


@pytest.mark.parametrize("setting", ["bwrap", "none"])
def test_sigkill_of_pdd_takes_its_test_process_along(git_repo, fake_server, setting):
    from pdd import sandbox

    if setting == "bwrap" and sandbox._probe_bwrap()[0] is None:
        pytest.skip(f"bubblewrap is not usable: {sandbox._probe_bwrap()[1]}")
    cfg = git_repo / ".pdd/config.yaml"
    cfg.write_text(cfg.read_text().replace("sandbox: auto", f"sandbox: {setting}"))
    write_prompt(git_repo, "calc/add", "# Goal\nadd.\n", tests=["behavior_tests/test_add.py"])
    write_test(git_repo, "test_add.py", "import time\nfrom generated.calc.add import add\n\n"
                                        "def test_add():\n    time.sleep(60)\n")
    fake_server.responder = lambda request: fence(CORRECT)
    env = pdd_environment(fake_server, FAST_BEHAVIOR_TESTS)
    proc = subprocess.Popen([sys.executable, "-m", "pdd", "build"], cwd=git_repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pattern = str(git_repo / "behavior_tests")
    deadline = time.monotonic() + 60
    while not subprocess.run(["pgrep", "-f", pattern], capture_output=True).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert subprocess.run(["pgrep", "-f", pattern], capture_output=True).stdout, "tests never started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _no_test_process_left(git_repo), f"pytest outlived pdd (tests.sandbox: {setting})"
    scratch = [p for p in Path("/tmp").glob(f"pdd-tests-{proc.pid}-*")]
    assert scratch, "the killed run left its scratch folder (what the next run removes)"
    from pdd.sandbox import remove_stale_scratch

    assert set(scratch) <= set(remove_stale_scratch(Path("/tmp")))


def test_an_unreadable_pending_record_is_named_not_skipped(tmp_path):
    """A truncated ``pending.json`` (pdd killed while writing it) still points the user at the
    saved original prompt: ``pdd status`` names it instead of dropping it."""
    from pdd.recovery import FIX_RELPATH, PENDING, interrupted_fixes

    folder = tmp_path / FIX_RELPATH / "20261202T000000000000Z-1-0"
    (folder / "original" / "prompts").mkdir(parents=True)
    (folder / "original" / "prompts" / "m.prompt").write_text("# Goal\n")
    (folder / PENDING).write_text('{"module": "m", "pro')  # cut off mid-write
    (found,) = interrupted_fixes(tmp_path)
    rel = folder.relative_to(tmp_path).as_posix()
    assert found.module == "?" and found.folder == rel
    assert f"{rel}/original/" in found.advice() and f"rm {rel}/{PENDING}" in found.advice()
