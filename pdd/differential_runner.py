"""The differential engine's subprocess: compare N implementations of one module.

``python -m pdd.differential_runner CONFIG.json`` (launched by
:func:`pdd.differential.launch`). The config names the implementation files (source
texts written to a scratch folder by :func:`pdd.differential.compare`, never files
in ``generated/``), their labels, the real module name (``generated.x.y``), literal
sources (behavior tests, prompt texts), the example budget, the seed, whether only
the targets common to all implementations are compared (``common_only``) and a
results file. Each implementation is loaded from its own file with :mod:`importlib` under a
distinct module name (``pdd_impl_<i>``), so they live side by side; dependencies
(``generated.*``) are imported from the folder on ``PYTHONPATH``.

For every public function, class constructor, public method and public constant of
the first implementation, arguments are drawn by hypothesis from the type
annotations (``st.from_type``; the module's own classes are built through their
annotated constructors, separately in every implementation). ``str`` and ``int``
(and ``float``) also draw from the literals of the implementations' code, of the
behavior tests and of the prompt's examples (quoted strings, code spans, numbers),
any length up to 200 characters, and from their mutations: digits only, separators
doubled, surrounding whitespace, empty, case changes, boundary numbers
(:func:`mutations`). Every implementation is called twice with the same arguments:
a side whose two calls differ is non-deterministic or stateful and the target is
reported ``nondeterministic`` (not compared). Outcomes are compared: the returned
value, or the exception type, and the arguments the call mutated (builtin
containers only); a call that takes longer than ``call_timeout`` is an outcome of
its own. The first input on which they differ is shrunk by hypothesis, re-run
against every side to confirm it, and written out. Runs are reproducible: the
hypothesis seed is fixed (``seed``) and the example database is off.

Results: one JSON object per target, one per line, in the results file::

    {"target": "parse", "kind": "function",
     "status": "disagree" | "agree" | "skipped" | "error" | "flaky" | "nondeterministic",
     "examples": 57, "reason": "...", "call": "parse('1,5')", "confirmed": true,
     "outcomes": [{"candidates": [1], "labels": ["base"], "kind": "returns", "repr": "Decimal('1.5')"},
                  {"candidates": [2], "labels": ["head"], "kind": "raises", "type": "ValueError", "message": "..."}]}
"""

from __future__ import annotations

import ast
import collections.abc
import copy
import datetime
import decimal
import enum
import fractions
import importlib.util
import inspect
import itertools
import json
import re
import signal
import sys
import types
import typing
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

CAND_PREFIX = "pdd_impl_"
_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")
_CAND = re.compile(CAND_PREFIX + r"\d+")
_MAX_REPR = 200
_OPERATOR_DUNDERS = ("__add__", "__sub__", "__mul__", "__rmul__", "__truediv__", "__floordiv__", "__mod__",
                     "__eq__", "__lt__", "__le__", "__gt__", "__ge__", "__contains__", "__getitem__")


class CannotDerive(Exception):
    """No strategy can be derived for a type; ``str(exc)`` names it."""


class _Reject(Exception):
    """Building the inputs failed in some candidate: not a valid example."""


class _CallTimeout(BaseException):
    """A candidate's call took longer than the per-call limit."""


class _Disagreement(Exception):
    """The candidates disagree on this example."""


class _TooSlow(Exception):
    """The target keeps timing out, or used up its time budget."""


class _Unstable(Exception):
    """One side gave two different outcomes for the same input."""


# ---------------------------------------------------------------------------
# Recipes: candidate-independent descriptions of arguments
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Val:
    value: Any

    def make(self, cand: types.ModuleType) -> Any:
        try:
            return copy.deepcopy(self.value)
        except Exception:
            return self.value

    def show(self) -> str:
        return _short(_clean(repr(self.value)))


@dataclass(frozen=True)
class New:
    cls: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    def make(self, cand: types.ModuleType) -> Any:
        cls = getattr(cand, self.cls)
        try:
            return cls(*[a.make(cand) for a in self.args], **{k: v.make(cand) for k, v in self.kwargs})
        except _CallTimeout:
            raise
        except Exception:
            raise _Reject() from None

    def show(self) -> str:
        return f"{self.cls}({_argstr(self.args, self.kwargs)})"


@dataclass(frozen=True)
class EnumMember:
    cls: str
    member: str

    def make(self, cand: types.ModuleType) -> Any:
        return getattr(getattr(cand, self.cls), self.member)

    def show(self) -> str:
        return f"{self.cls}.{self.member}"


@dataclass(frozen=True)
class Many:
    kind: str  # list | tuple | set | frozenset | dict
    items: tuple[Any, ...]

    def make(self, cand: types.ModuleType) -> Any:
        if self.kind == "dict":
            try:
                return {k.make(cand): v.make(cand) for k, v in self.items}
            except TypeError:
                raise _Reject() from None
        values = [i.make(cand) for i in self.items]
        try:
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[self.kind](values)
        except TypeError:
            raise _Reject() from None

    def show(self) -> str:
        if self.kind == "dict":
            return "{" + ", ".join(f"{k.show()}: {v.show()}" for k, v in self.items) + "}"
        inner = ", ".join(i.show() for i in self.items)
        if self.kind == "list":
            return f"[{inner}]"
        if self.kind == "tuple":
            return f"({inner}{',' if len(self.items) == 1 else ''})"
        if not self.items:
            return f"{self.kind}()"
        return "{" + inner + "}" if self.kind == "set" else f"frozenset({{{inner}}})"


