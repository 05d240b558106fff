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
# Text that differs between two runs of the same code (object addresses, pytest's
# numbered tmp_path folders, tempfile's random names): a seeded retry must be the same
# request every time, so these never reach the model as they are.
_UNSTABLE = ((re.compile(r" at 0x[0-9a-fA-F]{4,}>"), " at 0x...>"),  # <Stack object at 0x7f...>
             (re.compile(r"\.\.\.x?[0-9a-fA-F]{4,}>"), "...>"),  # pytest's shortened repr: <generator ob...x7f...>
             (re.compile(r"pytest-of-[^/\s'\"]+/pytest-\d+"), "pytest-of-.../pytest-N"),
             (re.compile(r"(?<=/)tmp[a-z0-9_]{8}(?=[/'\"\s]|$)", re.MULTILINE), "tmpXXXXXXXX"))  # a folder, not a name


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
    """Make test output stable across runs, so that a retry's request is byte-identical
    run to run: replace scratch paths (``replacements``), drop timings, replace what
    differs between two runs of the same code (object addresses in reprs, also as
    pytest shortens them; pytest's ``pytest-of-USER/pytest-N`` folders; ``tempfile``
    folder names; a set's order is fixed by the run's ``PYTHONHASHSEED``,
    :mod:`pdd.testrun`), keep the last ``_MAX_FEEDBACK_CHARS`` characters."""
    for old, new in replacements.items():
        output = output.replace(old, new)
    output = _TIMING.sub("", output)
    for pattern, repl in _UNSTABLE:
        output = pattern.sub(repl, output)
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


