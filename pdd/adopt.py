"""``pdd adopt PATH.py``: bring hand-written code under pdd, with proof.

A module is adopted only when a regeneration **from its prompt alone** passes the
existing tests and agrees with the original code on generated inputs.

Per module (a package folder: its modules in dependency order, leaves first;
``__init__.py`` files are left as they are):

1. Refusals (exit 2, nothing written): no tests (none given with ``--tests`` and no
   test file imports it); import-time side effects, found twice over — a static
   scan of the top-level statements (:func:`static_side_effects`: bare calls,
   loops, ``with``, calls of ``open``/``print``/``subprocess``/``socket``… outside
   functions) and an import of the module in the sandbox with a scratch working
   folder and ``HOME`` (:func:`probe_import`: an audit hook (PEP 578) records file
   writes, sockets and processes, and printed output counts too); an import of
   another hand-written project module that is not adopted yet ("adopt it first").
2. Ask the model for the prompt file (one ````prompt block, four backticks): the six
   sections, Acceptance items with requirement ids, ``depends`` on the adopted or
   generated modules it imports (their public interfaces are given), ``tests:``
   naming the existing tests. The draft is validated: it must parse, render, have
   the sections (lint ``section-*``/``req-*`` errors reject it), requirement ids,
   the right ``tests``/``depends``, and must not copy the original's code.
3. Regenerate from the prompt alone with the build's own request
   (:func:`pdd.generation.initial_messages`: the original code is not in it), run
   the tests against the regeneration in the overlay and the sandbox (the original
   module's import name is bound to its re-export shim there), then compare the
   original and the regeneration with the differential engine
   (:func:`pdd.differential.compare`, the one ``pdd diff`` and ``pdd probe`` use).
4. On a failure or a disagreement, the concrete evidence (failing test output,
   ``call: original returns X, regenerated returns Y``) goes back to the model as a
   prompt revision request, up to ``attempts``.
5. On success, shown and confirmed (or ``--yes``), the writes are ordered so that
   an interruption leaves a record: the original is copied to
   ``.pdd/adopt/<id>/original/`` with ``pending.json``; then the prompt is written,
   the original replaced by the shim, the module built by :class:`pdd.build.Builder`
   (same request, so a cache hit; tests re-run through the shim; the note gets
   ``adopted: {original_blob, examples_agreed, attempts}``), and ``pending.json``
   becomes ``adopted.json``. Any failure in between puts everything back. A killed
   adoption is named by ``pdd status``; ``pdd adopt --rollback ID`` undoes it.
6. On failure nothing in the project changes; the last draft and the evidence are
   saved under ``.pdd/adopt/<id>/`` (``draft.prompt``, ``evidence.txt``) and printed;
   exit 1.

Every adoption writes a run record (``adopt``, with spend) that ``pdd log`` and
``pdd cost`` count; the final build writes its own ``adopt-build`` record.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from pdd.atomicfile import write_atomic
from pdd.errors import EXIT_BACKEND, EXIT_OK, EXIT_PROBLEM, BackendError, InputError, UsageError
from pdd.runs import Spend, now_iso
from pdd.targets import get as get_target

ADOPT_RELPATH = ".pdd/adopt"
ADOPT_TEMPLATE_VERSION = "pdd-adopt-1"
SKIP_DIRS = {".git", ".pdd", "generated", "node_modules", "__pycache__", ".venv", "venv", ".tox", "build", "dist"}

SYSTEM_PROMPT = f"""\
You write the prompt files of pdd, a prompt-driven development toolchain. A prompt file is the
specification from which a language model generates one {get_target().MODULE_KIND}; the module is regenerated from
the prompt ALONE (the generator never sees the existing code), and it must then pass the existing tests
and behave exactly like the existing code on generated inputs.

Answer with the complete prompt file in one code block fenced with FOUR backticks and tagged `prompt`
(````prompt ... ````), and nothing after it. The file starts with YAML front matter between `---` lines
with exactly the `depends` and `tests` given below, then Markdown with the six sections
`## Goal`, `## Inputs / Outputs`, `## Constraints`, `## Failure modes`, `## Out of scope`, `## Acceptance`.
Every Acceptance item starts with a requirement id in brackets (`- [A1] ...`). Describe behavior, not
code: name every public function, class and constant with its signature, state exact outputs, edge
cases, error types and messages; do not paste the implementation.
"""


@dataclass
class AdoptOptions:
    """``name``: the module name (default: the path without ``.py``); ``tests``: test
    files (default: found); ``attempts``: drafts/revisions; ``max_examples``: per
    target of the differential comparison."""

    name: str | None = None
    tests: list[str] = field(default_factory=list)
    attempts: int = 3
    yes: bool = False
    dry_run: bool = False
    max_examples: int = 100


@dataclass
class AdoptAttempt:
    """One draft: ``rejected_because`` (invalid draft), the tests' status, the
    comparison's agreed examples and the disagreements as sentences."""

    number: int
    rejected_because: str | None = None
    tests: str | None = None
    examples_agreed: int = 0
    disagreements: list[str] = field(default_factory=list)
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class AdoptReport:
    """Outcome of adopting one file. ``outcome``: adopted | exhausted | declined |
    dry-run | backend-error | skipped."""

    path: str
    module: str
    outcome: str
    attempts: list[AdoptAttempt] = field(default_factory=list)
    prompt: str | None = None
    evidence: str = ""
    folder: str | None = None
    message: str = ""
    examples_agreed: int = 0
    seconds: float = 0.0
    spend: Spend = field(default_factory=Spend)
    run_path: Path | None = None

    @property
    def exit_code(self) -> int:
        if self.outcome in ("adopted", "dry-run", "skipped"):
            return EXIT_OK
        return EXIT_BACKEND if self.outcome == "backend-error" else EXIT_PROBLEM

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "module": self.module, "outcome": self.outcome, "message": self.message,
                "examples_agreed": self.examples_agreed, "seconds": round(self.seconds, 3), "folder": self.folder,
                "attempts": [a.to_json() for a in self.attempts], "spend": self.spend.entry(),
                "run": str(self.run_path) if self.run_path else None, "exit_code": self.exit_code}