OMIT = object()


def _argstr(args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> str:
    return ", ".join([a.show() for a in args] + [f"{k}={v.show()}" for k, v in kwargs])


@dataclass(frozen=True)
class Call:
    receiver: Any  # New, or None
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]


# ---------------------------------------------------------------------------
# Strategies from annotations
# ---------------------------------------------------------------------------


@dataclass
class Context:
    ref: types.ModuleType
    str_literals: list[str] = field(default_factory=list)
    int_literals: list[int] = field(default_factory=list)
    float_literals: list[float] = field(default_factory=list)
    building: set[str] = field(default_factory=set)

    def is_local(self, tp: Any) -> bool:
        return isinstance(tp, type) and getattr(tp, "__module__", None) == self.ref.__name__


def type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__qualname__ if tp.__module__ in ("builtins",) or tp.__module__.startswith(CAND_PREFIX) \
            else f"{tp.__module__}.{tp.__qualname__}"
    return _clean(repr(tp)).replace("typing.", "")


def _mentions_local(tp: Any, ctx: Context) -> bool:
    if ctx.is_local(tp):
        return True
    return any(_mentions_local(a, ctx) for a in typing.get_args(tp) if a is not Ellipsis)


def strategy_for(tp: Any, ctx: Context, depth: int = 0):
    """A strategy of recipes for values of type ``tp``. Raises :class:`CannotDerive`."""
    from hypothesis import strategies as st

    if depth > 4:
        raise CannotDerive(type_name(tp))
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is typing.Any or tp is object:
        raise CannotDerive(f"{type_name(tp)} (too general)")
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is getattr(types, "UnionType")):
        parts, failures = [], []
        for a in args:
            try:
                parts.append(strategy_for(a, ctx, depth + 1))
            except CannotDerive as exc:
                failures.append(str(exc))
        if not parts:
            raise CannotDerive(" | ".join(failures))
        return st.one_of(parts)
    if origin is typing.Literal:
        return st.sampled_from(list(args)).map(Val)
    if origin in (collections.abc.Callable,) or tp in (collections.abc.Callable, typing.Callable):
        raise CannotDerive(f"{type_name(tp)} (a callable)")
    seq_origins = (list, collections.abc.Sequence, collections.abc.MutableSequence, collections.abc.Iterable,
                   collections.abc.Collection, collections.abc.Iterator)
    if origin in seq_origins and args:
        inner = strategy_for(args[0], ctx, depth + 1)
        return st.lists(inner, max_size=6).map(lambda xs: Many("list", tuple(xs)))
    if origin is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            inner = strategy_for(args[0], ctx, depth + 1)
            return st.lists(inner, max_size=6).map(lambda xs: Many("tuple", tuple(xs)))
        if args == ((),):
            return st.just(Many("tuple", ()))
        return st.tuples(*[strategy_for(a, ctx, depth + 1) for a in args]).map(lambda xs: Many("tuple", tuple(xs)))
    if origin in (set, frozenset, collections.abc.Set, collections.abc.MutableSet) and args:
        inner = strategy_for(args[0], ctx, depth + 1)
        kind = "frozenset" if origin is frozenset else "set"
        return st.lists(inner, max_size=6).map(lambda xs: Many(kind, tuple(xs)))
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping) and len(args) == 2:
        k = strategy_for(args[0], ctx, depth + 1)
        v = strategy_for(args[1], ctx, depth + 1)
        return st.lists(st.tuples(k, v), max_size=5).map(lambda kv: Many("dict", tuple(kv)))
    if isinstance(tp, type):
        if ctx.is_local(tp):
            if issubclass(tp, enum.Enum):
                return st.sampled_from([m.name for m in tp]).map(lambda n, c=tp.__qualname__: EnumMember(c, n))
            if issubclass(tp, BaseException):
                raise CannotDerive(f"{type_name(tp)} (an exception class)")
            return constructor_strategy(tp, ctx, depth + 1)
        if tp is bool:
            return st.booleans().map(Val)
        if tp is str:
            # digit strings get their own branch: st.text() almost never draws "5551234567"
            parts = [st.text(max_size=20), st.from_regex(r"[0-9]{1,12}", fullmatch=True)]
            if ctx.str_literals:
                parts.insert(0, st.sampled_from(ctx.str_literals))
            return st.one_of(parts).map(Val)
        if tp is int:
            base = st.integers()
            return (st.one_of(st.sampled_from(ctx.int_literals), base) if ctx.int_literals else base).map(Val)
        if tp is float and ctx.float_literals:
            return st.one_of(st.sampled_from(ctx.float_literals), st.floats()).map(Val)
    if _mentions_local(tp, ctx):
        raise CannotDerive(type_name(tp))
    try:
        strategy = st.from_type(tp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            strategy.example()
    except Exception:
        raise CannotDerive(type_name(tp)) from None
    return strategy.map(Val)


def _hints(func: Any, ctx: Context) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, globalns=vars(ctx.ref))
    except Exception as exc:
        raise CannotDerive(f"the annotations of {getattr(func, '__qualname__', func)} ({type(exc).__name__}: {exc})") \
            from None


