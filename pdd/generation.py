"""The generation template: the chat messages pdd sends to compile a prompt.

``TEMPLATE_VERSION`` names this template; it is part of every fingerprint, so
changing the wording below regenerates every module. Bump it with any change.

Message shapes follow the OpenAI Chat Completions convention: a list of
``{"role": "system"|"user"|"assistant", "content": str}``; other backends
translate it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TEMPLATE_VERSION = "pdd-gen-1"

SYSTEM_PROMPT = """\
You are the code generator of pdd, a prompt-driven development toolchain.
You turn a specification into one complete Python module.

Rules:
- Answer with exactly one fenced code block tagged `python` containing the whole module, and nothing after it.
- Implement everything the specification asks for; do not leave placeholders or TODOs.
- Import the modules listed under "Dependencies" exactly by the import names given, using only their public interfaces shown.
- Use only the Python standard library besides those dependencies.
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
            parts += ["", f"### {dep.module}", "```python", dep.interface.rstrip("\n"), "```"]
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


def retry_messages(previous: list[dict[str, str]], code: str, problem: str) -> list[dict[str, str]]:
    """Messages for another attempt: the conversation so far, the code that failed,
    and what failed (test output or a syntax error)."""
    return [
        *previous,
        {"role": "assistant", "content": f"```python\n{code.rstrip()}\n```"},
        {
            "role": "user",
            "content": (
                "The module above failed its behavior tests (the tests are the reviewer and are correct). "
                "Output:\n```\n" + problem.rstrip("\n") + "\n```\n"
                "Answer with the corrected complete module in one python code block."
            ),
        },
    ]
