"""Requirement ids in prompts and the behavior tests that cite them (no model call).

A **requirement** is a Markdown list item (``-``, ``*``, ``+`` or ``1.``/``1)``), in
any section of a prompt, whose text starts with an id in brackets:
``- [R3] The 61st request within 60 s returns 429``. An id matches
``[A-Z][A-Z0-9-]*`` (:data:`ID_PATTERN`: ``R1``, ``RATE-2``, ``A1``) and is unique
within its prompt. Lines inside fenced code blocks (CommonMark: a run of three or
more backticks or tildes, closed by a run of the same character at least as long)
do not count, and an id in inline code (`` `[R3]` ``) is not at the start of the
item, so it does not count either. Continuation lines of an item (indented deeper
than its marker) belong to its text. Ids are read from the prompt file itself,
not from included fragments (so the pre-commit hook needs no Jinja2).

A **citation** is how a pytest test names the requirements it proves: the marker
``@pytest.mark.req("R3", "R4")`` (on the function, its class, or the module's
``pytestmark``) or a docstring line ``Requirement: R3`` (``Requirements: R3, R4``).
:func:`scan_tests` finds them statically with :mod:`ast` (no test code runs);
pdd's pytest plugin (:mod:`pdd.pytest_plugin`) reports them at run time.

This module is on the pre-commit hook's path: standard library only, and
:mod:`ast` is imported only by :func:`scan_tests`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The form of a requirement id.
ID_PATTERN = r"[A-Z][A-Z0-9-]*"
_ID = re.compile(rf"^{ID_PATTERN}$")
_ITEM = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>[-*+]|\d{1,9}[.)])[ \t]+(?P<text>.*)$")
_BRACKET = re.compile(r"^\[(?P<token>[^\]\n]{1,40})\](?![(\[:])")
_FENCE = re.compile(r"^[ \t]{0,3}(?P<run>`{3,}|~{3,})(?P<info>.*)$")
_HEADING = re.compile(r"^#{1,6}[ \t]+(?P<title>.*?)[ \t#]*$")
_DOC_LINE = re.compile(rf"^\s*Requirements?:\s*(?P<ids>{ID_PATTERN}(?:\s*[, ]\s*{ID_PATTERN})*)\s*$", re.MULTILINE)
_TASK_BOXES = {" ", "x"}


@dataclass(frozen=True)
class Requirement:
    """One requirement: ``id``, its ``text`` (after the bracket, continuation lines
    joined by single spaces), the 1-based ``line`` of its list item and the
    ``section`` (title of the nearest heading above, ``""`` if none)."""

    id: str
    text: str
    line: int
    section: str = ""


@dataclass(frozen=True)
class Malformed:
    """A list item starting with a bracketed token that is not a valid id
    (``[r3]``, ``[R_3]``, ``[3]``): ``token`` as written and its 1-based ``line``."""

    token: str
    line: int


@dataclass
class Parsed:
    """What :func:`parse` found: every requirement in file order (duplicates
    included), the malformed ids, and ``duplicates`` — (requirement, first line of
    the same id) for each repeated id."""

    requirements: list[Requirement] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)

    @property
    def duplicates(self) -> list[tuple[Requirement, int]]:
        first: dict[str, int] = {}
        out = []
        for r in self.requirements:
            if r.id in first:
                out.append((r, first[r.id]))
            else:
                first[r.id] = r.line
        return out

    def by_id(self) -> dict[str, Requirement]:
        """The first requirement of each id, in file order."""
        out: dict[str, Requirement] = {}
        for r in self.requirements:
            out.setdefault(r.id, r)
        return out


def parse(text: str) -> Parsed:
    """Requirements and malformed ids of prompt ``text`` (a prompt body or a whole
    prompt file; line numbers are 1-based lines of ``text``). Never raises."""
    out = Parsed()
    fence: str | None = None
    section = ""
    current: dict | None = None  # the open item: id, text parts, line, indent, section

    def close() -> None:
        nonlocal current
        if current is not None:
            out.requirements.append(Requirement(current["id"], " ".join(current["parts"]).strip(),
                                                current["line"], current["section"]))
            current = None

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if fence is not None:
            m = _FENCE.match(line)
            if m and m.group("run")[0] == fence[0] and len(m.group("run")) >= len(fence) and not m.group("info").strip():
                fence = None
            continue
        m = _FENCE.match(line)
        if m and not (m.group("run")[0] == "`" and "`" in m.group("info")):
            close()
            fence = m.group("run")
            continue
        heading = _HEADING.match(line)
        if heading:
            close()
            section = heading.group("title")
            continue
        item = _ITEM.match(line)
        if item:
            close()
            bracket = _BRACKET.match(item.group("text"))
            if bracket is None:
                continue
            token = bracket.group("token")
            if _ID.match(token):
                rest = item.group("text")[bracket.end():].strip()
                current = {"id": token, "parts": [rest], "line": number,
                           "indent": len(item.group("indent").expandtabs(4)), "section": section}
            elif token not in _TASK_BOXES:
                out.malformed.append(Malformed(token, number))
            continue
        if current is not None:
            indent = len(line) - len(line.lstrip(" \t"))
            if line.strip() and indent > current["indent"]:
                current["parts"].append(line.strip())
            else:
                close()
    close()
    return out


def ids(text: str) -> list[str]:
    """The distinct requirement ids of prompt ``text``, in file order."""
    return list(parse(text).by_id())


def docstring_ids(doc: str | None) -> list[str]:
    """Ids cited by ``Requirement: R3`` / ``Requirements: R3, R4`` lines of a docstring."""
    found: list[str] = []
    for m in _DOC_LINE.finditer(doc or ""):
        found += [i for i in re.split(r"[\s,]+", m.group("ids")) if i and i not in found]
    return found


# ---------------------------------------------------------------------------
# Citations in test files (static)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Citation:
    """A test and the ids it cites. ``test`` is the pytest node id without
    parameters (``behavior_tests/test_x.py::TestA::test_b``); ``line`` the 1-based
    line of its ``def``; ``cites`` maps each id to the line that cites it."""

    test: str
    path: str
    line: int
    cites: dict[str, int]


def _req_marks(node, ast) -> list[tuple[str, int]]:
    """(id, line) for each ``*.req("...")`` call in decorator/value ``node`` (a call,
    or a list/tuple of them). Non-string arguments are ignored."""
    calls = list(node.elts) if isinstance(node, (ast.List, ast.Tuple)) else [node]
    out = []
    for call in calls:
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name != "req":
            continue
        for arg in call.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.append((arg.value, arg.lineno))
    return out


def _pytestmark(body, ast) -> list[tuple[str, int]]:
    out = []
    for stmt in body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets):
            out += _req_marks(stmt.value, ast)
    return out


def scan_tests(source: str, path: str) -> list[Citation]:
    """Every test function of a pytest file (``test*`` functions at module level or
    in ``Test*`` classes, nested classes included) with the ids it cites. Raises
    :class:`SyntaxError` if ``source`` does not parse."""
    import ast

    tree = ast.parse(source, filename=path)
    out: list[Citation] = []

    def visit(body, prefix: str, inherited: list[tuple[str, int]]) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                marks = list(inherited)
                for d in node.decorator_list:
                    marks += _req_marks(d, ast)
                marks += _pytestmark(node.body, ast)
                visit(node.body, f"{prefix}::{node.name}", marks)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                marks = list(inherited)
                for d in node.decorator_list:
                    marks += _req_marks(d, ast)
                doc = ast.get_docstring(node)
                if doc:
                    doc_line = node.body[0].lineno
                    marks += [(i, doc_line) for i in docstring_ids(doc)]
                cites: dict[str, int] = {}
                for rid, line in marks:
                    cites.setdefault(rid, line)
                out.append(Citation(f"{prefix}::{node.name}", path, node.lineno, cites))

    visit(tree.body, path, _pytestmark(tree.body, ast))
    return out


def node_key(nodeid: str) -> str:
    """A pytest node id without its parameters: ``a.py::test_x[1-2]`` → ``a.py::test_x``."""
    head, sep, _ = nodeid.partition("[")
    return head if sep else nodeid


# ---------------------------------------------------------------------------
# Change between two versions of a prompt (for `pdd diff`)
# ---------------------------------------------------------------------------


@dataclass
class RequirementsDiff:
    """Requirements ``added`` and ``removed`` (head-only and base-only ids) and
    ``reworded`` ((base, head) pairs of one id whose text differs, compared with
    whitespace collapsed)."""

    added: list[Requirement] = field(default_factory=list)
    removed: list[Requirement] = field(default_factory=list)
    reworded: list[tuple[Requirement, Requirement]] = field(default_factory=list)

    def to_json(self) -> dict:
        def one(r: Requirement) -> dict:
            return {"id": r.id, "text": r.text, "line": r.line, "section": r.section}

        return {"added": [one(r) for r in self.added], "removed": [one(r) for r in self.removed],
                "reworded": [{"id": b.id, "base": one(b), "head": one(h)} for b, h in self.reworded]}


def diff(base_text: str | None, head_text: str | None) -> RequirementsDiff:
    """Compare the requirements of two prompt texts (``None``: the prompt does not
    exist on that side). Ids are matched exactly; added/removed keep file order of
    their side, reworded the head's order."""
    base = parse(base_text or "").by_id()
    head = parse(head_text or "").by_id()
    out = RequirementsDiff()
    out.removed = [r for i, r in base.items() if i not in head]
    for i, r in head.items():
        if i not in base:
            out.added.append(r)
        elif " ".join(base[i].text.split()) != " ".join(r.text.split()):
            out.reworded.append((base[i], r))
    return out
