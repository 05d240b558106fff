"""Render a prompt body with Jinja2 (``StrictUndefined``), resolving includes.

The loader root is the prompts folder, so ``{% include "_shared/style.md" %}``
reads ``prompts/_shared/style.md``. Includes are checked before rendering, so a
missing one is reported at the line of its ``include`` tag. An undefined variable
is an error, never an empty string.

Prompts are rendered in Jinja2's :class:`jinja2.sandbox.SandboxedEnvironment`
(no attribute access to internals, ``range`` capped at 100,000 items) with bounds
on what one expression may build, so a runaway prompt (``{{ 'x' * 10**10 }}``)
is an error at its line instead of a hang or an exhausted memory: a string, list
or bytes result larger than :data:`MAX_RENDER_CHARS` items, an integer larger than
:data:`MAX_INT_BITS` bits, a width or count argument (``center``, ``ljust``,
``zfill``, ``expandtabs``, ``indent``, ``batch``, ...) above the limit, or a
rendered text longer than :data:`MAX_RENDER_CHARS` characters. Any other error
while rendering (``{{ 1/0 }}``, ``{{ 'a' + 1 }}``) is an :class:`InputError` at
the template line. These are bounds on known amplifiers, not a time limit: a
template can still loop for long (e.g. nested loops over large ranges).
"""

from __future__ import annotations

import os
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


MAX_RENDER_CHARS = 2_000_000  # characters of a rendered prompt; items of one string/list value
MAX_INT_BITS = 100_000  # bits of one integer value


class RenderLimitError(Exception):
    """A template expression would build a value over the rendering bounds."""


def _size(value: object) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 0


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _too_large(what: str, n: int, limit: int = MAX_RENDER_CHARS) -> RenderLimitError:
    return RenderLimitError(f"{what} would be too large ({n:,} > {limit:,})")


def check_binop(operator: str, left: object, right: object) -> None:
    """Raise :class:`RenderLimitError` if ``left OPERATOR right`` would exceed the bounds."""
    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            if _size(seq) and _is_int(n) and _size(seq) * n > MAX_RENDER_CHARS:
                raise _too_large("the repeated value", _size(seq) * n)
        if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _too_large("the product (bits)", left.bit_length() + right.bit_length(), MAX_INT_BITS)
    elif operator == "**" and _is_int(left) and _is_int(right) and right > 0:
        if right * max(abs(left).bit_length() - 1, 0) > MAX_INT_BITS:
            raise _too_large("the power (bits)", right * (abs(left).bit_length() - 1), MAX_INT_BITS)
    elif operator == "+" and _size(left) + _size(right) > MAX_RENDER_CHARS:
        raise _too_large("the concatenation", _size(left) + _size(right))
    elif operator == "%" and isinstance(left, str):
        _check_widths(left)


_WIDTH = None


def _check_widths(fmt: str) -> None:
    """Refuse ``%``/``str.format`` format strings with a width or precision over the bound."""
    import re

    global _WIDTH
    if _WIDTH is None:
        _WIDTH = re.compile(r"%[-#0 +]*(\d+)?(?:\.(\d+))?|\{[^{}]*?:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")
    for m in _WIDTH.finditer(fmt):
        for g in m.groups():
            if g and len(g) > 7 and int(g) > MAX_RENDER_CHARS:
                raise _too_large("a format width", int(g))


_SIZED_METHODS = {"ljust": 0, "rjust": 0, "center": 0, "zfill": 0}


def check_call(obj: object, args: tuple, kwargs: dict) -> None:
    """Raise :class:`RenderLimitError` if calling ``obj(*args, **kwargs)`` (a method of
    a string or list, or a filter whose first argument is the value) would build a
    value over the bounds; other calls pass."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    params = [*args, *kwargs.values()]
    if isinstance(owner, (str, bytes)):
        if name in _SIZED_METHODS and params and _is_int(params[0]) and params[0] > MAX_RENDER_CHARS:
            raise _too_large(f"the result of {name}()", params[0])
        if name == "expandtabs":
            tab = params[0] if params and _is_int(params[0]) else 8
            if owner.count("\t" if isinstance(owner, str) else b"\t") * tab + len(owner) > MAX_RENDER_CHARS:
                raise _too_large("the result of expandtabs()", owner.count("\t") * tab)
        if name == "replace" and len(params) >= 2 and _size(params[1]):
            hits = owner.count(params[0]) if params[0] else len(owner) + 1
            if hits * _size(params[1]) > MAX_RENDER_CHARS:
                raise _too_large("the result of replace()", hits * _size(params[1]))
        if name == "join" and params and isinstance(params[0], (list, tuple)):
            total = sum(_size(v) for v in params[0]) + len(owner) * len(params[0])
            if total > MAX_RENDER_CHARS:
                raise _too_large("the result of join()", total)
        if name in ("format", "format_map") and isinstance(owner, str):
            _check_widths(owner)


def _bounded_filter(func):
    """``func`` (a Jinja filter) refusing int parameters over the bound, and sized results."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        first = 1 + (getattr(func, "jinja_pass_arg", None) is not None)
        for v in (*args[first:], *kwargs.values()):
            if _is_int(v) and v > MAX_RENDER_CHARS:
                raise _too_large(f"the {func.__name__} filter's argument", v)
        if func.__name__ == "join" and len(args) > first - 1 and isinstance(args[first - 1], (list, tuple)):
            total = sum(_size(v) if isinstance(v, str) else 20 for v in args[first - 1])
            if total > MAX_RENDER_CHARS:
                raise _too_large("the result of the join filter", total)
        return func(*args, **kwargs)

    return wrapper


