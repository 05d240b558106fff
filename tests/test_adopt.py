"""In-process tests of :mod:`pdd.adopt`'s core: side-effect scan, import probe, test
discovery, shim, package order, the crash record and its rollback (through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import snapshot_files, write_file
from pdd.adopt import (copied_lines, dotted_name, find_tests, imported_modules, names_used_by_tests, package_order,
                       probe_import, public_names, shim_target, shim_text, static_side_effects)
from pdd.errors import UsageError


@pytest.mark.parametrize("source, found", [
    ('"""doc"""\nimport re\nX = re.compile("a")\n\ndef f():\n    print("fine inside a function")\n', None),
    ('if __name__ == "__main__":\n    main()\n', None),
    ("try:\n    import json\nexcept ImportError:\n    json = None\n", None),
    ("main()\n", "`main()` runs at import time"),
    ("import os\nos.system('echo hi')\n", "runs at import time"),
    ("import os\nRC = os.system('echo hi')\n", "calls os.system()"),
    ("for i in range(3):\n    pass\n", "`for` statement"),
    ("with open('x') as fh:\n    pass\n", "`with` statement"),
    ("DATA = open('data.txt').read()\n", "calls open()"),
    ("class A:\n    print('in a class body')\n", "runs at import time"),
    ("class A:\n    X = print('in a class body')\n", "calls print()"),
])
def test_static_side_effects(source: str, found: str | None) -> None:
    out = static_side_effects(source, "m.py")
    if found is None:
        assert out == []
    else:
        assert out and found in out[0] and out[0].startswith("m.py:")


def test_probe_import_sees_writes_sockets_processes_and_output(tmp_path: Path) -> None:
    write_file(tmp_path, "quiet.py", "import re\nPAT = re.compile('x')\n", dedent=False)
    write_file(tmp_path, "writes.py", "def _f():\n    open('left.txt', 'w').close()\n\nX = _f()\n", dedent=False)
    write_file(tmp_path, "spawns.py", "import subprocess\n_ = [subprocess.run(['true'])]\n", dedent=False)
    write_file(tmp_path, "sockets.py", "import socket\n_S = [socket.socket()]\n", dedent=False)
    write_file(tmp_path, "talks.py", "import sys\n_ = [sys.stdout.write('hello')]\n", dedent=False)
    assert probe_import(tmp_path, "quiet", "auto") == []
    assert "for writing" in " ".join(probe_import(tmp_path, "writes", "auto"))
    assert "subprocess.Popen" in " ".join(probe_import(tmp_path, "spawns", "auto"))
    assert "socket" in " ".join(probe_import(tmp_path, "sockets", "auto"))
    assert "printed: 'hello'" in " ".join(probe_import(tmp_path, "talks", "auto"))
    assert not (tmp_path / "left.txt").exists()


def test_find_tests_and_names_used(tmp_path: Path) -> None:
    write_file(tmp_path, "pkg/__init__.py", "", dedent=False)
    write_file(tmp_path, "pkg/leaf.py", "def f(): return 1\n", dedent=False)
    write_file(tmp_path, "tests/test_a.py", "from pkg.leaf import f, _g\n", dedent=False)
    write_file(tmp_path, "tests/test_b.py", "from pkg import leaf as L\n\ndef test():\n    L._h(L.f)\n", dedent=False)
    write_file(tmp_path, "tests/test_c.py", "import pkg.other\n", dedent=False)
    write_file(tmp_path, "generated/test_skip.py", "from pkg.leaf import f\n", dedent=False)
    assert find_tests(tmp_path, "pkg.leaf") == ["tests/test_a.py", "tests/test_b.py"]
    sources = [(tmp_path / t).read_text() for t in ("tests/test_a.py", "tests/test_b.py")]
    assert names_used_by_tests(sources, "pkg.leaf") == {"f", "_g", "_h"}


def test_imports_resolve_relative_ones() -> None:
    mods = {m for _, m in imported_modules("from .base import x\nfrom . import sib\nimport os\n", "pkg.mod")}
    assert {"pkg.base", "pkg.base.x", "pkg", "pkg.sib", "os"} <= mods
    assert dotted_name("pkg/__init__.py") == "pkg" and dotted_name("a/b.py") == "a.b"


def test_shim_round_trip() -> None:
    text = shim_text("generated.pkg.leaf", public_names("__all__ = ['f']\ndef f(): pass\ndef g(): pass\n"), ["_g"],
                     "pkg/leaf.py", ".pdd/adopt/X")
    assert shim_target(text) == "generated.pkg.leaf"
    assert "__all__ = ['f']" in text and "from generated.pkg.leaf import _g" in text
    assert shim_target("from generated.x import *\n") is None  # a hand-written re-export is not a pdd shim
    assert public_names("A = 1\n_B = 2\ndef f(): pass\nclass C: pass\nimport os\n") == ["A", "f", "C"]


def test_copied_lines() -> None:
    source = "def slug(text):\n    return '-'.join(text.lower().split())\n"
    assert copied_lines("The slug joins words.\n    return '-'.join(text.lower().split())\n", source) == 1
    assert copied_lines("The slug joins the words with dashes.", source) == 0


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_package_order_puts_imports_first(tmp_path_factory, data) -> None:
    root = tmp_path_factory.mktemp("pkg")
    n = data.draw(st.integers(1, 6))
    names = [f"m{i}" for i in range(n)]
    # only edges from a higher to a lower index: a DAG
    deps = {i: data.draw(st.sets(st.integers(0, i - 1), max_size=i)) if i else set() for i in range(n)}
    for i, name in enumerate(names):
        body = "".join(f"from pkg.m{j} import x{j}\n" if j % 2 else f"from . import m{j}\n" for j in sorted(deps[i]))
        (root / "pkg").mkdir(exist_ok=True)
        (root / "pkg" / f"{name}.py").write_text(body + f"x{i} = 1\n")
    order = package_order(root, sorted(f"pkg/{m}.py" for m in names))
    assert sorted(order) == sorted(f"pkg/{m}.py" for m in names)
    pos = {p: k for k, p in enumerate(order)}
    for i in range(n):
        for j in deps[i]:
            assert pos[f"pkg/m{j}.py"] < pos[f"pkg/m{i}.py"]


def test_package_order_refuses_a_cycle(tmp_path: Path) -> None:
    write_file(tmp_path, "p/a.py", "from p.b import y\nx = 1\n", dedent=False)
    write_file(tmp_path, "p/b.py", "from p.a import x\ny = 1\n", dedent=False)
    with pytest.raises(UsageError, match="cycle"):
        package_order(tmp_path, ["p/a.py", "p/b.py"])


def test_interrupted_adoption_is_named_and_rolled_back(git_repo: Path, run_pdd) -> None:
    """A killed adoption (pending.json left, files half-written) shows in `pdd status`;
    `pdd adopt --rollback ID` puts the project back byte for byte."""
    from pdd.adopt import new_adopt_folder

    write_file(git_repo, "lib.py", "def f(x: int) -> int:\n    return x\n", dedent=False)
    before = snapshot_files(git_repo)
    folder = new_adopt_folder(git_repo)
    (folder / "original").mkdir()
    (folder / "original" / "lib.py").write_bytes((git_repo / "lib.py").read_bytes())
    (folder / "pending.json").write_text(json.dumps({"original": "lib.py", "prompt": "prompts/lib.prompt",
                                                     "output": "generated/lib.py"}))
    # what a crash after the first writes leaves: the prompt, the shim
    write_file(git_repo, "prompts/lib.prompt", "# Goal\nx\n", dedent=False)
    write_file(git_repo, "lib.py", "# Adopted by pdd: ...\nfrom generated.lib import *\n__all__ = ['f']\n", dedent=False)
    status = run_pdd(git_repo, "status")
    assert "interrupted adoption: the adoption of lib.py was interrupted" in status.stdout, status.stdout
    assert f"pdd adopt --rollback {folder.name}" in status.stdout
    undo = run_pdd(git_repo, "adopt", "--rollback", folder.name)
    assert undo.returncode == 0 and "restored lib.py" in undo.stdout, undo.stdout + undo.stderr
    after = {k: v for k, v in snapshot_files(git_repo).items() if not k.startswith((".pdd/adopt/", ".pdd/cache/", ".pdd/runs/"))}
    assert after == {k: v for k, v in before.items() if not k.startswith((".pdd/cache/", ".pdd/runs/"))}
    assert "interrupted adoption" not in run_pdd(git_repo, "status").stdout
    again = run_pdd(git_repo, "adopt", "--rollback", folder.name)
    assert again.returncode == 2 and "no unfinished adoption" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize("args, says", [
    (["nothere.py"], "does not exist"),
    (["generated"], "pdd's own output"),
    (["README.md"], "not a Python file"),
    (["/etc/passwd"], "outside the repository"),
    (["--rollback", "../x"], "--rollback takes the ID"),
])
def test_bad_usage_is_exit_2(git_repo: Path, run_pdd, args, says) -> None:
    write_file(git_repo, "README.md", "x\n", dedent=False)
    (git_repo / "generated").mkdir(exist_ok=True)
    proc = run_pdd(git_repo, "adopt", *args)
    assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_rollback_keeps_an_edited_prompt_and_the_original_mode(tmp_path: Path) -> None:
    """Rollback restores the original with its file mode, and a prompt edited since the
    adoption wrote it is moved into the adopt folder, never deleted."""
    from pdd.adopt import new_adopt_folder, rollback
    from pdd.provenance.source import git_blob_id

    written = "# Goal\nx\n"
    folder = new_adopt_folder(tmp_path)
    (folder / "original").mkdir()
    (folder / "original" / "tool.py").write_text("print('hi')\n")
    (folder / "pending.json").write_text(json.dumps({
        "original": "tool.py", "prompt": "prompts/tool.prompt", "output": "generated/tool.py", "mode": 0o755,
        "prompt_blob": git_blob_id(written.encode())}))
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts/tool.prompt").write_text(written + "my own edit\n")  # edited after the crash
    (tmp_path / "tool.py").write_text("# shim\n")
    done = rollback(tmp_path, folder)
    assert (tmp_path / "tool.py").read_text() == "print('hi')\n"
    assert (tmp_path / "tool.py").stat().st_mode & 0o777 == 0o755
    assert not (tmp_path / "prompts/tool.prompt").exists()
    assert (folder / "edited/prompts/tool.prompt").read_text() == written + "my own edit\n"
    assert any("moved the edited prompts/tool.prompt" in d for d in done)
