"""``pdd critique NAME``: ask the model which decisions a prompt leaves open.

The model is asked, without writing code, for the decisions the specification does
not make but an implementation must (edge cases, failure behavior, concurrency,
units, ordering, ...), as a numbered list. The request goes through the same
cache and backend as ``pdd build`` (:class:`pdd.modelcall.ModelCaller`), so asking
twice about an unchanged prompt costs nothing.

``--write`` appends the questions to the prompt as an ``## Open questions``
section (or adds the new ones to an existing one), atomically, and only after
checking that the new file still parses and renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pdd import targets
CRITIQUE_VERSION = "pdd-critique-1"

SYSTEM_PROMPT = f"""\
You are the specification reviewer of pdd, a prompt-driven development toolchain.
A specification (a prompt) is compiled into one {targets.get().MODULE_KIND} by a code generator
that follows it literally. You do not write code.

List the decisions this specification leaves open that would change the
implementation: edge cases and boundary values, failure behavior (which exception,
which message, what state is left), concurrency and reentrancy, units and
precision, ordering and tie-breaking, empty and very large inputs, duplicates,
time and clocks, encoding, and anything two careful programmers could reasonably
implement differently.

Rules:
- Answer with a numbered list (1., 2., ...), one open decision per item, each a
  question that names the case concretely and says why it matters.
- Only list what the specification really leaves open; do not ask about what it
  already decides, and do not propose code.
- If nothing relevant is left open, answer exactly: No open questions.
"""

OPEN_QUESTIONS_TITLE = "Open questions"
_ITEM = re.compile(r"^\s{0,3}(?:\*\*)?(\d{1,3})[.)](?:\*\*)?\s+(?P<text>\S.*)$")
_BULLET = re.compile(r"^\s{0,3}[-*+]\s+(?P<text>\S.*)$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_OPEN_HEADING = re.compile(r"^(#{1,6})[ \t]+open questions[ \t#]*$", re.IGNORECASE)
_ANY_HEADING = re.compile(r"^(#{1,6})[ \t]+\S")
_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+(.*)$")


@dataclass(frozen=True)
class Critique:
    """The model's open questions about one module."""

    name: str
    prompt_path: str
    questions: list[str]
    answer: str
    cached: bool
    model: str
    spend: dict | None = None  # requests, tokens, cost (pdd.runs.Spend.entry)
    truncated: str = ""  # why the answer is incomplete (cut off at max_tokens), else ""


