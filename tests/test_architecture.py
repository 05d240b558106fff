"""Architecture rules of the ``pdd`` package, checked on its source and on real runs.

- no import cycle among ``pdd.*`` modules (module-level imports, read with ``ast``;
  imports inside functions and under ``if TYPE_CHECKING:`` do not count, they run
  after every module is loaded);
- the pre-commit hook's import closure holds no heavy module, statically (the
  module-level imports reachable from ``pdd.hook``) and in a real hook run
  (``python -X importtime -m pdd.hook`` in a real repository);
- ``pdd --help`` and ``pdd --version`` import no model SDK, pygit2, rich or
  pydantic, and ``pdd check`` with nothing to check none but pygit2 (typer's
  parameter conversion would pull pydantic in: ``pdd.cli_params``);
- every ``git`` subprocess is started by ``pdd/git.py``: no ``"git"`` argv anywhere
  else in ``pdd/``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import commit_all, git, write_file

PACKAGE = Path(__file__).resolve().parent.parent / "pdd"
HEAVY = ("pygit2", "rich", "jinja2", "typer", "pydantic", "pydantic_core", "openai", "anthropic")
CLI_HEAVY = ("pygit2", "rich", "jinja2", "pydantic", "pydantic_core", "openai", "anthropic")


def _modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of ``package`` (a package is its ``__init__``)."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _module_level_imports(body: list[ast.stmt]):
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            test = node.test
            if not (getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING"):
                yield from _module_level_imports(node.body)
            yield from _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _module_level_imports(block)


def import_graph(package: Path = PACKAGE) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(``pdd`` module -> the ``pdd`` modules it imports at module level,
    ``pdd`` module -> the top-level names of the other distributions it imports)."""
    modules = _modules(package)
    inner: dict[str, set[str]] = {}
    outer: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        others: set[str] = set()
        for node in _module_level_imports(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(kept + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target.split(".")[0] != "pdd":
                    others.add(target.split(".")[0])
                    continue
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
                    # importing pdd.a.b runs pdd/a/__init__.py first
                    parent = target.rpartition(".")[0]
                    while parent and parent != name:
                        deps.add(parent)
                        parent = parent.rpartition(".")[0]
        inner[name], outer[name] = deps, others
    return inner, outer


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle ``[a, b, ..., a]`` of ``graph``, or ``None`` (depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_sees_module_level_imports_only(tmp_path):
    pkg = tmp_path / "pdd"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pdd.sub import b\nimport typer\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pdd import a\n"
                                      "def f():\n    from pdd import a\n")
    (pkg / "c.py").write_text("try:\n    from . import a\nexcept ImportError:\n    pass\n")
    inner, outer = import_graph(pkg)
    assert inner["pdd.a"] == {"pdd", "pdd.sub", "pdd.sub.b"}  # a package runs its parents first
    assert inner["pdd.sub.b"] == set()
    assert inner["pdd.c"] == {"pdd", "pdd.a"}
    assert "typer" in outer["pdd.a"]


def test_no_import_cycle_among_pdd_modules():
    inner, _ = import_graph()
    assert "pdd.cli_quality" in inner and "pdd.cli" in inner
    cycle = find_cycle(inner)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_hook_import_closure_has_no_heavy_module():
    inner, outer = import_graph()
    seen, todo = set(), ["pdd.hook"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(inner[name])
    assert "pdd.check" in seen  # the closure is really walked
    heavy = {m: sorted(set(HEAVY) & outer[m]) for m in seen if set(HEAVY) & outer[m]}
    assert heavy == {}, f"the hook imports heavy modules at module level: {heavy}"


def _imported(stderr: str) -> set[str]:
    """Top-level names of the modules a ``python -X importtime`` run imported."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_a_real_hook_run_imports_no_heavy_module(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@example.invalid")
    write_file(repo, ".pdd/config.yaml", "backend: replay\nmodel: recorded\n")
    write_file(repo, "prompts/_shared/style.md", "x\n")
    commit_all(repo, "layout")
    write_file(repo, "README.md", "hello\n")
    git(repo, "add", "README.md")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pdd.hook"], cwd=repo,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = _imported(proc.stderr)
    assert "pdd" in imported and "subprocess" in imported  # importtime output was read
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


@pytest.mark.parametrize("args,forbidden", [
    (["--help"], CLI_HEAVY), (["--version"], CLI_HEAVY),
    (["check"], tuple(m for m in CLI_HEAVY if m != "pygit2")),  # check's served-model information reads with pygit2
], ids=["--help", "--version", "check"])
def test_light_cli_paths_import_no_sdk_pygit2_rich_or_pydantic(tmp_path, args, forbidden):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_file(repo, ".pdd/config.yaml", "backend: replay\nmodel: recorded\n")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pdd", *args], cwd=repo,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    imported = _imported(proc.stderr)
    assert "typer" in imported
    assert imported.isdisjoint(forbidden), sorted(imported & set(forbidden))


SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output", "system", "popen", "getoutput",
                    "getstatusoutput"}


def _git_argv(tree: ast.AST) -> list[int]:
    """Lines where a ``git`` command line is spelled: a list or tuple whose first item
    is ``"git"``, or a string ``"git ..."`` given to a subprocess call (``shell=True`` style)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value == "git":
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in SUBPROCESS_CALLS:
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("git "):
                    lines.append(node.lineno)
    return sorted(lines)


def test_git_argv_scan_finds_the_spellings():
    tree = ast.parse('import subprocess\nsubprocess.run(["git", "log"])\nsubprocess.Popen(("git",))\n'
                     'subprocess.run("git status", shell=True)\nprint(["gitk"], "git")\n'
                     'raise OSError("git is not installed")\n')
    assert _git_argv(tree) == [2, 3, 4]


def test_every_git_subprocess_goes_through_pdd_git():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "git.py":
            continue
        lines = _git_argv(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[rel] = lines
    assert found == {}, f"git started outside pdd/git.py (use pdd.git.run/git): {found}"
    assert _git_argv(ast.parse((PACKAGE / "git.py").read_text(encoding="utf-8")))  # the scan sees git.py's own