def params_strategy(func: Any, ctx: Context, *, skip_first: bool, depth: int = 0):
    """A strategy of ``(args, kwargs)`` recipe tuples for calling ``func``."""
    from hypothesis import strategies as st

    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise CannotDerive(f"the signature of {getattr(func, '__qualname__', func)} ({exc})") from None
    params = list(sig.parameters.values())[1 if skip_first else 0:]
    hints = _hints(func, ctx) if params else {}
    parts: list[tuple[inspect.Parameter, Any]] = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        has_default = p.default is not p.empty
        if p.name not in hints:
            if has_default:
                continue
            raise CannotDerive(f"parameter {p.name!r} (no type annotation)")
        try:
            s = strategy_for(hints[p.name], ctx, depth)
        except CannotDerive as exc:
            if has_default:
                continue
            raise CannotDerive(f"{exc} (parameter {p.name!r})") from None
        if has_default and p.kind != p.POSITIONAL_ONLY:
            s = st.one_of(st.just(OMIT), s)
        parts.append((p, s))

    def assemble(values: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
        args: list[Any] = []
        kwargs: list[tuple[str, Any]] = []
        omitted = False
        for (p, _), v in zip(parts, values):
            if v is OMIT:
                omitted = True
                continue
            if p.kind == p.KEYWORD_ONLY or (omitted and p.kind == p.POSITIONAL_OR_KEYWORD):
                kwargs.append((p.name, v))
            else:
                args.append(v)
        return tuple(args), tuple(kwargs)

    return st.tuples(*[s for _, s in parts]).map(assemble)


def constructor_strategy(cls: type, ctx: Context, depth: int = 0):
    """A strategy of :class:`New` recipes for the candidate's own class ``cls``."""
    if cls.__qualname__ in ctx.building:
        raise CannotDerive(f"{cls.__qualname__} (recursive constructor)")
    ctx.building.add(cls.__qualname__)
    try:
        init = cls.__init__ if cls.__init__ is not object.__init__ else None
        if init is None:
            from hypothesis import strategies as st

            return st.just(New(cls.__qualname__, ()))
        return params_strategy(init, ctx, skip_first=True, depth=depth).map(
            lambda ak, c=cls.__qualname__: New(c, ak[0], ak[1]))
    except CannotDerive as exc:
        raise CannotDerive(f"{exc}, to build a {cls.__qualname__}") from None
    finally:
        ctx.building.discard(cls.__qualname__)


# ---------------------------------------------------------------------------
# Outcomes
# ---------------------------------------------------------------------------

_SCALARS = (type(None), bool, int, float, complex, str, bytes, bytearray, decimal.Decimal, fractions.Fraction,
            datetime.date, datetime.time, datetime.timedelta, uuid.UUID, range, type(Ellipsis))


def _clean(text: str) -> str:
    return _ADDR.sub("", _CAND.sub(REAL_MODULE, text))


def _short(text: str) -> str:
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _safe_repr(x: Any) -> str:
    try:
        return _clean(repr(x))
    except Exception as exc:
        return f"<repr raised {type(exc).__name__}>"


def normalise(x: Any, depth: int = 0) -> Any:
    """A candidate-independent, comparable form of a returned value."""
    t = type(x)
    tn = type_name(t)
    if isinstance(x, enum.Enum):
        return ("enum", tn, x.name)
    if isinstance(x, _SCALARS) and (t in _SCALARS or t.__module__ in ("builtins", "decimal", "fractions", "datetime")):
        return ("v", tn, _safe_repr(x))
    if depth > 5:
        return ("deep", tn)
    if isinstance(x, (list, tuple)) and (t in (list, tuple) or hasattr(x, "_fields")):
        return ("seq", tn, tuple(normalise(e, depth + 1) for e in itertools.islice(x, 500)), len(x))
    if isinstance(x, collections.abc.Mapping) and t.__module__ in ("builtins", "collections", "types"):
        items = sorted(((repr(normalise(k, depth + 1)), normalise(v, depth + 1)) for k, v in x.items()),
                       key=lambda kv: kv[0])
        return ("map", tn, tuple(items))
    if isinstance(x, (set, frozenset)):
        return ("set", tn, tuple(sorted(repr(normalise(e, depth + 1)) for e in x)))
    if isinstance(x, BaseException):
        return ("exception", tn, str(x))
    if isinstance(x, type):
        return ("type", type_name(x))
    if isinstance(x, collections.abc.Iterator):
        return ("iter", tuple(normalise(e, depth + 1) for e in itertools.islice(x, 500)))
    if inspect.isroutine(x):
        return ("callable", getattr(x, "__qualname__", "?"))
    attrs = []
    for name in sorted(dir(x)):
        if name.startswith("_"):
            continue
        try:
            value = getattr(x, name)
        except _CallTimeout:
            raise
        except Exception as exc:
            attrs.append((name, ("raises", type_name(type(exc)))))
            continue
        if inspect.isroutine(value) or isinstance(value, type):
            continue
        attrs.append((name, normalise(value, depth + 1)))
    rep = _safe_repr(x) if t.__repr__ is not object.__repr__ else None
    text = None
    if t.__str__ is not object.__str__ and t.__str__ is not t.__repr__:
        try:
            text = _clean(str(x))
        except Exception as exc:
            text = f"<str raised {type(exc).__name__}>"
    size = None
    if hasattr(t, "__len__"):
        try:
            size = len(x)
        except Exception:
            size = None
    return ("object", tn, tuple(attrs), rep, text, size)


@dataclass
class Outcome:
    kind: str  # returns | raises | timeout
    key: str
    repr: str = ""
    type: str = ""
    message: str = ""
    mutated: str = ""  # the changed arguments, shown: "argument 1 becomes [2, 1]"

    def describe(self, timeout: float) -> str:
        tail = f" and {self.mutated}" if self.mutated else ""
        if self.kind == "returns":
            return f"returns {self.repr}{tail}"
        if self.kind == "raises":
            return f"raises {self.type}{tail}"
        return f"does not return within {timeout:g} s"


class _time_limit:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.enabled = hasattr(signal, "setitimer") and seconds > 0

    def __enter__(self) -> None:
        if self.enabled:
            signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            signal.setitimer(signal.ITIMER_REAL, 0)

    @staticmethod
    def _fire(signum: int, frame: Any) -> None:
        raise _CallTimeout()


@dataclass
class Target:
    name: str  # display name: parse, Money, Money.allocate, CURRENCIES
    kind: str  # function | constructor | method | staticmethod | classmethod | constant
    owner: str | None = None  # class name for methods
    attr: str | None = None  # function / method / constant name

    def resolve(self, cand: types.ModuleType, receiver: Any) -> Any:
        if self.kind == "function":
            return getattr(cand, self.attr)  # type: ignore[arg-type]
        if self.kind == "constructor":
            return getattr(cand, self.owner)  # type: ignore[arg-type]
        if self.kind == "method":
            return getattr(receiver, self.attr)  # type: ignore[arg-type]
        return getattr(getattr(cand, self.owner), self.attr)  # type: ignore[arg-type]

    def show(self, call: Call) -> str:
        args = _argstr(call.args, call.kwargs)
        if self.kind == "function":
            return f"{self.attr}({args})"
        if self.kind == "constructor":
            return f"{self.owner}({args})"
        if self.kind == "method":
            return f"{call.receiver.show()}.{self.attr}({args})"
        return f"{self.owner}.{self.attr}({args})"


def run_call(target: Target, call: Call, cand: types.ModuleType, timeout: float) -> Outcome:
    """Build the inputs in ``cand`` and call the target. Raises :class:`_Reject`."""
    try:
        with _time_limit(timeout):
            receiver = call.receiver.make(cand) if call.receiver is not None else None
            args = [a.make(cand) for a in call.args]
            kwargs = {k: v.make(cand) for k, v in call.kwargs}
    except (_Reject, _CallTimeout):
        raise _Reject() from None
    except Exception:
        raise _Reject() from None
    try:
        fn = target.resolve(cand, receiver)
    except AttributeError:
        return Outcome("raises", "raises:missing", type="(missing)", message=f"candidate has no {target.name}")
    watched = _watch(args, kwargs)
    try:
        with _time_limit(timeout):
            result = fn(*args, **kwargs)
            norm = normalise(result)
            shown = _short(_safe_repr(result))
    except _CallTimeout:
        return Outcome("timeout", "timeout")
    except RecursionError as exc:
        return _with_mutations(Outcome("raises", "raises:RecursionError", type="RecursionError",
                                       message=_short(str(exc))), watched)
    except Exception as exc:
        tn = type_name(type(exc))
        return _with_mutations(Outcome("raises", f"raises:{tn}", type=tn, message=_short(_clean(str(exc)))), watched)
    return _with_mutations(Outcome("returns", "returns:" + repr(norm), repr=shown), watched)


_MUTABLE = (list, dict, set, bytearray)


def _watch(args: list[Any], kwargs: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(label, value, normalised form before the call)`` of the builtin-container
    arguments (the ones whose mutation is comparable across implementations)."""
    found = [(f"argument {i + 1}", a) for i, a in enumerate(args)] + [(f"argument {k}", v) for k, v in kwargs.items()]
    out = []
    for label, value in found:
        if type(value) in _MUTABLE:
            try:
                out.append((label, value, normalise(value)))
            except Exception:
                continue
    return out


def _with_mutations(outcome: Outcome, watched: list[tuple[str, Any, Any]]) -> Outcome:
    changes = []
    for label, value, before in watched:
        try:
            after = normalise(value)
        except Exception:
            continue
        if after != before:
            changes.append((label, after, _short(_safe_repr(value))))
    if changes:
        outcome.key += "|mutates:" + repr([(label, after) for label, after, _ in changes])
        outcome.mutated = ", ".join(f"changes {label} to {shown}" for label, _, shown in changes)
    return outcome


def group_outcomes(outcomes: list[tuple[int, Outcome]]) -> list[tuple[list[int], Outcome]]:
    groups: dict[str, tuple[list[int], Outcome]] = {}
    for idx, o in outcomes:
        groups.setdefault(o.key, ([], o))[0].append(idx)
    return list(groups.values())


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

REAL_MODULE = "generated.module"


def load_candidate(index: int, path: str, real_module: str) -> types.ModuleType:
    name = f"{CAND_PREFIX}{index}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    module.__package__ = real_module.rpartition(".")[0]
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


MAX_LITERAL = 200
_SEPARATORS = ",.;:-_/ "
_BOUNDARY_INTS = (0, 1, -1, 2, 255, 256, 2**31 - 1, -2**31, 2**63 - 1, -2**63)
_TEXT_LITERAL = re.compile(r'"([^"\n]{1,200})"|\'([^\'\n]{1,200})\'|`([^`\n]{1,200})`')
_TEXT_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w|\.\d)")


def mutations(text: str) -> set[str]:
    """Variants of a string literal that implementations often treat differently:
    digits only, each separator doubled, surrounding whitespace, empty, case changes."""
    out = {"", text, f" {text} ", f"\t{text}\n", text.upper(), text.lower(), text.swapcase()}
    digits = re.sub(r"[^0-9]", "", text)
    if digits:
        out.add(digits)
    for sep in _SEPARATORS:
        if sep in text:
            out.add(text.replace(sep, sep * 2))
    return out


def _number_variants(v: int) -> set[int]:
    return {v, -v, v + 1, v - 1}


def _code_constants(src: str, strs: set[str], ints: set[int], floats: set[float]) -> None:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, str) and len(v) <= MAX_LITERAL:
                strs.add(v)
            elif isinstance(v, int) and not isinstance(v, bool) and abs(v) <= 10**12:
                ints.update(_number_variants(v))
            elif isinstance(v, float):
                floats.add(v)


def _text_constants(text: str, strs: set[str], ints: set[int], floats: set[float]) -> None:
    """Quoted strings, code spans and numbers of a prose text (the prompt's examples)."""
    for m in _TEXT_LITERAL.finditer(text):
        value = next(g for g in m.groups() if g is not None)
        strs.add(value)
        for inner in _TEXT_LITERAL.finditer(value):  # `parse("1,5")`: the "1,5" too
            strs.add(next(g for g in inner.groups() if g is not None))
    for m in _TEXT_NUMBER.finditer(text):
        token = m.group(0)
        if "." in token:
            floats.add(float(token))
        elif len(token) <= 12:
            ints.update(_number_variants(int(token)))


def literals(sources: list[str], tests: list[str] = (), texts: list[str] = ()) -> tuple[list[str], list[int], list[float]]:  # type: ignore[assignment]
    """String, int and float literals for the strategies: the constants of the
    implementations' ``sources`` and of the behavior ``tests`` (Python source), the
    quoted strings, code spans and numbers of ``texts`` (the prompt), each string with
    its :func:`mutations` and each int with its neighbours and the boundary numbers.
    Sorted simplest first (hypothesis shrinks towards the start of a list)."""
    strs: set[str] = set()
    ints: set[int] = set()
    floats: set[float] = set()
    for src in [*sources, *tests]:
        _code_constants(src, strs, ints, floats)
    for text in texts:
        _text_constants(text, strs, ints, floats)
    mutated: set[str] = set()
    for v in strs:
        mutated |= mutations(v)
    all_strs = sorted((v for v in strs | mutated if len(v) <= MAX_LITERAL), key=lambda v: (len(v), v))[:600]
    all_ints = sorted(ints | set(_BOUNDARY_INTS), key=lambda v: (abs(v), v < 0))[:400]
    all_floats = sorted(floats | {0.0, -1.0, 1.0, 0.5} if floats else set(), key=lambda v: (abs(v), v < 0))[:200]
    return all_strs, all_ints, all_floats


def public_targets(ref: types.ModuleType, source: str) -> list[Target]:
    exported = getattr(ref, "__all__", None)
    if isinstance(exported, (list, tuple)) and all(isinstance(n, str) for n in exported):
        names = list(exported)
        assigned = set(names)
    else:
        names = sorted(n for n in vars(ref) if not n.startswith("_"))
        assigned = set()
        for node in ast.parse(source).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            assigned.update(t.id for t in targets if isinstance(t, ast.Name))
    out: list[Target] = []
    for name in names:
        obj = getattr(ref, name, None)
        if inspect.isfunction(obj) and obj.__module__ == ref.__name__:
            out.append(Target(name, "function", attr=name))
        elif inspect.isclass(obj) and obj.__module__ == ref.__name__:
            if issubclass(obj, (BaseException, enum.Enum)) or getattr(obj, "_is_protocol", False):
                continue
            out.append(Target(name, "constructor", owner=name))
            for attr, value in vars(obj).items():
                if attr.startswith("_") and attr not in _OPERATOR_DUNDERS:
                    continue
                if isinstance(value, (staticmethod, classmethod)):
                    kind = "staticmethod" if isinstance(value, staticmethod) else "classmethod"
                    out.append(Target(f"{name}.{attr}", kind, owner=name, attr=attr))
                elif inspect.isfunction(value):
                    out.append(Target(f"{name}.{attr}", "method", owner=name, attr=attr))
        elif name in assigned and not inspect.ismodule(obj) and not inspect.isroutine(obj) and not inspect.isclass(obj):
            out.append(Target(name, "constant", attr=name))
    return out


def compare_target(target: Target, cands: list[tuple[int, types.ModuleType]], ctx: Context, cfg: dict[str, Any]) -> dict[str, Any]:
    """Compare one target across the implementations ``cands`` (``(index, module)``);
    the result object described in the module docstring."""
    from hypothesis import HealthCheck, Verbosity, assume, given, seed, settings
    from hypothesis import errors as hyp_errors
    from hypothesis import strategies as st

    timeout = float(cfg.get("call_timeout", 2.0))
    ref = cands[0][1]
    result: dict[str, Any] = {"target": target.name, "kind": target.kind}
    if target.kind == "constant":
        outcomes = []
        for idx, cand in cands:
            if not hasattr(cand, target.attr):  # type: ignore[arg-type]
                outcomes.append((idx, Outcome("raises", "missing", type="(missing)", message="not defined")))
                continue
            value = getattr(cand, target.attr)  # type: ignore[arg-type]
            outcomes.append((idx, Outcome("returns", repr(normalise(value)), repr=_short(_safe_repr(value)))))
        groups = group_outcomes(outcomes)
        result.update(status="disagree" if len(groups) > 1 else "agree", examples=1, call=target.name,
                      outcomes=_outcomes_json(groups, timeout, cfg))
        return result
    try:
        if target.kind == "function":
            args_s = params_strategy(getattr(ref, target.attr), ctx, skip_first=False)  # type: ignore[arg-type]
            strategy = args_s.map(lambda ak: Call(None, ak[0], ak[1]))
        elif target.kind == "constructor":
            strategy = constructor_strategy(getattr(ref, target.owner), ctx).map(  # type: ignore[arg-type]
                lambda new: Call(None, new.args, new.kwargs))
        else:
            cls = getattr(ref, target.owner)  # type: ignore[arg-type]
            raw = inspect.getattr_static(cls, target.attr)  # type: ignore[arg-type]
            if target.kind in ("staticmethod", "classmethod"):
                func = raw.__func__
                args_s = params_strategy(func, ctx, skip_first=isinstance(raw, classmethod))
                strategy = args_s.map(lambda ak: Call(None, ak[0], ak[1]))
            else:
                receiver_s = constructor_strategy(cls, ctx)
                args_s = params_strategy(raw, ctx, skip_first=True)
                strategy = st.tuples(receiver_s, args_s).map(lambda ra: Call(ra[0], ra[1][0], ra[1][1]))
    except CannotDerive as exc:
        result.update(status="skipped", reason=f"cannot derive a strategy for {exc}")
        return result

    state: dict[str, Any] = {"examples": 0, "last": None, "timeouts": 0, "unstable": None}
    budget = float(cfg.get("target_budget", 60.0))
    import time

    started = time.monotonic()

    @seed(int(cfg.get("seed", 0)))
    @settings(max_examples=int(cfg.get("max_examples", 100)), deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False,
              verbosity=Verbosity.quiet)
    @given(strategy)
    def check(call: Call) -> None:
        try:
            evaluate(call)
        except _Reject:
            assume(False)

    def evaluate(call: Call) -> None:
        """Run ``call`` twice on every side; raises _Reject, _Unstable, _TooSlow or _Disagreement."""
        if state["unstable"] is not None:
            raise _Unstable()
        limit = 5 if state["last"] is None else 25  # more room to shrink a disagreement
        if state["timeouts"] >= limit or time.monotonic() - started > budget:
            raise _TooSlow()
        outcomes = []
        for idx, cand in cands:
            first = run_call(target, call, cand, timeout)
            again = first if first.kind == "timeout" else run_call(target, call, cand, timeout)
            if again.key != first.key:  # the same input twice on one side: time, randomness or state
                state["unstable"] = (call, idx, first, again)
                raise _Unstable()
            outcomes.append((idx, first))
        state["examples"] += 1
        state["timeouts"] += sum(1 for _, o in outcomes if o.kind == "timeout")
        if len({o.key for _, o in outcomes}) > 1:
            state["last"] = (call, outcomes)
            raise _Disagreement()

    def unstable() -> dict[str, Any]:
        call, idx, first, again = state["unstable"]
        result.update(status="nondeterministic", examples=state["examples"], call=target.show(call),
                      reason=f"{_label(cfg, idx)} gives different results for the same input "
                             f"({first.describe(timeout)}, then {again.describe(timeout)}): it depends on time, "
                             f"randomness or state kept between calls, so it is not compared")
        return result

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # first every literal (and mutation) in every position, simplest first: a value
            # drawn one time in a hundred would be missed by a budget of a hundred examples
            for call in sweep_calls(target, ref, ctx):
                try:
                    evaluate(call)
                except _Reject:
                    continue
            check()
    except _Unstable:
        return unstable()
    except (_Disagreement, _TooSlow) as exc:
        if state["last"] is None:
            result.update(status="error", examples=state["examples"],
                          reason=f"calls keep timing out (over {timeout:g} s each)" if state["timeouts"] >= 5
                          else f"stopped after its time budget of {budget:g} s")
            return result
        if isinstance(exc, _TooSlow):
            result["note"] = "stopped early (slow calls); the example may not be fully shrunk"
        call, outcomes = state["last"]
        result.update(call=target.show(call), examples=state["examples"],
                      outcomes=_outcomes_json(group_outcomes(outcomes), timeout, cfg))
        if not _confirmed(target, call, outcomes, cands, timeout):
            result.update(status="flaky", confirmed=False,
                          reason="a re-run of this input gave other results: not reported as a difference")
            return result
        result.update(status="disagree", confirmed=True)
        return result
    except hyp_errors.Unsatisfiable:
        result.update(status="skipped", examples=state["examples"],
                      reason="no valid inputs: building the arguments failed for every example drawn")
        return result
    except hyp_errors.Flaky as exc:
        if state["unstable"] is not None:
            return unstable()
        result.update(status="flaky", examples=state["examples"],
                      reason=f"results are not reproducible (a candidate is non-deterministic?): {type(exc).__name__}")
        if state["last"] is not None:
            call, outcomes = state["last"]
            result.update(call=target.show(call), outcomes=_outcomes_json(group_outcomes(outcomes), timeout, cfg))
        return result
    except Exception as exc:  # a bug in a strategy or in hypothesis usage: report, go on
        result.update(status="error", examples=state["examples"], reason=f"{type(exc).__name__}: {_short(str(exc))}")
        return result
    if state["examples"] == 0:
        result.update(status="skipped", examples=0, reason="no valid inputs could be built")
        return result
    result.update(status="agree", examples=state["examples"])
    return result


MAX_SWEEP = 800


def _simple_values(tp: Any, ctx: Context, depth: int = 0) -> list[Any] | None:
    """Literal values of ``tp`` for the sweep (simplest first), or ``None`` if ``tp``
    is not a plain type the literals cover."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if depth > 1:
        return None
    if tp is str:
        return list(ctx.str_literals) or [""]
    if tp is int:
        return list(ctx.int_literals) or [0]
    if tp is float:
        return list(ctx.float_literals) or [0.0, 1.0, -1.0, 0.5]
    if tp is bool:
        return [False, True]
    if tp is decimal.Decimal:
        return [decimal.Decimal(v) for v in ctx.int_literals] + [decimal.Decimal(str(v)) for v in ctx.float_literals]
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is getattr(types, "UnionType")):
        out: list[Any] = []
        for a in args:
            vals = [None] if a is type(None) else _simple_values(a, ctx, depth)
            if vals is None:
                return None
            out.extend(vals)
        return out
    if origin in (list, collections.abc.Sequence, collections.abc.Iterable) and len(args) == 1:
        inner = _simple_values(args[0], ctx, depth + 1)
        return None if inner is None else [Many("list", ())] + [Many("list", (Val(v),)) for v in inner]
    return None


def _sweep_args(func: Any, ctx: Context, skip_first: bool) -> list[tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]]:
    try:
        params = list(inspect.signature(func).parameters.values())[1 if skip_first else 0:]
    except (TypeError, ValueError):
        return []
    hints = _hints(func, ctx) if params else {}
    columns: list[tuple[inspect.Parameter, list[Any]]] = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        vals = _simple_values(hints[p.name], ctx) if p.name in hints else None
        if vals is None:
            if p.default is not p.empty:
                break  # the rest are passed by default
            return []
        columns.append((p, [v if isinstance(v, Many) else Val(v) for v in vals]))

    def build(values: list[Any]) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
        args = tuple(v for (p, _), v in zip(columns, values) if p.kind != p.KEYWORD_ONLY)
        kwargs = tuple((p.name, v) for (p, _), v in zip(columns, values) if p.kind == p.KEYWORD_ONLY)
        return args, kwargs

    out = [build([c[0] for _, c in columns])]
    longest = max((len(c) for _, c in columns), default=0)
    for rank in range(1, longest):
        for pos, (_, col) in enumerate(columns):
            if rank < len(col):
                values = [c[0] for _, c in columns]
                values[pos] = col[rank]
                out.append(build(values))
        if len(out) >= MAX_SWEEP:
            break
    return out[:MAX_SWEEP]


def sweep_calls(target: Target, ref: types.ModuleType, ctx: Context) -> list[Call]:
    """Calls that put each literal in each parameter in turn (the others at their
    simplest literal), for targets whose parameters are plain types (str, int,
    float, bool, Decimal, optional or lists of them). Methods are called on an
    instance built from the simplest constructor literals."""
    try:
        if target.kind == "function":
            return [Call(None, a, k) for a, k in _sweep_args(getattr(ref, target.attr), ctx, False)]
        cls = getattr(ref, target.owner)
        if target.kind == "constructor":
            init = cls.__init__ if cls.__init__ is not object.__init__ else None
            return [] if init is None else [Call(None, a, k) for a, k in _sweep_args(init, ctx, True)]
        raw = inspect.getattr_static(cls, target.attr)
        if target.kind in ("staticmethod", "classmethod"):
            return [Call(None, a, k) for a, k in _sweep_args(raw.__func__, ctx, isinstance(raw, classmethod))]
        init = cls.__init__ if cls.__init__ is not object.__init__ else None
        built = _sweep_args(init, ctx, True)[:1] if init is not None else [((), ())]
        if not built:
            return []
        receiver = New(cls.__qualname__, built[0][0], built[0][1])
        return [Call(receiver, a, k) for a, k in _sweep_args(raw, ctx, True)]
    except CannotDerive:
        return []


def _confirmed(target: Target, call: Call, outcomes: list[tuple[int, Outcome]],
               cands: list[tuple[int, types.ModuleType]], timeout: float) -> bool:
    """Re-run ``call`` on every side: true if each gives the outcome recorded."""
    recorded = dict(outcomes)
    for idx, cand in cands:
        try:
            if run_call(target, call, cand, timeout).key != recorded[idx].key:
                return False
        except _Reject:
            return False
    return True


def _label(cfg: dict[str, Any], idx: int) -> str:
    for c in cfg.get("candidates", []):
        if int(c["index"]) == idx:
            return str(c.get("label") or f"candidate {idx}")
    return f"candidate {idx}"


def _outcomes_json(groups: list[tuple[list[int], Outcome]], timeout: float, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for idxs, o in groups:
        entry: dict[str, Any] = {"candidates": idxs, "labels": [_label(cfg, i) for i in idxs], "kind": o.kind,
                                 "text": o.describe(timeout)}
        if o.mutated:
            entry["mutated"] = o.mutated
        if o.kind == "returns":
            entry["repr"] = o.repr
        elif o.kind == "raises":
            entry.update(type=o.type, message=o.message)
        out.append(entry)
    return out


def main(argv: list[str]) -> int:
    global REAL_MODULE
    cfg = json.loads(open(argv[1], encoding="utf-8").read())
    REAL_MODULE = cfg["module"]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    results = open(cfg["results"], "a", encoding="utf-8")

    def emit(obj: dict[str, Any]) -> None:
        results.write(json.dumps(obj) + "\n")
        results.flush()

    cands: list[tuple[int, types.ModuleType]] = []
    sources: list[str] = []
    for c in cfg["candidates"]:
        src = open(c["path"], encoding="utf-8").read()
        sources.append(src)
        try:
            with _time_limit(float(cfg.get("import_timeout", 30))):
                cands.append((int(c["index"]), load_candidate(int(c["index"]), c["path"], REAL_MODULE)))
        except BaseException as exc:  # noqa: BLE001 - a broken candidate is reported, not fatal
            emit({"target": None, "kind": "import", "status": "error", "candidate": c["index"],
                  "reason": f"{c.get('label') or 'candidate ' + str(c['index'])} cannot be imported: "
                            f"{type(exc).__name__}: {exc}"})
    if len(cands) < 2:
        return 0
    tests = [t for t in cfg.get("tests", []) if isinstance(t, str)]
    texts = [t for t in cfg.get("texts", []) if isinstance(t, str)]
    strs, ints, floats = literals(sources, tests, texts)
    ctx = Context(cands[0][1], strs, ints, floats)
    targets = public_targets(cands[0][1], sources[0])
    missing: dict[str, list[str]] = {}
    for idx, cand in cands[1:]:
        for t in targets:
            owner = getattr(cand, t.owner or t.attr or "", None)
            if owner is None or (t.owner and t.attr and not hasattr(owner, t.attr)):
                missing.setdefault(t.name, []).append(_label(cfg, idx))
                emit({"target": t.name, "kind": "interface", "status": "note",
                      "reason": f"{_label(cfg, idx)} has no {t.name}"})
    for t in targets:
        if cfg.get("common_only") and t.name in missing:
            emit({"target": t.name, "kind": t.kind, "status": "skipped",
                  "reason": f"{', '.join(missing[t.name])} has no {t.name}"})
            continue
        emit(compare_target(t, cands, ctx, cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
