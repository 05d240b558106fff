"""Unit tests for pdd.interface.extract_interface (early-cutoff interfaces)."""

from __future__ import annotations

import ast
import keyword
import textwrap

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pdd.interface import interface_digest
from pdd.targets.python import extract_interface


def iface(src: str) -> str:
    return extract_interface(textwrap.dedent(src))


def names_in(interface: str) -> set[str]:
    tree = ast.parse(interface)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
    return out


SAMPLE = '''
"""Module docstring."""
import os
from typing import Any

CONST: int = 5
LIMIT = 10
_SECRET = "x"


def add(a: int, b: int = 2, *args: Any, key: str = "k", **kw) -> int:
    """Add numbers."""
    total = a + b
    for x in args:
        total += x
    return total


async def fetch(url: str) -> bytes:
    """Fetch it."""
    return await os.read(url)


def _helper(x):
    return x * 2


class Money:
    """An amount of money."""

    currency: str = "EUR"
    _cache = {}

    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __eq__(self, other) -> bool:
        return self.cents == other.cents

    def total(self) -> int:
        """Total in cents."""
        return self.cents

    def _internal(self):
        return 1

    @staticmethod
    def zero() -> "Money":
        return Money(0)


class _Private:
    def method(self):
        pass
'''


def test_interface_is_valid_python_and_deterministic():
    a = extract_interface(SAMPLE)
    b = extract_interface(SAMPLE)
    assert a == b
    assert a.endswith("\n")
    ast.parse(a)
    assert len(interface_digest(a)) == 64
    assert interface_digest(a) == interface_digest(b)


def test_bodies_dropped_signatures_and_docstrings_kept():
    out = extract_interface(SAMPLE)
    tree = ast.parse(out)
    funcs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert set(funcs) == {"add", "fetch"}
    add = funcs["add"]
    assert ast.get_docstring(add) == "Add numbers."
    assert [a.arg for a in add.args.args] == ["a", "b"]
    assert add.args.vararg.arg == "args" and add.args.kwarg.arg == "kw"
    assert [a.arg for a in add.args.kwonlyargs] == ["key"]
    assert ast.unparse(add.returns) == "int"
    assert len(add.body) == 2 and ast.unparse(add.body[1]) == "..."
    assert isinstance(funcs["fetch"], ast.AsyncFunctionDef)
    assert "total = a + b" not in out
    assert "await" not in out
    assert "import" not in out
    assert ast.get_docstring(tree) == "Module docstring."


def test_private_names_dropped():
    out = extract_interface(SAMPLE)
    names = names_in(out)
    assert "_helper" not in names
    assert "_Private" not in names
    assert "_SECRET" not in names
    assert "_internal" not in names
    assert "_cache" not in names
    assert {"CONST", "LIMIT", "add", "fetch", "Money"} <= names


def test_class_members():
    out = extract_interface(SAMPLE)
    cls = next(n for n in ast.parse(out).body if isinstance(n, ast.ClassDef))
    assert cls.name == "Money"
    assert ast.get_docstring(cls) == "An amount of money."
    methods = [n.name for n in cls.body if isinstance(n, ast.FunctionDef)]
    assert methods == ["__init__", "__eq__", "total", "zero"]
    zero = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "zero")
    assert [ast.unparse(d) for d in zero.decorator_list] == ["staticmethod"]
    assert "currency: str = 'EUR'" in out
    assert "self.cents = cents" not in out


def test_class_bases_keywords_and_decorators_kept():
    out = iface("""
        import dataclasses
        @dataclasses.dataclass(frozen=True)
        class P(Base, metaclass=Meta):
            x: int
            y: int = 0
    """)
    assert "@dataclasses.dataclass(frozen=True)" in out
    assert "class P(Base, metaclass=Meta):" in out
    assert "x: int" in out and "y: int = 0" in out


def test_empty_public_class_gets_ellipsis():
    out = iface("""
        class E:
            _x = 1
            def _f(self):
                pass
    """)
    cls = ast.parse(out).body[0]
    assert isinstance(cls, ast.ClassDef) and ast.unparse(cls.body[0]) == "..."


def test_nested_public_class_kept_private_dropped():
    out = iface("""
        class Outer:
            class Inner:
                def f(self):
                    return 1
            class _Hidden:
                pass
    """)
    assert "class Inner" in out and "_Hidden" not in out and "return 1" not in out


def test_all_is_honoured():
    out = iface("""
        __all__ = ["public", "_exported", "_Cls", "_VAL"]
        def public():
            return 1
        def _exported(x):
            '''Exported although private.'''
            return x
        def _not_exported():
            return 2
        class _Cls:
            pass
        _VAL = 3
    """)
    tree = ast.parse(out)
    assert ast.unparse(tree.body[0]) == "__all__ = ['public', '_exported', '_Cls', '_VAL']"
    names = names_in(out)
    assert {"public", "_exported", "_Cls", "_VAL"} <= names
    assert "_not_exported" not in names
    assert out.count("__all__") == 1


def test_changing_all_changes_interface():
    a = iface("__all__ = ['f']\ndef f(): pass\ndef _g(): pass\n")
    b = iface("__all__ = ['f', '_g']\ndef f(): pass\ndef _g(): pass\n")
    assert a != b
    assert "_g" in b and "_g" not in a