# ---------------------------------------------------------------------------
# Module paths, imports, tests
# ---------------------------------------------------------------------------


def dotted_name(rel: str) -> str:
    """``pkg/leaf.py`` -> ``pkg.leaf`` (``pkg/__init__.py`` -> ``pkg``)."""
    parts = list(PurePosixPath(rel).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, dotted: str) -> list[tuple[int, str]]:
    """``(line, absolute dotted name)`` of each module ``source`` (module ``dotted``)
    imports, relative imports resolved; ``from a import b`` yields ``a.b`` and ``a``."""
    tree = ast.parse(source)
    package = dotted.rsplit(".", 1)[0] if "." in dotted else ""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*parts, *( [base] if base else [])])
            if base:
                out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}" if base else a.name) for a in node.names if a.name != "*"]
    return out


def _walk_py(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")]
        for f in filenames:
            if f.endswith(".py"):
                yield Path(dirpath) / f


def find_tests(root: Path, dotted: str) -> list[str]:
    """Test files (``test_*.py``, ``*_test.py``) under ``root`` that import module
    ``dotted`` (``import m``, ``from m import x``, ``from pkg import m``), sorted."""
    found = []
    for path in _walk_py(root):
        if not (path.name.startswith("test_") or path.name.endswith("_test.py")):
            continue
        rel = path.relative_to(root).as_posix()
        try:
            names = {n for _, n in imported_modules(path.read_text(encoding="utf-8"), dotted_name(rel))}
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        if dotted in names:
            found.append(rel)
    return sorted(found)


def shim_target(source: str) -> str | None:
    """The ``generated.…`` module an adopted file re-exports, or ``None`` if ``source``
    is not a pdd adoption shim."""
    first = source.splitlines()[:1]
    if not first or not first[0].startswith(SHIM_MARK):
        return None
    for line in source.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] == ["from"] and words[1:2] and words[1].startswith("generated.") and words[2:] == ["import", "*"]:
            return words[1]
    return None


SHIM_MARK = "# Adopted by pdd:"

_RISKY_CALLS = {"open", "print", "input", "exec", "eval", "exit", "quit", "breakpoint", "__import__"}
_RISKY_MODULES = {"os", "subprocess", "socket", "shutil", "urllib", "http", "requests", "sys", "threading",
                  "multiprocessing", "signal", "atexit", "logging", "pathlib", "tempfile", "webbrowser"}
_SAFE_ATTR = {"getenv", "environ", "get", "path", "join", "dirname", "basename", "getLogger", "NullHandler",
              "version_info", "platform", "maxsize", "Path", "sep", "name", "compile"}


def static_side_effects(source: str, rel: str) -> list[str]:
    """Top-level statements of ``source`` that act when it is imported, as
    ``FILE:LINE: what`` strings: bare expression statements other than docstrings
    (a call, e.g. ``main()``), ``for``/``while``/``with``/``async`` statements, and
    calls of I/O functions (``open``, ``print``…) or of ``os``/``subprocess``/``socket``/
    ``shutil``… functions anywhere outside function bodies. ``if __name__ ==
    "__main__":`` blocks and ``try`` around imports are allowed. Source: a syntactic
    approximation; :func:`probe_import` observes the import itself."""
    tree = ast.parse(source, filename=rel)
    found: list[str] = []

    def calls_in(node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(sub, ast.Call):
                f = sub.func
                if isinstance(f, ast.Name) and f.id in _RISKY_CALLS:
                    found.append(f"{rel}:{sub.lineno}: calls {f.id}() at import time")
                elif isinstance(f, ast.Attribute) and f.attr not in _SAFE_ATTR:
                    head = f
                    while isinstance(head, ast.Attribute):
                        head = head.value
                    if isinstance(head, ast.Name) and head.id in _RISKY_MODULES:
                        found.append(f"{rel}:{sub.lineno}: calls {ast.unparse(f)}() at import time")

    def scan(body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass)):
                continue
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for d in stmt.decorator_list + [a for a in stmt.args.defaults + stmt.args.kw_defaults if a]:
                    calls_in(d)
                continue
            if isinstance(stmt, ast.ClassDef):
                for d in stmt.decorator_list + stmt.bases:
                    calls_in(d)
                scan(stmt.body)
                continue
            if isinstance(stmt, ast.Expr):
                if i == 0 and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                    continue
                if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                    continue  # a string statement (attribute docstring)
                found.append(f"{rel}:{stmt.lineno}: the statement `{ast.unparse(stmt)[:60]}` runs at import time")
                continue
            if isinstance(stmt, ast.If):
                test = ast.unparse(stmt.test)
                if "__name__" in test and "__main__" in test:
                    continue
                calls_in(stmt.test)
                scan(stmt.body)
                scan(stmt.orelse)
                continue
            if isinstance(stmt, ast.Try):
                scan(stmt.body)
                for h in stmt.handlers:
                    scan(h.body)
                scan(stmt.orelse)
                scan(stmt.finalbody)
                continue
            if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
                found.append(f"{rel}:{stmt.lineno}: a top-level `{type(stmt).__name__.lower()}` statement runs at "
                             "import time")
                continue
            calls_in(stmt)  # assignments, asserts, del, raise...

    scan(tree.body)
    return found


