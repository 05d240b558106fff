"""Code blocks in a model's answer: Markdown fences, and the opening of an answer.

Models wrap code in prose and Markdown fences, sometimes several, with or without
a language tag, and sometimes stop mid-fence. :func:`fenced_blocks` collects them
(CommonMark fences of three or more backticks or tildes; a fence left open runs to
the end of the answer). Which block is the module, and whether it compiles, is the
output language's rule (:meth:`pdd.targets.Target.extract_code` and
:meth:`~pdd.targets.Target.check_compiles`); the target raises :class:`NoCodeError`
when there is no code block, its message quoting the first lines of the answer
(:func:`answer_opening`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")


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


def answer_opening(answer: str, lines: int = 3, width: int = 200) -> str:
    """The first ``lines`` non-blank lines of a model answer, quoted on one line
    (each cut at ``width`` characters), for messages about unusable answers."""
    first = [ln.strip()[:width] for ln in answer.splitlines() if ln.strip()][:lines]
    return " / ".join(repr(ln) for ln in first) if first else "(an empty answer)"
