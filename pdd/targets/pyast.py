"""Python's syntax trees for the ``python`` target (:mod:`pdd.targets.python`):
the public interface of a module and its imports, both with :mod:`ast`.

Imported only when an interface or the imports are needed, so that the light paths
(the pre-commit hook) do not load :mod:`ast`.

A dependency's interface, not its whole source, is what its dependents' prompts
see and what their fingerprints cover, so a change inside a function body does not
rebuild the dependents (early cutoff, as in ninja's ``restat`` or Bazel's
interface jars).

The interface is a stub module (rendered with :func:`ast.unparse`) holding:

* ``__all__`` if the module defines it;
* public top-level functions and classes (names not starting with ``_``, or listed
  in ``__all__``), with decorators, signatures, return annotations and docstrings;
  bodies are replaced by ``...``;
* inside public classes: base classes, docstrings, public methods, ``__init__``
  and other dunder methods, and annotated or assigned class attributes;
* public module-level assignments: the annotation if present, and the value when
  its source is at most 80 characters (otherwise ``...``).

Imports and private names are left out.
"""

from __future__ import annotations

import ast

_MAX_VALUE_SOURCE = 80


def _docstring_stmt(node: ast.AST) -> list[ast.stmt]:
    doc = ast.get_docstring(node, clean=False)  # type: ignore[arg-type]
    return [ast.Expr(ast.Constant(doc))] if doc is not None else []


def _is_public(name: str, exported: set[str] | None) -> bool:
    if exported is not None and name in exported:
        return True
    return not name.startswith("_")


def _stub_function(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.stmt:
    cls = type(node)
    stub = cls(
        name=node.name,
        args=node.args,
        body=[*_docstring_stmt(node), ast.Expr(ast.Constant(...))],
        decorator_list=node.decorator_list,
        returns=node.returns,
        type_comment=None,
        **({"type_params": getattr(node, "type_params", [])} if hasattr(node, "type_params") else {}),
    )
    return stub


def _value_or_ellipsis(value: ast.expr | None) -> ast.expr | None:
    if value is None:
        return None
    src = ast.unparse(value)
    return value if len(src) <= _MAX_VALUE_SOURCE else ast.Constant(...)


def _stub_assign(node: ast.stmt, exported: set[str] | None) -> ast.stmt | None:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        if not _is_public(node.target.id, exported):
            return None
        return ast.AnnAssign(target=node.target, annotation=node.annotation, value=_value_or_ellipsis(node.value), simple=1)
    if isinstance(node, ast.Assign):
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if not names or len(names) != len(node.targets):
            return None
        if not any(_is_public(n, exported) for n in names) or names == ["__all__"]:
            return None
        return ast.Assign(targets=node.targets, value=_value_or_ellipsis(node.value), lineno=0)
    return None


def _stub_class(node: ast.ClassDef) -> ast.stmt:
    body: list[ast.stmt] = [*_docstring_stmt(node)]
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            dunder = item.name.startswith("__") and item.name.endswith("__")
            if dunder or not item.name.startswith("_"):
                body.append(_stub_function(item))
        elif isinstance(item, ast.ClassDef) and not item.name.startswith("_"):
            body.append(_stub_class(item))
        else:
            stub = _stub_assign(item, None)
            if stub is not None:
                body.append(stub)
    if not body:
        body = [ast.Expr(ast.Constant(...))]
    return ast.ClassDef(
        name=node.name,
        bases=node.bases,
        keywords=node.keywords,
        body=body,
        decorator_list=node.decorator_list,
        **({"type_params": getattr(node, "type_params", [])} if hasattr(node, "type_params") else {}),
    )


def _exported_names(tree: ast.Module) -> tuple[set[str] | None, ast.stmt | None]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            if isinstance(node.value, (ast.List, ast.Tuple)) and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.value.elts
            ):
                return {e.value for e in node.value.elts}, node  # type: ignore[union-attr]
    return None, None


def extract_interface(source: str, filename: str = "<module>") -> str:
    """Return the public interface of Python ``source`` as stub source text.

    Raises :class:`SyntaxError` if ``source`` does not parse. The result is
    deterministic for a given source and Python version.
    """
    tree = ast.parse(source, filename=filename)
    exported, all_node = _exported_names(tree)
    body: list[ast.stmt] = [*_docstring_stmt(tree)]
    if all_node is not None:
        body.append(all_node)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if _is_public(node.name, exported):
                body.append(_stub_function(node))
        elif isinstance(node, ast.ClassDef):
            if _is_public(node.name, exported):
                body.append(_stub_class(node))
        else:
            stub = _stub_assign(node, exported)
            if stub is not None:
                body.append(stub)
    module = ast.Module(body=body, type_ignores=[])
    return ast.unparse(ast.fix_missing_locations(module)) + "\n"


def imports(source: str, module: str) -> list[tuple[int, str, list[str]]]:
    """``(line, base, members)`` for every import in ``source`` (of the module
    ``module``, dotted): ``import a.b`` gives
    ``("a.b", [])``, ``from a.b import c, d`` gives ``("a.b", ["c", "d"])``. Relative
    imports are resolved; ``importlib.import_module("generated.x")`` counts too.
    Raises :class:`SyntaxError`."""
    tree = ast.parse(source)
    package = module.rpartition(".")[0]
    out: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append((node.lineno, alias.name, []))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts):
                    continue
                base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                out.append((node.lineno, base, [a.name for a in node.names if a.name != "*"]))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if fname in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                out.append((node.lineno, node.args[0].value, []))
    return out