def test_long_values_elided_short_values_kept():
    long_value = "[" + ", ".join(str(i) for i in range(60)) + "]"
    out = iface(f"""
        SHORT = [1, 2, 3]
        LONG = {long_value}
        ANN: list[int] = {long_value}
        BARE: int
    """)
    assert "SHORT = [1, 2, 3]" in out
    assert "LONG = ..." in out
    assert "ANN: list[int] = ..." in out
    assert "BARE: int\n" in out
    assert "59" not in out


def test_value_exactly_at_limit_kept():
    value = '"' + "a" * 78 + '"'  # 80 characters of source
    assert len(value) == 80
    out = iface(f"V = {value}\n")
    assert f"V = '{'a' * 78}'" in out
    out = iface(f"V = \"{'a' * 79}\"\n")
    assert "V = ..." in out


def test_syntax_error_propagates():
    with pytest.raises(SyntaxError):
        extract_interface("def broken(:\n")


def test_only_imports_and_private_gives_empty_interface():
    assert extract_interface("import os\n_x = 1\n") == "\n"


# --- properties ----------------------------------------------------------------

_ident = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))
_ann = st.sampled_from(["", ": int", ": str", ": list[int]", ": 'Money'"])
_ret = st.sampled_from(["", " -> int", " -> None", " -> dict[str, int]"])
_doc = st.one_of(st.none(), st.text(alphabet="abcdefghij klmnop.,", max_size=40))
_expr = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.text(alphabet="abcxyz ", max_size=10).map(repr),
    st.sampled_from(["x + 1", "len(args)", "[i for i in range(3)]", "None", "{'a': 1}"]),
)
_stmt = st.one_of(
    _expr.map(lambda e: f"return {e}"),
    _expr.map(lambda e: f"tmp = {e}"),
    _expr.map(lambda e: f"if tmp:\n    tmp = {e}"),
    st.just("pass"),
    _expr.map(lambda e: f"for i in range(2):\n    print({e})"),
)
_body = st.lists(_stmt, min_size=1, max_size=4)


@st.composite
def signatures(draw):
    params = draw(st.lists(_ident, unique=True, max_size=4))
    anns = [draw(_ann) for _ in params]
    return "(" + ", ".join(p + a for p, a in zip(params, anns)) + ")" + draw(_ret)


def function_source(name: str, sig: str, doc: str | None, body: list[str], indent: str = "") -> str:
    lines = [f"def {name}{sig}:"]
    if doc is not None:
        lines.append(f"    {doc!r}")
    for stmt in body:
        lines.extend("    " + ln for ln in stmt.splitlines())
    return "".join(indent + ln + "\n" for ln in lines)


@st.composite
def modules(draw):
    """A module with one public function ``f`` and a class ``K`` with method ``m``."""
    return {
        "f_sig": draw(signatures()),
        "f_doc": draw(_doc),
        "m_sig": draw(signatures().map(lambda sig: "(self" + ("" if sig.startswith("()") else ", ") + sig[1:])),
        "m_doc": draw(_doc),
        "other": draw(st.sampled_from(["", "VALUE = 3\n", "def g(a, b=2):\n    return a\n"])),
    }


def module_source(m: dict, f_body: list[str], m_body: list[str]) -> str:
    return (
        '"""Doc."""\n'
        + m["other"]
        + function_source("f", m["f_sig"], m["f_doc"], f_body)
        + "class K:\n"
        + function_source("m", m["m_sig"], m["m_doc"], m_body, indent="    ")
    )


@settings(max_examples=80, deadline=None)
@given(modules(), _body, _body, _body, _body)
def test_changing_bodies_does_not_change_interface(m, f1, f2, m1, m2):
    a = module_source(m, f1, m1)
    b = module_source(m, f2, m2)
    ast.parse(a)
    ast.parse(b)
    assert extract_interface(a) == extract_interface(b)


@settings(max_examples=60, deadline=None)
@given(modules(), signatures(), _body)
def test_changing_signature_changes_interface(m, new_sig, body):
    assume(ast.dump(ast.parse(f"def f{new_sig}: pass")) != ast.dump(ast.parse(f"def f{m['f_sig']}: pass")))
    a = module_source(m, body, body)
    b = module_source({**m, "f_sig": new_sig}, body, body)
    assert extract_interface(a) != extract_interface(b)


@settings(max_examples=60, deadline=None)
@given(modules(), _doc, _body, st.booleans())
def test_changing_docstring_changes_interface(m, new_doc, body, on_method):
    key = "m_doc" if on_method else "f_doc"
    assume(new_doc != m[key])
    a = module_source(m, body, body)
    b = module_source({**m, key: new_doc}, body, body)
    assert extract_interface(a) != extract_interface(b)


@settings(max_examples=50, deadline=None)
@given(modules(), _body, _ident.map(lambda s: "_" + s))
def test_adding_private_function_does_not_change_interface(m, body, private_name):
    a = module_source(m, body, body)
    b = a + function_source(private_name, "(x)", "doc", body)
    assert extract_interface(a) == extract_interface(b)
