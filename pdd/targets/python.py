"""The ``python`` target: generated modules are Python source files.

Layout: module ``billing/invoice`` (``prompts/billing/invoice.prompt``) is written to
``generated/billing/invoice.py`` and imported as ``generated.billing.invoice``;
every folder on the way is a package with an ``__init__.py``.

Code extraction (from a model answer; fence parsing is :mod:`pdd.extract`):

1. Collect the fenced blocks (CommonMark fences of three or more backticks or
   tildes; a fence left open runs to the end of the answer).
2. Prefer blocks tagged ``python``/``py``/``python3``/``py3``; else untagged
   blocks; else any block. Of those, take the longest (the whole module, not a
   usage example).
3. With no fence at all there is no code: the model was asked for one fenced
   block (product contract, "Model answers"), and prose is not a module.

The result always ends with exactly one newline. The compile check is
:func:`compile` in ``exec`` mode. Interfaces and imports come from :mod:`ast`
(:mod:`pdd.targets.pyast`, imported on first use). Behavior tests run under
pytest with this interpreter (``sys.executable -m pytest``); the differential
runner is ``python -m pdd.differential_runner``.

This module implements :class:`pdd.targets.Target`; it imports only ``keyword``,
``re`` and ``sys`` at load, for the pre-commit hook's light path.
"""

from __future__ import annotations

import keyword
import re
import sys

NAME = "python"
LANGUAGE = "Python"
SUFFIX = ".py"
PACKAGE_FILE = "__init__.py"
FENCE_TAG = "python"
FENCE_TAGS = frozenset({"python", "py", "python3", "py3"})
MODULE_KIND = "Python module"
LIBRARY_RULE = "Use only the Python standard library besides those dependencies."
TEST_TEMPLATE = "test.py.j2"
TEST_RUNNER = "pytest"
STYLE_FRAGMENT = "_shared/python_style.md"
STYLE_TEXT = """\
## Python style
- Python 3.10+, standard library only unless the specification names a dependency.
- Type hints on every public function and method; a docstring on every public name.
- Define `__all__`. No I/O, network or global state changes at import time.
- Raise specific exceptions with messages that say what was wrong.
"""

_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- layout ---------------------------------------------------------------------


def output_path(name: str, generated_dir: str) -> str:
    """``billing/invoice`` -> ``generated/billing/invoice.py`` (``generated_dir`` first)."""
    return f"{generated_dir}/{name}{SUFFIX}"


def import_name(path: str) -> str:
    """Dotted import name of the Python file at repository-relative ``path``: the
    path without ``.py``, ``/`` as ``.``, a leading ``src/`` dropped (the src
    layout), ``__init__`` naming its package. ``generated/billing/invoice.py`` ->
    ``generated.billing.invoice``; ``src/shop/core.py`` -> ``shop.core``;
    ``mylib/__init__.py`` -> ``mylib``."""
    stem = path[: -len(SUFFIX)] if path.endswith(SUFFIX) else path
    parts = [p for p in stem.split("/") if p not in ("", ".")]
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]
    if len(parts) > 1 and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_module_part(part: str) -> bool:
    """Whether ``part`` is a Python identifier that is not a keyword."""
    return bool(_PART.fullmatch(part)) and not keyword.iskeyword(part)


def test_path(tests_dir: str, stem: str) -> str:
    """``behavior_tests``, ``invoice`` -> ``behavior_tests/test_invoice.py`` (pytest's naming)."""
    return f"{tests_dir}/test_{stem}{SUFFIX}"


# --- model answers ----------------------------------------------------------------


def extract_code(answer: str) -> str:
    """The module source in ``answer`` (rules in the module doc), ending in one
    newline. Raises :class:`pdd.extract.NoCodeError` if there is none."""
    from pdd.extract import NoCodeError, answer_opening, fenced_blocks

    blocks = fenced_blocks(answer)
    if not blocks:
        raise NoCodeError(f"the answer had no code block; it began: {answer_opening(answer)}")
    chosen = [b for b in blocks if b.lang in FENCE_TAGS] or [b for b in blocks if not b.lang] or blocks
    code = max(chosen, key=lambda b: len(b.text)).text.strip("\n")
    if not code.strip():
        raise NoCodeError(f"the answer's code block is empty; it began: {answer_opening(answer)}")
    return code.rstrip() + "\n"


def check_compiles(code: str, filename: str) -> str | None:
    """``None`` if ``code`` compiles, else a one-line ``SyntaxError`` description with its line."""
    try:
        compile(code, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:  # Python 3.11+ reports NUL bytes as a SyntaxError without a line
        where = f"{filename}:{exc.lineno}" if exc.lineno else filename
        return f"{where}: SyntaxError: {exc.msg}"
    except ValueError as exc:  # e.g. source contains NUL bytes
        return f"{filename}: {exc}"
    return None


# --- interfaces and imports (ast) -------------------------------------------------


def extract_interface(source: str, filename: str = "<module>") -> str:
    """The public interface of Python ``source`` as stub source text (rules:
    :mod:`pdd.targets.pyast`). Raises :class:`SyntaxError` if ``source`` does not
    parse. Deterministic for a given source and Python version."""
    from pdd.targets.pyast import extract_interface as extract

    return extract(source, filename)


def imports(source: str, module: str) -> list[tuple[int, str, list[str]]]:
    """``(line, imported module, members)`` of every import in ``source``, module
    ``module`` (dotted; relative imports are resolved against its package);
    ``importlib.import_module("x")`` and ``__import__("x")`` count. Raises
    :class:`SyntaxError`."""
    from pdd.targets.pyast import imports as scan

    return scan(source, module)


# --- behavior tests and the differential engine -----------------------------------


def test_command() -> list[str]:
    """``[sys.executable, "-m", "pytest"]``: pytest of this interpreter, the argv base
    of a behavior-test run (and of ``pdd lint``'s collection) when ``tests.command``
    is empty; the runner's own options follow it."""
    return [sys.executable, "-m", TEST_RUNNER]


def differential_command(config_path: str) -> list[str]:
    """``[sys.executable, "-m", "pdd.differential_runner", config_path]``: the
    differential runner loads each implementation file as a Python module."""
    return [sys.executable, "-m", "pdd.differential_runner", config_path]


# --- lint: stand-ins for generated modules not built yet ---------------------------

#: A pytest plugin (``-p pdd_lint_stub``) that makes every ``generated.*`` import
#: succeed during ``--collect-only``, so collection counts depend on the test files alone.
COLLECTION_STUB = '''\
"""pdd lint: stand-ins for generated modules that are not built yet (collection only)."""
import importlib.abc
import importlib.machinery
import sys
import types
from unittest import mock


class _Stub(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        value = mock.MagicMock(name=f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "generated" or fullname.startswith("generated."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Stub(spec.name)

    def exec_module(self, module):
        module.__path__ = []


sys.meta_path.append(_Finder())
'''
