"""Render a prompt body with Jinja2 (``StrictUndefined``), resolving includes.

The loader root is the prompts folder, so ``{% include "_shared/style.md" %}``
reads ``prompts/_shared/style.md``. Includes are checked before rendering, so a
missing one is reported at the line of its ``include`` tag. An undefined variable
is an error, never an empty string.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pdd.errors import InputError
from pdd.prompt import PromptSpec


@dataclass(frozen=True)
class Rendered:
    """A rendered prompt: ``text`` (leading blank lines stripped, one trailing newline)
    and ``includes``, the repo-relative paths of every fragment it includes, sorted."""

    text: str
    includes: tuple[str, ...]
    dynamic: bool = False  # an include/import whose name is computed: ``includes`` is incomplete


_envs: dict[str, object] = {}
_envs_lock = threading.Lock()


def _environment(prompts_root: Path):
    import jinja2

    key = str(prompts_root)
    with _envs_lock:
        env = _envs.get(key)
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(prompts_root)),
                undefined=jinja2.StrictUndefined,
                keep_trailing_newline=True,
                autoescape=False,
                auto_reload=True,
            )
            _envs[key] = env
    return env


def _template_line(exc: BaseException, filename: str) -> int | None:
    """Line of the innermost traceback frame that belongs to template ``filename``."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _static_includes(env, source: str, origin: str, prompts_dir: str, seen: set[str], out: set[str],
                     stack: tuple[str, ...] = ()) -> bool:
    """Collect included template names recursively; raise on a missing one, at its line.
    Return True if some include's name is computed (not a constant)."""
    import jinja2
    from jinja2 import nodes

    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(origin, exc.lineno, f"template syntax error: {exc.message}") from None
    dynamic = False
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        target = node.template
        if not isinstance(target, nodes.Const):
            dynamic = True  # computed name: checked when rendering, not tracked
            continue
        name = target.value
        if name in stack:
            cycle = " -> ".join((*stack, name))
            raise InputError(origin, node.lineno, f"include cycle: {cycle}", hint="a fragment cannot include itself")
        if name in seen:
            continue
        try:
            sub_source, _, _ = env.loader.get_source(env, name)
        except jinja2.TemplateNotFound:
            raise InputError(
                origin, node.lineno, f"included file {name!r} not found (looked in {prompts_dir}/)",
                hint=f"create {prompts_dir}/{name} or fix the include path",
            ) from None
        seen.add(name)
        out.add(f"{prompts_dir}/{name}")
        dynamic = _static_includes(env, sub_source, f"{prompts_dir}/{name}", prompts_dir, seen, out,
                                   (*stack, name)) or dynamic
    return dynamic


def _snapshot_environment(read: Callable[[str], str | None]):
    import jinja2

    def load(name: str):
        text = read(name)
        return None if text is None else (text.replace("\r\n", "\n"), None, lambda: False)

    return jinja2.Environment(loader=jinja2.FunctionLoader(load), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)


def render_prompt(spec: PromptSpec, root: Path, prompts_dir: str,
                  read: Callable[[str], str | None] | None = None) -> Rendered:
    """Render ``spec``'s body. Includes come from ``ROOT/PROMPTS_DIR`` on disk, or,
    with ``read``, from ``read(name)`` (name relative to the prompts folder; ``None``
    if absent), e.g. a git index or tree. Raises :class:`InputError` (file and line)
    for a syntax error, a missing include or an undefined variable."""
    import jinja2

    env = _environment(root / prompts_dir) if read is None else _snapshot_environment(read)
    includes: set[str] = set()
    dynamic = _static_includes(env, spec.body, spec.path, prompts_dir, set(), includes)
    filename = f"<pdd:{spec.path}>"
    try:
        code = env.compile(spec.body, name=spec.path, filename=filename)
        template = env.template_class.from_code(env, code, env.make_globals(None))
        text = template.render(name=spec.name, module=spec.module, output=spec.output)
    except jinja2.TemplateNotFound as exc:
        raise InputError(spec.path, _template_line(exc, filename), f"included file {exc.name!r} not found") from None
    except jinja2.UndefinedError as exc:
        raise InputError(
            spec.path, _template_line(exc, filename), f"undefined template variable: {exc.message}",
            hint="available variables: name, module, output; write a literal '{{' as {{ '{{' }}",
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(exc.filename or spec.path, exc.lineno, f"template syntax error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise InputError(spec.path, _template_line(exc, filename), f"template error: {exc}") from None
    return Rendered(text=text.strip("\n") + "\n", includes=tuple(sorted(includes)), dynamic=dynamic)
