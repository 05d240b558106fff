"""The generation template: the chat messages pdd sends to compile a prompt.

``TEMPLATE_VERSION`` names this template; it is part of every fingerprint, so
changing the wording below regenerates every module. Bump it with any change.

The language-specific words (the kind of module, the code-fence tag, the library
rule) come from the output language, :data:`TARGET` (:mod:`pdd.targets`); the default
target renders exactly the text this template always had (the recorded requests
of the example project are keyed by it).

Message shapes follow the OpenAI Chat Completions convention: a list of
``{"role": "system"|"user"|"assistant", "content": str}``; other backends
translate it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pdd import targets

TEMPLATE_VERSION = "pdd-gen-1"

#: The output language (:mod:`pdd.targets`): its words below are part of the
#: template, so they render the same text as long as the target is the same.
TARGET = targets.get()

SYSTEM_PROMPT = f"""\
You are the code generator of pdd, a prompt-driven development toolchain.
You turn a specification into one complete {TARGET.MODULE_KIND}.

Rules:
- Answer with exactly one fenced code block tagged `{TARGET.FENCE_TAG}` containing the whole module, and nothing after it.
- Implement everything the specification asks for; do not leave placeholders or TODOs.
- Import the modules listed under "Dependencies" exactly by the import names given, using only their public interfaces shown.
- {TARGET.LIBRARY_RULE}
- Do not perform I/O, network access or other side effects at import time.
"""

_MAX_FEEDBACK_CHARS = 8000
_TIMING = re.compile(r" in \d+(?:\.\d+)?s(?: \(\d+:\d+:\d+\))?")


@dataclass(frozen=True)
class DependencyContext:
    """A dependency as the model sees it: import name and public interface text."""

    module: str
    interface: str


def initial_messages(module: str, output: str, prompt_text: str, deps: list[DependencyContext]) -> list[dict[str, str]]:
    """Messages for a first generation of ``module`` (dotted name) at ``output``."""
    parts = [f"Target module: {module}", f"Output file: {output}", ""]
    if deps:
        parts.append("## Dependencies (public interfaces; import them by these names)")
        for dep in deps:
            parts += ["", f"### {dep.module}", f"```{TARGET.FENCE_TAG}", dep.interface.rstrip("\n"), "```"]
        parts.append("")
    parts += ["## Specification", "", prompt_text.rstrip("\n")]
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(parts) + "\n"},
    ]


def normalise_test_output(output: str, replacements: dict[str, str]) -> str:
    """Make test output stable across runs: replace scratch paths, drop timings,
    keep the last ``_MAX_FEEDBACK_CHARS`` characters."""
    for old, new in replacements.items():
        output = output.replace(old, new)
    output = _TIMING.sub("", output)
    if len(output) > _MAX_FEEDBACK_CHARS:
        output = "[... earlier output cut ...]\n" + output[-_MAX_FEEDBACK_CHARS:]
    return output


def bounded_retry_messages(initial: list[dict[str, str]], code: str, feedback: str, *,
                           repeated: bool = False) -> list[dict[str, str]]:
    """Messages for a retry whose size does not grow with the attempts: the first
    request's messages (system rules and specification), the last failing code and
    the concise feedback (see :func:`concise_feedback`) -- not the whole conversation.

    ``repeated``: the model's last answer was byte-identical (same code hash) to an
    earlier failing one. Then the failing code is *not* sent back: a small model asked
    to correct code in its context tends to copy it verbatim even when sampling hot
    (measured with Qwen2.5-Coder-1.5B: identical answers at temperature 1.0). The
    request is the specification plus the failures, asking for a new implementation.
    """
    if repeated:  # one user turn (spec, then failures): some chat templates require alternating roles
        spec = initial[-1]
        return [
            *initial[:-1],
            {
                "role": spec["role"],
                "content": spec["content"].rstrip("\n") + "\n\n" + (
                    "Your earlier answers to this specification were IDENTICAL and failed the behavior tests "
                    "(the tests are correct):\n\n" + feedback.rstrip("\n") + "\n\n"
                    "Write a NEW implementation from the specification above, taking a different approach "
                    "where the failures show the old one was wrong. "
                    f"Answer with the complete module in one {TARGET.FENCE_TAG} code block."
                ),
            },
        ]
    return [
        *initial,
        {"role": "assistant", "content": f"```{TARGET.FENCE_TAG}\n{code.rstrip()}\n```"},
        {
            "role": "user",
            "content": (
                "The module above failed its behavior tests (the tests are correct).\n\n"
                + feedback.rstrip("\n") + "\n\n"
                "Fix exactly these failures and keep everything else the specification asks for. "
                f"Answer with the corrected complete module in one {TARGET.FENCE_TAG} code block."
            ),
        },
    ]


_FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+?)(?: - (.*))?$")
_SECTION = re.compile(r"^_{3,} (.+?) _{3,}$")
_REQ = re.compile(r"""req\(\s*["']([A-Za-z][\w.-]*)["']""")
_SPEC_ID = re.compile(r"^\s*[-*]\s*\[([A-Za-z][\w.-]*)\]")
_WORD = re.compile(r"[a-z]{4,}")
MAX_FAILURES = 5


def concise_feedback(output: str, spec_text: str = "", *, limit: int = 2500) -> str:
    """A short account of failing pytest output, for a small model. Per failing test
    (at most :data:`MAX_FAILURES`): its name; the test's own failing line (pytest's
    ``>`` line in the test's frame, with the ``with``/``for`` line it sits in); where
    the error was raised when that is in the code under test (the function, its
    arguments as pytest shows them, e.g. ``decode(s = '15z1q')``, and the ``>``
    line there); and the ``E`` lines (the exception, or the assertion with expected
    vs actual). Then the specification lines that look relevant (requirement ids the
    failing tests cite, else list items sharing words with the test names). Output
    that is not pytest's (a syntax error, a collection error) is kept as its last
    ``limit`` characters.

    ``output``: pytest's combined output (``-q``, long tracebacks, the default ``-rfE``
    summary; the format of ``_pytest._code.code.ReprEntry``: a frame's arguments,
    its source with the failing line marked ``>``, the ``E`` lines, then
    ``path:line: ``; frames separated by ``_ _ _`` lines); ``spec_text``: the rendered
    prompt. Returns at most about ``limit`` characters.
    """
    lines = output.splitlines()
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for ln in lines:
        m = _SECTION.match(ln.strip())
        if m and not ln.startswith("="):
            current = m.group(1).strip()
            sections[current] = []
            continue
        if ln.startswith("====="):
            current = None
            continue
        if current is not None:
            sections[current].append(ln)
    summary = [m for m in (_FAILED_LINE.match(ln.strip()) for ln in lines) if m]
    if not summary and not sections:
        text = output.strip()
        return text if len(text) <= limit else "[... cut ...]\n" + text[-limit:]
    parts: list[str] = []
    reqs: list[str] = []
    words: set[str] = set()
    names = [m.group(1) for m in summary] or list(sections)
    for name in names[:MAX_FAILURES]:
        short = name.rsplit("::", 1)[-1]
        body = sections.get(short) or next((v for k, v in sections.items() if k.endswith(short)), [])
        reqs += _REQ.findall("\n".join(body))
        words |= set(_WORD.findall(short.lower())) - {"test", "tests"}
        msg = next((m.group(2) for m in summary if m.group(1) == name and m.group(2)), "")
        details = _failure_details(body)
        item = [f"- {name}" + (f": {msg}" if msg and not any(d.startswith("E ") for d in details) else "")]
        item += ["    " + ln for ln in details]
        parts.append("\n".join(item))
    if len(names) > MAX_FAILURES:
        parts.append(f"- ... and {len(names) - MAX_FAILURES} more failing test(s)")
    text = "Failing tests:\n" + "\n".join(parts)
    spec_lines = _relevant_spec_lines(spec_text, reqs, words)
    if spec_lines:
        text += "\n\nRelevant lines of the specification:\n" + "\n".join(spec_lines)
    return text if len(text) <= limit else text[:limit] + "\n[... cut ...]"


_FRAME_SEP = re.compile(r"^(?:_ )+_\s*$")
_LOCATION = re.compile(r"^(\S[^:]*):(\d+): ?\S*$")
_ARG = re.compile(r"^([A-Za-z_]\w*) = (.*)$")
_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)\s*\(")
_MAX_VALUE = 160


def _failure_details(body: list[str]) -> list[str]:
    """The lines :func:`concise_feedback` keeps of one failure's traceback ``body``
    (see there): the test frame's ``>`` line (with its opener), then, if the error
    was raised in another frame, ``raised in F(args) at path:line`` and that frame's
    ``>`` line, then the ``E`` lines (at most 8)."""
    frames: list[list[str]] = [[]]
    for ln in body:
        if _FRAME_SEP.match(ln):
            frames.append([])
        else:
            frames[-1].append(ln)
    frames = [f for f in frames if any(ln.startswith(">") for ln in f)] or frames
    out: list[str] = []
    first, last = frames[0], frames[-1]
    marked = [i for i, ln in enumerate(first) if ln.startswith(">")]
    if marked:
        i = marked[-1]
        opener = next((ln for ln in reversed(first[:i]) if ln.strip()), "")
        if opener.rstrip().endswith(":") and not _DEF.match(opener) and not opener.lstrip().startswith("@"):
            out.append(" " + opener.rstrip())
        out.append(first[i].rstrip())
    if last is not first:
        loc = next((m for m in (_LOCATION.match(ln.strip()) for ln in reversed(last)) if m), None)
        func = next((m.group(1) for m in map(_DEF.match, last) if m), None)
        args = []
        for ln in last:
            m = _ARG.match(ln)
            if not m:
                if ln.strip():
                    break
                continue
            value = m.group(2) if len(m.group(2)) <= _MAX_VALUE else m.group(2)[:_MAX_VALUE] + "..."
            args.append(f"{m.group(1)}={value}")
        where = f"raised in {func}({', '.join(args)})" if func else "raised"
        if loc:
            where += f" at {loc.group(1)}:{loc.group(2)}"
        out.append(where + ":")
        out += [ln.rstrip() for ln in last if ln.startswith(">")][-1:]
    out += [ln.rstrip() for ln in last if ln.startswith("E ")][:8]
    return out


def _relevant_spec_lines(spec_text: str, reqs: list[str], words: set[str]) -> list[str]:
    out = []
    for ln in spec_text.splitlines():
        m = _SPEC_ID.match(ln)
        if m and m.group(1) in reqs:
            out.append(ln.strip())
        elif not reqs and ln.lstrip().startswith(("-", "*")) and len(words & set(_WORD.findall(ln.lower()))) >= 1:
            out.append(ln.strip())
    return out[:6]
