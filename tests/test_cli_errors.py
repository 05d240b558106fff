"""The one error handler of the ``pdd`` command line (``pdd.cli.error_handler``):
a PddError, an unexpected exception, Ctrl-C, a closed pipe and click's abort, in
process and through the real entry point."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pdd import __version__
from pdd.cli import error_handler
from pdd.errors import BackendError, InputError, UsageError

CLI_MODULES = sorted((Path(__file__).resolve().parent.parent / "pdd").glob("cli*.py"))
SECRET = "sk-this-is-a-secret-value-1234"


def _exit_code(exc: BaseException) -> int:
    with pytest.raises(SystemExit) as info:
        with error_handler():
            raise exc
    return info.value.code


@pytest.mark.parametrize("exc,code,lines", [
    (UsageError("unknown --format 'x'", hint="use text or json"), 2,
     ["pdd: error: unknown --format 'x'", "  hint: use text or json"]),
    (InputError("prompts/a.prompt", 3, "bad key"), 2, ["pdd: error: prompts/a.prompt:3: bad key"]),
    (BackendError("the server refused"), 3, ["pdd: error: the server refused"]),
])
def test_a_pdd_error_is_its_message_hint_and_exit_code(capsys, exc, code, lines):
    assert _exit_code(exc) == code
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == lines


def test_an_unexpected_exception_is_an_internal_error_without_traceback(capsys, monkeypatch):
    monkeypatch.delenv("PDD_DEBUG", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert _exit_code(ZeroDivisionError(f"boom with {SECRET}")) == 1
    err = capsys.readouterr().err
    assert err.startswith("pdd: internal error: ZeroDivisionError: boom with [redacted]\n")
    assert f"this is a bug in pdd {__version__}" in err and "PDD_DEBUG=1" in err and "report it" in err
    assert "Traceback" not in err and SECRET not in err


def test_pdd_debug_adds_the_redacted_traceback(capsys, monkeypatch):
    monkeypatch.setenv("PDD_DEBUG", "1")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)

    def failing() -> None:
        raise KeyError(SECRET)

    with pytest.raises(SystemExit) as info:
        with error_handler():
            failing()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "in failing" in err and "pdd: internal error: KeyError: '[redacted]'" in err
    assert SECRET not in err


def test_a_system_exit_passes_through(capsys):
    assert _exit_code(SystemExit(1)) == 1
    assert capsys.readouterr().err == ""


def _run(code: str, *, cwd: Path, debug: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PDD_DEBUG"}
    if debug:
        env["PDD_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=env)


def test_ctrl_c_exits_130_and_says_so(tmp_path):
    proc = _run("""
        from pdd.cli import error_handler
        print("partial output", flush=True)
        with error_handler():
            raise KeyboardInterrupt
        print("not reached")
    """, cwd=tmp_path)
    assert proc.returncode == 130
    assert proc.stdout == "partial output\n"  # what was printed before is kept
    assert proc.stderr == "pdd: interrupted\n"


def test_click_abort_is_aborted_exit_1(tmp_path):
    proc = _run("""
        import typer
        from pdd.cli import error_handler
        with error_handler():
            raise typer.Abort()
    """, cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (1, "pdd: aborted\n")


def test_a_closed_pipe_exits_1_silently(tmp_path):
    proc = _run("""
        from pdd.cli import error_handler
        with error_handler():
            raise BrokenPipeError(32, "Broken pipe")
    """, cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (1, "")


def test_an_unexpected_exception_in_a_real_command(tmp_path):
    """The real entry point, with a library function that fails unexpectedly."""
    code = """
        import sys
        import pdd.project
        def broken(start):
            raise RuntimeError("unexpected state")
        pdd.project.find_root = broken
        sys.argv = ["pdd", "log"]
        from pdd.cli import main
        main()
    """
    proc = _run(code, cwd=tmp_path)
    assert proc.returncode == 1
    assert "pdd: internal error: RuntimeError: unexpected state" in proc.stderr
    assert "Traceback" not in proc.stderr
    debug = _run(code, cwd=tmp_path, debug=True)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr and "in broken" in debug.stderr


def test_a_pdd_error_through_the_real_cli(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pdd", "status"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("pdd: error: ") and "is not inside a git working tree" in proc.stderr
    assert "  hint: run `git init` first" in proc.stderr


def test_commands_leave_errors_to_the_one_handler():
    """No command catches a PddError to print it: only ``error_handler`` does (the
    ``_fail`` helper of the old per-command wrappers is gone)."""
    calls = {}
    for path in CLI_MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef):
                for node in ast.walk(func):
                    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_fail":
                        calls.setdefault(f"{path.name}:{func.name}", 0)
                        calls[f"{path.name}:{func.name}"] += 1
    assert calls == {}
    assert len(CLI_MODULES) >= 8