_PROBE = r'''
import importlib, json, os, sys
sys.dont_write_bytecode = True
events = []
_on = [False]
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_WATCH = ("socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
          "os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.symlink", "os.link", "os.truncate",
          "shutil.", "urllib.Request", "http.client.connect", "ctypes.dlopen", "os.kill", "os.startfile")
def _hook(event, args):
    if not _on[0]:
        return
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & _WRITE):
            events.append(f"opens {path!r} for writing")
    elif event.startswith(_WATCH) and event not in ("socket.getaddrinfo", "socket.gethostname"):
        events.append(f"{event} {str(args)[:120]}")
sys.addaudithook(_hook)
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["root"])
import io
_real, _buf = (sys.stdout, sys.stderr), io.StringIO()
sys.stdout = sys.stderr = _buf
_on[0] = True
try:
    importlib.import_module(cfg["module"])
    error = None
except BaseException as exc:
    error = f"{type(exc).__name__}: {exc}"
_on[0] = False
sys.stdout, sys.stderr = _real
with open(cfg["out"], "w", encoding="utf-8") as fh:
    json.dump({"events": events, "error": error, "printed": _buf.getvalue()}, fh)
'''


def probe_import(root: Path, dotted: str, sandbox: str, timeout: float = 60.0) -> list[str]:
    """Import module ``dotted`` from ``root`` in a subprocess through
    :func:`pdd.differential.launch` (confined by :mod:`pdd.sandbox`; the one place
    adopt runs the project's code itself; tests and comparisons go through
    :func:`pdd.testrun.run_tests` and :func:`pdd.differential.compare`),
    with a scratch working folder and ``HOME``, and return what the import did
    besides defining names: files opened for writing, sockets, processes (audit
    events, PEP 578), output printed, files left in the working folder or ``HOME``,
    an exception. Empty: no side effect observed. Raises :class:`UsageError` when
    ``sandbox`` is ``bwrap`` and bwrap is unusable."""
    from pdd.differential import launch
    from pdd.sandbox import scratch_dir

    tmp = scratch_dir("pdd-adopt-import-")
    try:
        work, home, out = tmp / "work", tmp / "home", tmp / "probe.json"
        work.mkdir()
        home.mkdir()
        env = {k: v for k, v in os.environ.items()}
        env.update({"HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(work)})
        argv = [sys.executable, "-I", "-c", _PROBE, json.dumps({"root": str(root), "module": dotted, "out": str(out)})]
        code, stderr = launch(argv, cwd=work, env=env, timeout=timeout, root=root, writable=[tmp], sandbox=sandbox)
        if code is None:
            return [f"importing {dotted} did not finish within {timeout:g} s"]
        found: list[str] = []
        try:
            data = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tail = " | ".join([ln for ln in stderr.strip().splitlines() if ln.strip()][-3:])
            return [f"importing {dotted} exited with {code}: {tail}"]
        out.unlink()
        found += [f"importing {dotted} {e}" for e in dict.fromkeys(data["events"])]
        if data["error"]:
            found.append(f"importing {dotted} raised {data['error']}")
        printed = (data["printed"] + stderr).strip()
        if printed:
            found.append(f"importing {dotted} printed: {printed.splitlines()[0][:120]!r}")
        left = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        if left:
            found.append(f"importing {dotted} wrote {', '.join(left[:5])}")
        return found
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# The shim
# ---------------------------------------------------------------------------


def names_used_by_tests(test_sources: list[str], dotted: str) -> set[str]:
    """Names the tests take from module ``dotted``: ``from dotted import a, _b`` and
    ``alias.name`` attribute accesses on ``import dotted [as alias]``."""
    used: set[str] = set()
    for src in test_sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        aliases = set()
        pkg, _, leaf = dotted.rpartition(".")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == dotted and not node.level:
                used |= {a.name for a in node.names if a.name != "*"}
            elif isinstance(node, ast.ImportFrom) and pkg and node.module == pkg:
                aliases |= {a.asname or a.name for a in node.names if a.name == leaf}
            elif isinstance(node, ast.Import):
                aliases |= {a.asname or a.name for a in node.names if a.name == dotted}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and ast.unparse(node.value) in aliases:
                used.add(node.attr)
    return used


def shim_text(target: str, public: list[str], private: list[str], original_rel: str, folder: str) -> str:
    """The re-export shim that replaces an adopted file: ``from TARGET import *``,
    the private names the tests use imported by name, and ``__all__`` listing the
    public names (those of the original's ``__all__``, else its public top-level names)."""
    lines = [f"{SHIM_MARK} the code is generated from its prompt into {target}; "
             f"the original is in {folder}/original/{original_rel}.",
             f"from {target} import *  # noqa: F401,F403"]
    if private:
        lines.append(f"from {target} import {', '.join(private)}  # noqa: F401  (used by the tests)")
    lines.append(f"__all__ = {public!r}")
    return "\n".join(lines) + "\n"


def public_names(source: str) -> list[str]:
    """The original's ``__all__`` if it is a literal list/tuple, else its public
    top-level names (functions, classes, assigned names, imported names excluded)."""
    tree = ast.parse(source)
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and t.id == "__all__":
                    try:
                        return [str(n) for n in ast.literal_eval(node.value)]
                    except ValueError:
                        pass
                elif isinstance(t, ast.Name):
                    names.append(t.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
    return [n for n in dict.fromkeys(names) if not n.startswith("_")]


def preload_for(dotted: str, text: str, root: Path, rel: str) -> str:
    """Source for the test overlay's plugin: bind module name ``dotted`` to the shim
    ``text`` (so tests that import the original get the candidate through the shim)."""
    parent, _, leaf = dotted.rpartition(".")
    return (
        "import sys as _s, types as _t\n"
        f"_m = _t.ModuleType({dotted!r}); _m.__file__ = {str(root / rel)!r}\n"
        + (f"_p = importlib.import_module({parent!r})\n" if parent else "")
        + f"exec(compile({text!r}, _m.__file__, 'exec'), _m.__dict__)\n"
        f"_s.modules[{dotted!r}] = _m\n"
        + (f"setattr(_p, {leaf!r}, _m)\n" if parent else "")
    )


# ---------------------------------------------------------------------------
# Drafts
# ---------------------------------------------------------------------------


def draft_messages(rel: str, name: str, source: str, tests: dict[str, str], depends: list[str],
                   dep_contexts: list[Any]) -> list[dict[str, str]]:
    """The request for the first draft: the original code, its tests, the required
    front matter and the interfaces of its dependencies."""
    tag = get_target().FENCE_TAG
    front = "---\n" + f"depends: {json.dumps(depends)}\n" + f"tests: {json.dumps(sorted(tests))}\n---"
    parts = [f"Adopting the hand-written module: {rel}", f"Prompt file to write: prompts/{name}.prompt",
             f"Generated module: generated.{name.replace('/', '.')}", "",
             "## The front matter to use", "```yaml", front, "```", ""]
    if dep_contexts:
        parts.append("## Dependencies (public interfaces of modules it imports; the regeneration imports these)")
        for dep in dep_contexts:
            parts += ["", f"### {dep.module}", f"```{tag}", dep.interface.rstrip("\n"), "```"]
        parts.append("")
    parts += ["## The existing code", f"```{tag}", source.rstrip("\n"), "```", ""]
    for path, text in sorted(tests.items()):
        parts += [f"## Existing test {path}", f"```{tag}", text.rstrip("\n"), "```", ""]
    parts.append("Write the prompt file. Answer with it in one ````prompt block (four backticks).")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(parts) + "\n"}]


def revision_message(draft: str, evidence: str) -> dict[str, str]:
    """The follow-up asking for a revised draft, with the concrete evidence."""
    return {"role": "user", "content": (
        "The module regenerated from that prompt alone does not yet reproduce the existing code:\n\n"
        f"```\n{evidence.rstrip()}\n```\n\n"
        "Revise the prompt so that a regeneration from it alone behaves like the existing code on these inputs "
        "(state the behavior precisely; do not paste code). Answer with the complete revised prompt file in one "
        "````prompt block (four backticks).")}


def copied_lines(draft: str, source: str, min_chars: int = 24) -> int:
    """How many distinct non-trivial code lines of ``source`` (at least ``min_chars``
    characters, not comments or docstring-only lines) appear verbatim in ``draft``."""
    draft_lines = {ln.strip() for ln in draft.splitlines()}
    lines = {ln.strip() for ln in source.splitlines()}
    return sum(1 for ln in lines if len(ln) >= min_chars and not ln.startswith(("#", '"', "'")) and ln in draft_lines)


# ---------------------------------------------------------------------------
# Adoption folders (crash safety)
# ---------------------------------------------------------------------------


def new_adopt_folder(root: Path) -> Path:
    """A new ``.pdd/adopt/<UTC time>-<random>/`` folder (never shared)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = root / ADOPT_RELPATH / f"{stamp}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    return folder


@dataclass
class InterruptedAdoption:
    """An adoption that was killed between its first and last write."""

    folder: str
    original: str
    prompt: str
    output: str

    def advice(self) -> str:
        return (f"the adoption of {self.original} was interrupted ({self.folder}); undo it with "
                f"`pdd adopt --rollback {PurePosixPath(self.folder).name}`, then adopt again")

    def to_json(self) -> dict[str, str]:
        return dict(self.__dict__)


def interrupted_adoptions(root: Path) -> list[InterruptedAdoption]:
    """Adoptions whose ``pending.json`` is still there (killed mid-way), oldest first."""
    base = root / ADOPT_RELPATH
    out = []
    for pending in sorted(base.glob("*/pending.json")) if base.is_dir() else []:
        try:
            data = json.loads(pending.read_text(encoding="utf-8"))
            out.append(InterruptedAdoption(pending.parent.relative_to(root).as_posix(), data["original"],
                                           data["prompt"], data["output"]))
        except (OSError, ValueError, KeyError):
            out.append(InterruptedAdoption(pending.parent.relative_to(root).as_posix(), "?", "?", "?"))
    return out


def rollback(root: Path, folder: Path) -> list[str]:
    """Undo an unfinished adoption recorded in ``folder/pending.json``: the original
    file restored, the prompt and the generated file removed (only the ones the
    adoption created; a prompt edited since it was written is moved to ``edited/`` in the
    folder, not deleted; the original gets its recorded file mode back). Returns what was done. Raises :class:`UsageError` if there is
    nothing pending there."""
    pending = folder / "pending.json"
    try:
        data = json.loads(pending.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(f"{folder.relative_to(root)} holds no unfinished adoption (no readable pending.json)",
                         hint="`pdd status` lists interrupted adoptions") from None
    done = []
    original = (folder / "original" / data["original"]).read_bytes()
    target = root / data["original"]
    from pdd.provenance.source import git_blob_id

    mode = data.get("mode") if isinstance(data.get("mode"), int) else 0o644
    if not target.is_file() or target.read_bytes() != original:
        write_atomic(target, original, mode=mode)
        done.append(f"restored {data['original']}")
    prompt = root / data["prompt"]
    if prompt.is_file() and data.get("prompt_blob") and git_blob_id(prompt.read_bytes()) != data["prompt_blob"]:
        kept = folder / "edited" / data["prompt"]  # edited since the adoption wrote it: kept, not deleted
        kept.parent.mkdir(parents=True, exist_ok=True)
        os.replace(prompt, kept)
        done.append(f"moved the edited {data['prompt']} to {kept.relative_to(root)}")
    for rel in (data["prompt"], data["output"]):
        if (root / rel).is_file():
            (root / rel).unlink()
            done.append(f"removed {rel}")
    pending.unlink()
    return done


# ---------------------------------------------------------------------------
# The adopter
# ---------------------------------------------------------------------------


class Adopter:
    """``pdd adopt`` over one project. ``show`` prints a block of text; ``confirm``
    asks a yes/no question."""

    def __init__(self, project: Any, reporter: Any, options: AdoptOptions, *,
                 show: Callable[[str], None] | None = None, confirm: Callable[[str], bool] | None = None) -> None:
        from pdd.config import check_test_command
        from pdd.modelcall import ModelCaller
        from pdd.repopath import require_inside
        from pdd.runs import RUNS_DIR

        check_test_command(project.config, project.root)
        require_inside(project.root, RUNS_DIR, "the run records folder")
        self.project = project
        self.reporter = reporter
        self.options = options
        self.show = show or (lambda text: reporter.message(text))
        self.confirm = confirm or (lambda _q: False)
        self.caller = ModelCaller(project, record=False)

    # -- targets --------------------------------------------------------------------
    def targets(self, path: str) -> list[str]:
        """Repository-relative ``.py`` files to adopt, in dependency order (leaves
        first) for a folder. Raises :class:`UsageError` for a path outside the
        repository, under ``generated/``, or not in the target language."""
        root = self.project.root
        p = (Path.cwd() / path).resolve()
        try:
            rel = p.relative_to(root.resolve()).as_posix()
        except ValueError:
            raise UsageError(f"{path} is outside the repository {root}", hint="adopt files of this repository") from None
        if rel.split("/")[0] in ("generated", ".pdd", self.project.config.prompts_dir):
            raise UsageError(f"{rel} is pdd's own output or state, not hand-written code",
                             hint="adopt a hand-written .py file or package folder")
        if p.is_file():
            if not rel.endswith(".py"):
                raise UsageError(f"{rel} is not a {get_target().LANGUAGE} file", hint="adopt a .py file or a package folder")
            return [rel]
        if not p.is_dir():
            raise UsageError(f"{path} does not exist", hint="give a .py file or a package folder")
        if self.options.name:
            raise UsageError("--name names one module; it cannot be used with a folder",
                             hint="adopt the folder without --name (module names follow the paths)")
        files = sorted(f.relative_to(root).as_posix() for f in _walk_py(p)
                       if f.name != "__init__.py" and not f.name.startswith("test_") and not f.name.endswith("_test.py"))
        if not files:
            raise UsageError(f"{rel} holds no {get_target().LANGUAGE} modules to adopt", hint="give a package folder with .py files")
        return package_order(root, files)

    # -- one module -----------------------------------------------------------------
    def adopt(self, rel: str) -> AdoptReport:
        """Adopt ``rel``. Raises :class:`UsageError`/:class:`InputError` (exit 2) for a
        refusal, before anything is written."""
        from pdd.recovery import repo_lock

        with repo_lock(self.project.root, "adopt", notify=self.reporter.message):
            return self._adopt_locked(rel)

    def _prepare(self, rel: str) -> dict[str, Any]:
        """The checks and inputs of an adoption; raises :class:`UsageError` (a refusal)."""
        from pdd.freshness import DependencyUnavailable, dependency_interface
        from pdd.generation import DependencyContext

        root, config = self.project.root, self.project.config
        source = (root / rel).read_text(encoding="utf-8")
        if shim_target(source):
            return {"skip": f"{rel} is already adopted (it re-exports {shim_target(source)})"}
        dotted = dotted_name(rel)
        from pdd.newprompt import normalise_name  # the same module-name rules as `pdd new`

        name = normalise_name(self.options.name or PurePosixPath(rel).with_suffix("").as_posix(), config.prompts_dir)
        prompt_rel = f"{config.prompts_dir}/{name}.prompt"
        output = f"generated/{name}.py"
        for existing in (prompt_rel, output):
            if (root / existing).exists():
                raise UsageError(f"{existing} already exists: {name} is already a pdd module",
                                 hint="choose another module name with --name")
        try:
            compile(source, rel, "exec")
        except SyntaxError as exc:
            raise InputError(rel, exc.lineno, f"the module does not parse: {exc.msg}") from None
        effects = static_side_effects(source, rel)
        if not effects:
            effects = probe_import(root, dotted, config.test_sandbox)
        if effects:
            raise UsageError(f"{rel} has side effects at import time, so it cannot be compared or regenerated "
                             f"safely: " + "; ".join(effects[:5]),
                             hint="move that code into a function (or under `if __name__ == \"__main__\":`), "
                                  "then adopt again")
        tests = list(self.options.tests) or find_tests(root, dotted)
        if not tests:
            raise UsageError(f"{rel} has no tests: no test file imports {dotted}, and no --tests were given",
                             hint=f"write a test that imports {dotted}, or name test files with --tests")
        for t in tests:
            if not (root / t).is_file():
                raise UsageError(f"test file {t} does not exist", hint="give repository-relative test files")
        # Project modules it imports: adopted shims (-> depends) or generated modules; others must be adopted first.
        specs = self.project.specs()
        by_module = {s.module: n for n, s in specs.items()}
        depends: list[str] = []
        for line, mod in imported_modules(source, dotted):
            if mod.startswith("generated."):
                if mod in by_module:
                    depends.append(by_module[mod])
                continue
            f = root / (mod.replace(".", "/") + ".py")
            if not f.is_file() or mod == dotted:
                continue
            target = shim_target(f.read_text(encoding="utf-8"))
            if target is None:
                raise UsageError(f"{rel}:{line}: it imports {mod}, a hand-written module that is not adopted yet",
                                 hint=f"adopt {f.relative_to(root).as_posix()} first (or the whole package folder)")
            if target in by_module:
                depends.append(by_module[target])
        depends = list(dict.fromkeys(depends))
        contexts = []
        for d in depends:
            try:
                contexts.append(DependencyContext(module=specs[d].module, interface=dependency_interface(self.project, specs[d])))
            except DependencyUnavailable as exc:
                raise UsageError(f"{rel}: its dependency {d} is not built ({exc})", hint="run `pdd build` first") from None
        test_sources = {t: (root / t).read_text(encoding="utf-8", errors="replace") for t in tests}
        return {"source": source, "dotted": dotted, "name": name, "prompt_rel": prompt_rel, "output": output,
                "tests": tests, "depends": depends, "contexts": contexts, "test_sources": test_sources}

    def _validate(self, draft: str, ctx: dict[str, Any]):
        """Parse, check and render a draft; ``(spec, rendered text)``. Raises InputError."""
        from pdd.lint import check_requirements, check_sections
        from pdd.prompt import parse_prompt
        from pdd.render import render_prompt
        from pdd.requirements import ids as requirement_ids

        path = ctx["prompt_rel"]
        spec = parse_prompt(draft, path=path, name=ctx["name"], tests_dir=self.project.config.tests_dir)
        if spec.output != ctx["output"]:
            raise InputError(path, spec.keys_line.get("output"), f"the draft's output must be {ctx['output']}")
        if sorted(spec.tests) != sorted(ctx["tests"]):
            raise InputError(path, spec.keys_line.get("tests"), f"the draft's tests must be {sorted(ctx['tests'])}")
        if sorted(spec.depends) != sorted(ctx["depends"]):
            raise InputError(path, spec.keys_line.get("depends"), f"the draft's depends must be {sorted(ctx['depends'])}")
        rendered = render_prompt(spec, self.project.root, self.project.config.prompts_dir)
        errors = [f for f in check_sections(spec, rendered.text) + check_requirements(spec) if f.severity == "error"]
        if errors:
            raise InputError(path, errors[0].line, "; ".join(f.message for f in errors))
        if not requirement_ids(spec.body):
            raise InputError(path, None, "the Acceptance section has no requirement ids (items like `- [A1] ...`)")
        copied = copied_lines(draft, ctx["source"])
        if copied > 3:
            raise InputError(path, None, f"the draft copies {copied} lines of the existing code; describe the behavior "
                                         "instead, so that the regeneration proves the prompt is enough")
        return spec, rendered.text

    def _adopt_locked(self, rel: str) -> AdoptReport:
        from pdd.differential import EngineOptions, Implementation, compare, difference_text
        from pdd import targets
        from pdd.extract import NoCodeError
        from pdd.fingerprint import generator_for
        from pdd.fix import NoPromptError, extract_prompt
        from pdd.generation import initial_messages, normalise_test_output
        from pdd.sandbox import select
        from pdd.testrun import run_tests, test_settings

        t0 = time.monotonic()
        started = now_iso()
        root, config = self.project.root, self.project.config
        ctx = self._prepare(rel)
        if "skip" in ctx:
            return AdoptReport(rel, "", "skipped", message=ctx["skip"])
        report = AdoptReport(rel, ctx["name"], "exhausted")
        box = select(config.test_sandbox)
        gen_model = generator_for(_Bare(ctx["name"]), config)
        messages = draft_messages(rel, ctx["name"], ctx["source"], ctx["test_sources"], ctx["depends"], ctx["contexts"])
        success = None
        draft = ""
        try:
            for n in range(1, self.options.attempts + 1):
                attempt = AdoptAttempt(n)
                report.attempts.append(attempt)
                completion = self._ask(messages, ctx["name"], gen_model, report)
                try:
                    try:
                        draft = extract_prompt(completion.text)
                    except NoPromptError as exc:
                        raise InputError(ctx["prompt_rel"], None, str(exc)) from None
                    spec, rendered = self._validate(draft, ctx)
                except InputError as exc:
                    attempt.rejected_because = str(exc)
                    self.reporter.message(f"{rel}: draft {n} rejected: {exc}")
                    messages = [*messages, {"role": "assistant", "content": completion.text},
                                {"role": "user", "content": f"That prompt file was rejected: {exc}. Answer with a "
                                 "complete, valid prompt file in one ````prompt block (four backticks)."}]
                    report.evidence = str(exc)
                    continue
                report.prompt = draft
                gen = generator_for(spec, config)
                regen = initial_messages(spec.module, spec.output, rendered, ctx["contexts"])
                code_answer = self._ask(regen, spec.name, gen, report)
                evidence: list[str] = []
                try:
                    code = targets.get().extract_code(code_answer.text)
                    problem = targets.get().check_compiles(code, spec.output)
                except NoCodeError as exc:
                    code, problem = None, str(exc)
                if problem:
                    attempt.problem = problem
                    evidence.append(f"the regeneration is unusable: {problem}")
                else:
                    shim = shim_text(spec.module, public_names(ctx["source"]),
                                     sorted(n for n in names_used_by_tests(list(ctx["test_sources"].values()),
                                                                           ctx["dotted"]) if n.startswith("_")),
                                     rel, "<adopt folder>")
                    outcome = run_tests(root, ctx["tests"], output=spec.output, code=code,
                                        **{**test_settings(config), "sandbox": box},
                                        preload=preload_for(ctx["dotted"], shim, root, rel))
                    attempt.tests = outcome.status
                    if not outcome.passed:
                        evidence.append("The existing tests fail on the regeneration:\n"
                                        + normalise_test_output(outcome.output, {}))
                    comparison = compare(
                        [Implementation(1, "original", ctx["source"]), Implementation(2, "regenerated", code)],
                        module=spec.module, deps_root=root, tests=list(ctx["test_sources"].values()), texts=[rendered],
                        options=EngineOptions(max_examples=self.options.max_examples, sandbox=config.test_sandbox))
                    agreed = sum(int(t.get("examples") or 0) for t in comparison.targets if t.get("status") == "agree")
                    attempt.examples_agreed = agreed
                    attempt.disagreements = [difference_text(t) for t in comparison.differences]
                    if attempt.disagreements:
                        evidence.append("The regeneration and the existing code disagree:\n"
                                        + "\n".join(f"- {d}" for d in attempt.disagreements))
                    for t in comparison.targets:
                        if t.get("status") in ("error", "nondeterministic", "flaky") and t.get("target"):
                            evidence.append(f"{t['target']}: {t['status']}: {t.get('reason', '')}".rstrip(": "))
                    for note in comparison.notes:
                        if note.get("kind") in ("interface", "import"):
                            evidence.append(f"{note['kind']}: {note.get('reason', note)}")
                    skipped = [f"{t['target']} ({t.get('reason', '')})" for t in comparison.targets
                               if t.get("status") == "skipped" and not str(t.get("target", "")).split(".")[-1].startswith("__")]
                    if skipped:
                        evidence.append("not compared: " + "; ".join(skipped))
                    if comparison.problem:
                        attempt.problem = comparison.problem
                        evidence.append(f"the comparison could not finish: {comparison.problem}")
                    elif not agreed and not attempt.disagreements:
                        evidence.append("no function could be compared on generated inputs (nothing agreed)")
                    if outcome.passed and not attempt.disagreements and not comparison.problem and agreed and \
                            not any(e.startswith(("interface:", "import:")) for e in evidence):
                        report.examples_agreed = agreed
                        success = (spec, code, shim)
                        break
                report.evidence = "\n\n".join(evidence)
                self.reporter.message(f"{rel}: attempt {n}: " + report.evidence.splitlines()[0])
                messages = [*messages, {"role": "assistant", "content": completion.text},
                            revision_message(draft, report.evidence)]
        except BackendError as exc:
            report.outcome, report.message = "backend-error", str(exc)
        try:
            if success is not None:
                self._accept(report, ctx, *success)
            elif report.outcome == "exhausted":
                self._save_failure(report, draft)
        finally:
            report.seconds = time.monotonic() - t0
            from pdd.runs import write_model_run

            report.run_path = write_model_run(
                root, "adopt", ctx["name"], report.outcome, report.spend, started=started, model=config.model,
                backend=config.backend, exit_code=report.exit_code, template=ADOPT_TEMPLATE_VERSION, path=rel,
                examples_agreed=report.examples_agreed, attempts=[a.to_json() for a in report.attempts],
                folder=report.folder)
        return report

    def _ask(self, messages: list[dict[str, str]], module: str, gen: Any, report: AdoptReport):
        from pdd.modelcall import request_for

        completion, hit = self.caller(request_for(gen, messages, module))
        report.spend.add(completion, hit)
        return completion

    def _save_failure(self, report: AdoptReport, draft: str) -> None:
        folder = new_adopt_folder(self.project.root)
        if draft:
            write_atomic(folder / "draft.prompt", draft)
        write_atomic(folder / "evidence.txt", report.evidence + "\n")
        report.folder = folder.relative_to(self.project.root).as_posix()
        report.message = (f"{report.path}: not adopted after {len(report.attempts)} attempt(s); nothing in the project "
                          f"changed. The last draft and the evidence are in {report.folder}/")

    def _accept(self, report: AdoptReport, ctx: dict[str, Any], spec: Any, code: str, shim: str) -> None:
        """Show the evidence, confirm, then write in crash-safe order."""
        from pdd.build import BuildOptions, Builder
        from pdd.provenance.source import git_blob_id

        root, rel = self.project.root, report.path
        self.show(f"--- {spec.path} (adopted from {rel}) ---\n{report.prompt.rstrip()}\n--- evidence ---\n"
                  f"regenerated from the prompt alone: the tests ({', '.join(ctx['tests'])}) pass, and it agrees with "
                  f"{rel} on {report.examples_agreed} generated example(s)")
        if self.options.dry_run:
            report.outcome, report.message = "dry-run", f"{rel}: dry run: it would be adopted; nothing was changed"
            return
        if not (self.options.yes or self.confirm(f"Adopt {rel} (write {spec.path}, {spec.output}, replace {rel} by a shim)?")):
            report.outcome, report.message = "declined", f"{rel}: not adopted (declined); nothing changed"
            return
        original = (root / rel).read_bytes()
        mode = (root / rel).stat().st_mode & 0o7777
        folder = new_adopt_folder(root)
        frel = folder.relative_to(root).as_posix()
        report.folder = frel
        write_atomic(folder / "original" / rel, original, mode=mode)
        record = {"original": rel, "prompt": spec.path, "output": spec.output, "module": spec.name,
                  "original_blob": git_blob_id(original), "mode": mode,
                  "prompt_blob": git_blob_id(report.prompt.encode("utf-8")), "started": now_iso()}
        write_atomic(folder / "pending.json", json.dumps(record, indent=2) + "\n")
        done = False
        try:
            write_atomic(root / spec.path, report.prompt)
            write_atomic(root / rel, shim.replace("<adopt folder>", frel), mode=mode)
            self.project.forget_specs()  # the prompt was added: re-read specs
            options = BuildOptions(names=[spec.name], force=True, attempts=1, command="adopt-build", note_extra={
                "adopted": {"original": rel, "original_blob": record["original_blob"],
                            "examples_agreed": report.examples_agreed, "attempts": len(report.attempts)}})
            result = next(r for r in Builder(self.project, options, self.reporter).run().results if r.name == spec.name)
            if result.status != "built":
                raise UsageError(f"{rel}: the final build of {spec.name} did not pass ({result.error or result.status})",
                                 hint="nothing was adopted; see the adopt-build run record (`pdd log`)")
            record["ended"] = now_iso()
            record["examples_agreed"] = report.examples_agreed
            write_atomic(folder / "adopted.json", json.dumps(record, indent=2) + "\n")
            (folder / "pending.json").unlink()
            done = True
        finally:
            if not done:
                rollback(root, folder)
        report.outcome = "adopted"
        report.message = (f"{rel}: adopted as {spec.name}: {spec.path} written, {spec.output} regenerated from it "
                          f"(tests pass, agrees on {report.examples_agreed} example(s)), {rel} re-exports it; "
                          f"the original is in {frel}/original/")


class _Bare:
    """The generator settings of a module not parsed yet (no per-prompt model)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.model = None
        self.temperature = None


def package_order(root: Path, files: list[str]) -> list[str]:
    """``files`` (repository-relative) ordered so each comes after the files it
    imports (leaves first; ties alphabetical). Raises :class:`UsageError` on an
    import cycle. Algorithm: Kahn's topological sort (:mod:`graphlib`)."""
    from graphlib import CycleError, TopologicalSorter

    by_dotted = {dotted_name(f): f for f in files}
    graph: dict[str, set[str]] = {}
    for f in files:
        try:
            mods = imported_modules((root / f).read_text(encoding="utf-8"), dotted_name(f))
        except SyntaxError as exc:
            raise InputError(f, exc.lineno, f"the module does not parse: {exc.msg}") from None
        graph[f] = {by_dotted[m] for _, m in mods if m in by_dotted and by_dotted[m] != f}
    sorter = TopologicalSorter(graph)
    try:
        sorter.prepare()
    except CycleError as exc:
        raise UsageError(f"the modules import each other in a cycle: {' -> '.join(exc.args[1])}",
                         hint="break the cycle, or adopt the modules one by one with --name") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order += ready
        sorter.done(*ready)
    return order


def format_report(report: AdoptReport) -> str:
    """The text printed after an adoption: outcome, attempts, and on failure the draft and evidence."""
    lines = [f"pdd adopt: {report.message}"]
    for a in report.attempts:
        if a.rejected_because:
            lines.append(f"  attempt {a.number}: draft rejected: {a.rejected_because}")
        else:
            lines.append(f"  attempt {a.number}: tests {a.tests or 'not run'}, {a.examples_agreed} example(s) agreed, "
                         f"{len(a.disagreements)} disagreement(s)" + (f"; {a.problem}" if a.problem else ""))
    if report.outcome == "exhausted":
        if report.prompt:
            lines += ["last draft:", report.prompt.rstrip()]
        if report.evidence:
            lines += ["evidence:", report.evidence.rstrip()]
    return "\n".join(lines)


__all__ = ["Adopter", "AdoptOptions", "AdoptReport", "AdoptAttempt", "static_side_effects", "probe_import",
           "find_tests", "package_order", "shim_text", "interrupted_adoptions", "rollback", "format_report"]
