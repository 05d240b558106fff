"""Option and argument values of the ``pdd`` command line without pydantic.

typer (0.29 and later) converts every option value that is not a plain flag through a
pydantic ``TypeAdapter``: building it imports pydantic, about 190 ms, on every
command that passes a string or a number, which is most of them (``pdd check``'s
``--format`` default is enough). The values pdd's commands take are simple (flags, ``str``,
``int`` and ``float`` with an optional range, lists of strings), so
:class:`PddGroup` gives each such parameter a :class:`StdlibCoercion`: a valid value
is converted with the standard library; anything else (a value out of range, a
number that does not parse, any other type) is handed to typer's own conversion,
which gives the same result and the same error message as before, pydantic and all.

It uses one typer internal, the ``_runtime_param`` slot a typer parameter caches its
converter in (``typer.core._TyperParameter.get_runtime_param``). Where that slot does
not exist (an older typer, without pydantic, or a future one) nothing is changed.
``tests/test_cli_params.py`` checks that both conversions agree on every pdd
parameter.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperGroup

_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")
_DEFER = object()


class StdlibCoercion:
    """The converter of one typer parameter: ``coerce(value, param, ctx)``, the
    protocol of typer's ``RuntimeParam``. Converts an absent value and a valid
    ``bool``/``str``/``int``/``float`` value (or a list of them) itself; defers everything else to typer's converter,
    built on first need."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        info = descriptor.parameter_info
        self.minimum, self.maximum = info.min, info.max
        self.leaf = _leaf_type(descriptor)
        self._typer: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        """``value`` converted as typer would; raises what typer raises
        (``BadParameter``, shown as a usage error, exit 2) for an invalid one."""
        multi = param.multiple or param.nargs == -1
        if value is None:
            return () if multi else None
        if multi:
            if isinstance(value, (list, tuple)):
                items = [self.convert(v) for v in value]
                if all(v is not _DEFER for v in items):
                    return items
        else:
            out = self.convert(value)
            if out is not _DEFER:
                return out
        return self.typer_converter().coerce(value, param=param, ctx=ctx)

    def convert(self, value: Any) -> Any:
        """One value converted with the standard library, or ``_DEFER`` when it is
        not a plainly valid one (typer then converts it, or says what is wrong)."""
        leaf = self.leaf
        if leaf is bool:
            return value if type(value) is bool else _DEFER
        if leaf is str:
            return value if isinstance(value, str) else _DEFER
        if leaf is int:
            if type(value) is int:
                number: Any = value
            elif isinstance(value, str) and _INT.fullmatch(value):
                number = int(value)
            else:
                return _DEFER
        elif leaf is float:
            if type(value) is float:
                number = value
            elif isinstance(value, str) and _FLOAT.fullmatch(value):
                number = float(value)
            else:
                return _DEFER
        else:
            return _DEFER
        if (self.minimum is not None and number < self.minimum) or (self.maximum is not None and number > self.maximum):
            return _DEFER
        return number

    def typer_converter(self) -> Any:
        """typer's own converter of this parameter (imports pydantic)."""
        if self._typer is None:
            from typer._coercion import build_runtime_param

            self._typer = build_runtime_param(self.descriptor)
        return self._typer


def _leaf_type(descriptor: Any) -> Any:
    """``bool``, ``str``, ``int`` or ``float`` when the parameter is one of those (or a
    list of one) with no custom parser, choices, clamping or file/path handling; else
    ``None`` (every value but ``None`` then goes to typer's converter)."""
    info = descriptor.parameter_info
    if info.parser is not None or getattr(info, "clamp", False) or descriptor.is_choice or descriptor.is_file \
            or descriptor.is_path or descriptor.is_tuple:
        return None
    annotation = descriptor.annotation
    if descriptor.is_list:
        args = getattr(annotation, "__args__", ())
        annotation = args[0] if len(args) == 1 else None
    return annotation if annotation in (bool, str, int, float) else None


def install(params: Any) -> int:
    """Give every typer parameter in ``params`` a :class:`StdlibCoercion` (typer
    builds a parameter's converter even for an absent value); return how many were
    given one (0 with a typer that has no ``_runtime_param`` slot)."""
    done = 0
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or not hasattr(param, "_runtime_param") or isinstance(param._runtime_param, StdlibCoercion):
            continue
        param._runtime_param = StdlibCoercion(descriptor)
        done += 1
    return done


class PddGroup(TyperGroup):
    """pdd's command groups (``typer.Typer(cls=PddGroup)``): a group's own parameters,
    and those of the command it dispatches to, get :func:`install`'s converters
    before they are parsed. The help option (made per command on first use, with the
    names the context inherits) is among them."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        install(self.get_params(ctx))
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            install(command.get_params(ctx))
        return name, command, rest