def critique_messages(module: str, prompt_path: str, prompt_text: str, deps: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Chat messages asking for the open decisions of the rendered ``prompt_text``.
    ``deps``: ``(import name, interface text or "")`` of the declared dependencies."""
    parts = [f"Target module: {module}", f"Prompt file: {prompt_path}", f"Review: {CRITIQUE_VERSION}", ""]
    if deps:
        parts.append("## Dependencies (public interfaces it may use)")
        for dep, iface in deps:
            parts += ["", f"### {dep}"]
            parts += [f"```{targets.get().FENCE_TAG}", iface.rstrip("\n"), "```"] if iface else ["(not built yet)"]
        parts.append("")
    parts += ["## Specification", "", prompt_text.rstrip("\n"), "",
              "List the open decisions as a numbered list (no code)."]
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(parts) + "\n"}]


def _ends_inside_last_item(answer: str, questions: list[str]) -> bool:
    """True if the last non-blank line of ``answer`` belongs to the last of its
    ``questions`` (:func:`parse_questions`): without that line the list reads
    differently. False when the answer ends in closing prose or a code block."""
    lines = answer.rstrip().splitlines()
    return parse_questions("\n".join(lines[:-1])) != questions


def parse_questions(answer: str) -> list[str]:
    """The items of the numbered list in ``answer`` (its bulleted items if it has no
    numbered list), each on one line.

    An item continues on the lines that directly follow it, and on indented lines
    after a blank line; a blank line followed by unindented text (closing prose)
    ends it. Fenced code blocks are skipped.
    """
    numbered: list[list[str]] = []
    bullets: list[list[str]] = []
    current: list[str] | None = None
    blank = False
    in_fence = False
    for line in answer.splitlines():
        if _FENCE.match(line):
            in_fence, current = not in_fence, None
            continue
        if in_fence:
            continue
        if not line.strip():
            blank = True
            continue
        item = _ITEM.match(line)
        bullet = _BULLET.match(line)
        if item:
            current = [item.group("text")]
            numbered.append(current)
        elif bullet and not numbered and (current is None or not line.startswith((" ", "\t"))):
            current = [bullet.group("text")]
            bullets.append(current)
        elif current is not None and (not blank or line.startswith((" ", "\t"))):
            current.append(line.strip())
        else:
            current = None
        blank = False
    items = numbered or bullets
    return [text for text in (_clean(" ".join(parts)) for parts in items) if text]


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _escape_block(lines: list[str], questions: list[str]) -> list[str]:
    """Keep Jinja2 from interpreting the questions' text."""
    joined = "\n".join(questions)
    if not any(tok in joined for tok in ("{{", "{%", "{#")):
        return lines
    if "endraw" not in joined:
        return ["{% raw %}", *lines, "{% endraw %}"]
    return [ln.replace("{", "{{ '{' }}") for ln in lines]


def add_open_questions(text: str, questions: list[str]) -> tuple[str, list[str]]:
    """``text`` with ``questions`` added to its ``## Open questions`` section
    (created at the end if absent; questions already there are not repeated).
    Returns ``(new text, the questions actually added)``."""
    lines = text.splitlines()
    in_fence = False
    head = None
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and _OPEN_HEADING.match(line):
            head = i
            break
    if head is None:
        new = [q for q in dict.fromkeys(questions)]
        if not new:
            return text, []
        block = [f"{i}. {q}" for i, q in enumerate(new, start=1)]
        body = text.rstrip("\n")
        section = ["", f"## {OPEN_QUESTIONS_TITLE}", "",
                   "<!-- pdd critique: decide each one in the sections above, then delete it from this list. -->",
                   *_escape_block(block, new)]
        return body + "\n" + "\n".join(section) + "\n", new
    level = len(_OPEN_HEADING.match(lines[head]).group(1))  # type: ignore[union-attr]
    end = len(lines)
    in_fence = False
    for j in range(head + 1, len(lines)):
        if _FENCE.match(lines[j]):
            in_fence = not in_fence
            continue
        h = _ANY_HEADING.match(lines[j])
        if not in_fence and h and len(h.group(1)) <= level:
            end = j
            break
    existing_keys = set()
    highest = 0
    for line in lines[head + 1:end]:
        m = _NUMBERED.match(line)
        if m:
            highest = max(highest, int(m.group(1)))
            existing_keys.add(_key(m.group(2)))
    new = [q for q in dict.fromkeys(questions) if _key(q) not in existing_keys]
    if not new:
        return text, []
    insert_at = end
    while insert_at > head + 1 and not lines[insert_at - 1].strip():
        insert_at -= 1
    block = _escape_block([f"{highest + i}. {q}" for i, q in enumerate(new, start=1)], new)
    out = lines[:insert_at] + block + ([""] if insert_at < len(lines) else []) + lines[insert_at:]
    if insert_at < len(lines):
        # keep exactly one blank line before the next heading
        k = insert_at + len(block)
        while k + 1 < len(out) and not out[k].strip() and not out[k + 1].strip():
            del out[k]
    return "\n".join(out) + "\n", new


#: Output cap (tokens) of a critique answer: a numbered list of questions needs far
#: less than a module, and a small local model at temperature 0 can otherwise loop
#: until the generator's ``max_tokens`` (8,192 at ~5 tokens/s: half an hour).
CRITIQUE_MAX_TOKENS = 1024


def run_critique(project, name: str) -> Critique:
    """Ask the configured model about module ``name``. Raises :class:`pdd.errors.PddError`
    (input errors: exit 2; backend failures: exit 3)."""
    from pdd.fingerprint import generator_for
    from pdd.modelcall import ModelCaller, request_for
    from pdd.freshness import DependencyUnavailable, dependency_interface
    from pdd.render import render_prompt

    specs = project.specs()
    (name,) = project.select([name])
    spec = specs[name]
    rendered = render_prompt(spec, project.root, project.config.prompts_dir)
    deps: list[tuple[str, str]] = []
    for dep_name in spec.depends:
        dep = specs[dep_name]
        try:
            deps.append((dep.module, dependency_interface(project, dep)))
        except DependencyUnavailable:
            deps.append((dep.module, ""))
    gen = generator_for(spec, project.config)
    request = request_for(gen, critique_messages(spec.module, spec.path, rendered.text, deps), name,
                          max_tokens=min(gen.max_tokens, CRITIQUE_MAX_TOKENS))
    from pdd.runs import now_iso, write_model_run

    started = now_iso()
    caller = ModelCaller(project, record=False)
    completion, cached = caller(request)
    questions = parse_questions(completion.text)
    truncated = f"the answer was cut off at max_tokens ({request.max_tokens} tokens)" if completion.truncated else ""
    if truncated and questions and _ends_inside_last_item(completion.text, questions):
        questions = questions[:-1]
        truncated += "; its last, unfinished question is left out"
    write_model_run(project.root, "critique", name, "reviewed", caller.spend, started=started, model=gen.model,
                    backend=project.config.backend, questions=len(questions))
    return Critique(name, spec.path, questions, completion.text, cached, gen.model, caller.spend.entry(), truncated)


def write_open_questions(project, critique: Critique) -> list[str]:
    """Append ``critique``'s questions to its prompt file (atomic). Returns the
    questions added. Raises :class:`pdd.errors.ProblemFound` (nothing written) if
    the result would not parse or render."""
    from pdd.atomicfile import write_atomic
    from pdd.errors import InputError, ProblemFound
    from pdd.prompt import parse_prompt
    from pdd.render import render_prompt

    path = project.root / critique.prompt_path
    text = path.read_text(encoding="utf-8")
    new_text, added = add_open_questions(text, critique.questions)
    if not added:
        return []
    spec = project.specs()[critique.name]
    try:
        new_spec = parse_prompt(new_text, path=critique.prompt_path, name=critique.name,
                                tests_dir=project.config.tests_dir)
        render_prompt(new_spec, project.root, project.config.prompts_dir)
    except InputError as exc:
        raise ProblemFound(f"not writing {critique.prompt_path}: with the open questions it would not parse "
                           f"({exc.message})", hint="add them by hand") from None
    if (new_spec.depends, new_spec.tests, new_spec.output) != (spec.depends, spec.tests, spec.output):
        raise ProblemFound(f"not writing {critique.prompt_path}: the open questions would change its front matter")
    write_atomic(path, new_text)
    return added