def _bounded_sandbox(**options):
    """A :class:`jinja2.sandbox.SandboxedEnvironment` with the bounds of this module."""
    from jinja2.sandbox import SandboxedEnvironment
    from jinja2.utils import Namespace

    class BoundedNamespace(Namespace):
        def __setitem__(self, name, value):  # {% set ns.attr = ... %}: the way to grow a value in a loop
            if _size(value) > MAX_RENDER_CHARS:
                raise _too_large("the namespace value", _size(value))
            super().__setitem__(name, value)

    class BoundedSandbox(SandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**", "+", "%"])

        def call_binop(self, context, operator, left, right):
            check_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

        def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
            check_call(__obj, args, kwargs)
            return super().call(__context, __obj, *args, **kwargs)

    env = BoundedSandbox(**options)
    env.filters = {k: _bounded_filter(f) for k, f in env.filters.items()}
    env.globals["namespace"] = BoundedNamespace
    return env


_envs: dict[str, object] = {}
_envs_lock = threading.Lock()


def _repo_loader(prompts_root: Path, repo_root: Path):
    """A :class:`jinja2.FileSystemLoader` on ``prompts_root`` that refuses (exit 2) a
    fragment that is a symlink leading outside the repository ``repo_root``."""
    import jinja2

    class RepoLoader(jinja2.FileSystemLoader):
        def get_source(self, environment, template):
            source, filename, uptodate = super().get_source(environment, template)
            from pdd.repopath import require_file_inside

            require_file_inside(repo_root, os.path.relpath(filename, repo_root), "fragment")
            return source, filename, uptodate

    return RepoLoader(str(prompts_root))


def _environment(prompts_root: Path, repo_root: Path | None = None):
    import jinja2

    repo_root = repo_root or prompts_root
    key = f"{prompts_root}\0{repo_root}"
    with _envs_lock:
        env = _envs.get(key)
        if env is None:
            env = _bounded_sandbox(
                loader=_repo_loader(prompts_root, repo_root),
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

    return _bounded_sandbox(loader=jinja2.FunctionLoader(load), undefined=jinja2.StrictUndefined,
                            keep_trailing_newline=True, autoescape=False)


def _render_bounded(template, **variables) -> str:
    """``template`` rendered, stopping with :class:`RenderLimitError` once the text
    exceeds :data:`MAX_RENDER_CHARS` characters."""
    parts, total = [], 0
    for chunk in template.generate(**variables):
        total += len(chunk)
        if total > MAX_RENDER_CHARS:
            raise _too_large("the rendered prompt", total)
        parts.append(chunk)
    return "".join(parts)


def render_prompt(spec: PromptSpec, root: Path, prompts_dir: str,
                  read: Callable[[str], str | None] | None = None) -> Rendered:
    """Render ``spec``'s body. Includes come from ``ROOT/PROMPTS_DIR`` on disk, or,
    with ``read``, from ``read(name)`` (name relative to the prompts folder; ``None``
    if absent), e.g. a git index or tree. Raises :class:`InputError` (file and line)
    for a syntax error, a missing include or an undefined variable."""
    import jinja2

    env = _environment(root / prompts_dir, root) if read is None else _snapshot_environment(read)
    includes: set[str] = set()
    dynamic = _static_includes(env, spec.body, spec.path, prompts_dir, set(), includes)
    filename = f"<pdd:{spec.path}>"
    try:
        code = env.compile(spec.body, name=spec.path, filename=filename)
        template = env.template_class.from_code(env, code, env.make_globals(None))
        text = _render_bounded(template, name=spec.name, module=spec.module, output=spec.output)
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
    except RenderLimitError as exc:
        raise InputError(spec.path, _template_line(exc, filename), f"template expression too large: {exc}",
                         hint=f"a rendered prompt is at most {MAX_RENDER_CHARS:,} characters") from None
    except RecursionError:
        raise InputError(spec.path, None, "template recursion too deep (a macro or include calling itself?)") from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError, MemoryError) as exc:
        raise InputError(spec.path, _template_line(exc, filename), f"template error: {type(exc).__name__}: {exc}",
                         hint="fix the expression at this line; write a literal '{{' as {{ '{{' }}") from None
    return Rendered(text=text.strip("\n") + "\n", includes=tuple(sorted(includes)), dynamic=dynamic)
