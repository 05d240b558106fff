"""Take the Python module out of a model's answer.

Models wrap code in prose and Markdown fences, sometimes several, with or without
a language tag, and sometimes stop mid-fence. The rules, in order:

1. Collect the fenced blocks (CommonMark fences of three or more backticks or
   tildes; a fence left open runs to the end of the answer).
2. Prefer blocks tagged ``python``/``py``/``python3``; else untagged blocks; else
   any block. Of those, take the longest (the whole module, not a usage example).
3. With no fence at all there is no code: the model was asked for one fenced
   block (product contract, "Model answers"), and prose is not a module.

The result always ends with exactly one newline. :func:`extract_code` raises
:class:`NoCodeError` when there is no code block, its message quoting the first
lines of the answer (:func:`answer_opening`); whether the code compiles is checked
separately by :func:`check_compiles`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_PY_TAGS = {"python", "py", "python3", "py3"}


class NoCodeError(ValueError):
    """The answer holds no code."""


@dataclass(frozen=True)
class Block:
    """A fenced block: its info-string language tag (lowercased, may be empty) and text."""

    lang: str
    text: str


def fenced_blocks(answer: str) -> list[Block]:
    """All fenced code blocks of ``answer``, in order."""
    blocks: list[Block] = []
    lines = re.split(r"\r\n|\r|\n", answer)  # not str.splitlines: U+2028 etc. may sit in string literals
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence = m.group("fence")
        lang = (m.group("info").strip().split() or [""])[0].lower()
        body: list[str] = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            body.append(lines[i])
            i += 1
        blocks.append(Block(lang=lang, text="\n".join(body)))
        i += 1
    return blocks


def extract_code(answer: str) -> str:
    """The module source in ``answer``. Raises :class:`NoCodeError` if there is none."""
    blocks = fenced_blocks(answer)
    if not blocks:
        raise NoCodeError(f"the answer had no code block; it began: {answer_opening(answer)}")
    chosen = [b for b in blocks if b.lang in _PY_TAGS] or [b for b in blocks if not b.lang] or blocks
    code = max(chosen, key=lambda b: len(b.text)).text.strip("\n")
    if not code.strip():
        raise NoCodeError(f"the answer's code block is empty; it began: {answer_opening(answer)}")
    return code.rstrip() + "\n"


def answer_opening(answer: str, lines: int = 3, width: int = 200) -> str:
    """The first ``lines`` non-blank lines of a model answer, quoted on one line
    (each cut at ``width`` characters), for messages about unusable answers."""
    first = [ln.strip()[:width] for ln in answer.splitlines() if ln.strip()][:lines]
    return " / ".join(repr(ln) for ln in first) if first else "(an empty answer)"


def check_compiles(code: str, filename: str) -> str | None:
    """``None`` if ``code`` compiles, else a one-line ``SyntaxError`` description with its line."""
    try:
        compile(code, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{filename}:{exc.lineno}: SyntaxError: {exc.msg}"
    except ValueError as exc:  # e.g. source contains NUL bytes
        return f"{filename}: {exc}"
    return None