# pytest's summary line names a test file or node id (a parametrize id may hold spaces);
# a line the code printed ("ERROR could not parse ...") is not a failing test.
_FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+?\.py(?:::\S.*?)?)(?: - (.*))?$")
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
    arguments as pytest shows them but ``self``, e.g. ``decode(s='15z1q')``, and the ``>``
    line there); and the ``E`` lines (the exception, or the assertion with expected
    vs actual), and the first ``E`` line of each chained exception. Then the
    specification lines that look relevant (requirement ids the
    failing tests cite, else list items sharing words with the test names). Output
    that is not pytest's (a syntax error, a collection error) is kept as its last
    ``limit`` characters.

    ``output``: pytest's combined output after :func:`normalise_test_output` (which
    makes it the same text run to run) (``-q``, long tracebacks, the default ``-rfE``
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
_CHAIN = ("The above exception was the direct cause of the following exception:",
          "During handling of the above exception, another exception occurred:")
_MAX_VALUE = 160
def _frames(lines: list[str]) -> list[list[str]]:
    """The chunks of traceback entries of ``lines`` (split at pytest's ``_ _ _``
    lines) that mark a source line with ``>`` or hold short entries (else all)."""
    frames: list[list[str]] = [[]]
    for ln in lines:
        if _FRAME_SEP.match(ln):
            frames.append([])
        else:
            frames[-1].append(ln)
    return [f for f in frames if any(ln.startswith(">") or _SHORT_ENTRY.match(ln.strip()) for ln in f)] or frames


def _failure_details(body: list[str]) -> list[str]:
    """The lines :func:`concise_feedback` keeps of one failure's traceback ``body``
    (see there): the test frame's ``>`` line (with its ``with``/``for`` opener), then,
    if the error was raised in another frame of the project (:func:`_in_project`; not
    the standard library or an installed package), ``raised in F(args) at path:line`` and that frame's ``>``
    line, then the ``E`` lines (at most 8), then the first ``E`` line of each chained
    exception (``raise ... from``, or raised while handling another)."""
    segments: list[list[str]] = [[]]
    for ln in body:
        if ln.strip() in _CHAIN:
            segments.append([])
        else:
            segments[-1].append(ln)
    frames = _frames(segments[-1])  # the exception the test saw; earlier segments are its causes
    out: list[str] = []
    first = frames[0]
    marked = [i for i, ln in enumerate(first) if ln.startswith(">")]
    if marked:
        i = marked[-1]
        opener = next((ln for ln in reversed(first[:i]) if ln.strip()), "")
        if opener.rstrip().endswith(":") and not _DEF.match(opener) and not opener.lstrip().startswith("@"):
            out.append(" " + opener.rstrip())
        out.append(first[i].rstrip())
    errors = [ln.rstrip() for ln in frames[-1] if ln.startswith("E ")][:8]
    entries = [e for f in frames[1:] for e in _entries(f) if _in_project(e[0])]
    if entries:
        path, line, func, args, src = entries[-1]
        call = f"{func}({', '.join(args)})" if args is not None else func
        out.append(f"raised in {call} at {path}:{line}:")
        out += [src] if src else []
    out += errors
    for cause in segments[:-1]:
        first_error = next((ln.strip() for f in reversed(_frames(cause)) for ln in f if ln.startswith("E ")), None)
        if first_error:
            out.append("(chained from: " + first_error[1:].strip() + ")")
    return out


_SHORT_ENTRY = re.compile(r"^(\S[^:]*):(\d+): in (\S+)$")


def _entries(frame: list[str]) -> list[tuple[str, str, str, list[str] | None, str]]:
    """``(path, line, function, arguments or None, source line)`` of the traceback
    entries in one ``_ _ _``-separated chunk: a long entry (pytest shows the
    arguments, the source and the ``>`` line, then ``path:line: ...``) or a run of
    short ones (``path:line: in function`` then the source line)."""
    if any(ln.startswith(">") for ln in frame):
        loc = _location(frame)
        if loc is None:
            return []
        func = next((m.group(1) for m in map(_DEF.match, (ln.lstrip(">") for ln in frame)) if m), "?")
        args = []
        for ln in frame:
            if not _ARG.match(ln):
                if ln.strip():
                    break
                continue
            for part in _ARG_SPLIT.split(ln):  # pytest puts short arguments on one line: `self = <...>, k = 'x'`
                m = _ARG.match(part)
                if m is None or m.group(1) in ("self", "cls"):
                    continue
                value = m.group(2) if len(m.group(2)) <= _MAX_VALUE else m.group(2)[:_MAX_VALUE] + "..."
                args.append(f"{m.group(1)}={value}")
        return [(loc[0], loc[1], func, args, next((ln.rstrip() for ln in reversed(frame) if ln.startswith(">")), ""))]
    out = []
    for i, ln in enumerate(frame):
        m = _SHORT_ENTRY.match(ln.strip())
        if m:
            src = next((s.strip() for s in frame[i + 1:i + 2] if s.strip() and not _SHORT_ENTRY.match(s.strip())), "")
            out.append((m.group(1), m.group(2), m.group(3), None, ">   " + src if src else ""))
    return out


def _in_project(path: str) -> bool:
    """True for a traceback path inside the repository: relative (pytest prints paths
    under its rootdir relative), not above it (``../``, e.g. a uv-managed Python) and
    not an installed package (``site-packages``, a ``.venv``)."""
    return not path.startswith(("/", "../")) and "site-packages/" not in path and not path.startswith(".venv/")


_ARG_SPLIT = re.compile(r", (?=[A-Za-z_]\w* = )")


def _location(frame: list[str]) -> tuple[str, str] | None:
    """``(path, line)`` of a traceback entry's ``path:line: ...`` line, or ``None``."""
    m = next((m for m in (_LOCATION.match(ln.strip()) for ln in reversed(frame)) if m), None)
    return (m.group(1), m.group(2)) if m else None


def _relevant_spec_lines(spec_text: str, reqs: list[str], words: set[str]) -> list[str]:
    out = []
    for ln in spec_text.splitlines():
        m = _SPEC_ID.match(ln)
        if m and m.group(1) in reqs:
            out.append(ln.strip())
        elif not reqs and ln.lstrip().startswith(("-", "*")) and len(words & set(_WORD.findall(ln.lower()))) >= 1:
            out.append(ln.strip())
    return out[:6]
