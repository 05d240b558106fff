"""pdd's option values converted without pydantic (``pdd.cli_params``) agree with
typer's own conversion on every parameter of every ``pdd`` command, and the error
messages of invalid values are typer's, unchanged (through the real CLI)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdd.cli import app
from pdd.cli_params import _DEFER, StdlibCoercion, install


def _commands():
    """(command path, click command, context) of every pdd command and group."""
    root = typer.main.get_command(app)
    out = []

    def walk(command, path, parent):
        ctx = typer.Context(command, info_name=path.split()[-1], parent=parent)
        out.append((path, command, ctx))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}", ctx)

    walk(root, "pdd", None)
    return out


COMMANDS = _commands()
PARAMS = [(f"{path} {p.name}", p, ctx) for path, command, ctx in COMMANDS for p in command.get_params(ctx)]
PARAM_IDS = [name for name, _, _ in PARAMS]


def test_every_parameter_of_every_command_gets_the_stdlib_converter():
    assert len(COMMANDS) > 15 and len(PARAMS) > 60
    install(p for _, p, _ in PARAMS)
    missing = [name for name, p, _ in PARAMS if not isinstance(p._runtime_param, StdlibCoercion)]
    assert missing == []
    assert install(p for _, p, _ in PARAMS) == 0  # installing twice changes nothing
    leaf_types = {name: StdlibCoercion(p.type_descriptor).leaf for name, p, _ in PARAMS}
    assert leaf_types["pdd build jobs"] is int and leaf_types["pdd probe temperature"] is float
    assert leaf_types["pdd check fmt"] is str and leaf_types["pdd lint names"] is str
    assert leaf_types["pdd init path"] is None  # a Path: typer converts it


VALUES = st.one_of(
    st.text(alphabet="0123456789-+._e xa", max_size=8),
    st.integers(-10**20, 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.integers(-5, 30), st.floats(-5, 30), st.booleans(),
)


@pytest.mark.parametrize("name,param,ctx", PARAMS, ids=PARAM_IDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_stdlib_conversion_agrees_with_typers(name, param, ctx, value):
    ours = StdlibCoercion(param.type_descriptor)
    multi = param.multiple or param.nargs == -1
    given_value = (value, value) if multi else value
    mine = [ours.convert(value)] * 2 if multi else ours.convert(value)
    if (mine == [_DEFER] * 2) if multi else mine is _DEFER:
        return  # typer converts it, or reports it, itself
    theirs = ours.typer_converter().coerce(given_value, param=param, ctx=ctx)
    got = ours.coerce(given_value, param=param, ctx=ctx)
    assert got == theirs and type(got) is type(theirs)
    if isinstance(theirs, float):
        assert math.copysign(1, got) == math.copysign(1, theirs)


@pytest.mark.parametrize("name,param,ctx", PARAMS, ids=PARAM_IDS)
def test_absent_and_boundary_values(name, param, ctx):
    ours = StdlibCoercion(param.type_descriptor)
    multi = param.multiple or param.nargs == -1
    assert ours.coerce(None, param=param, ctx=ctx) == (() if multi else None)
    if param.default is not None and not multi:
        assert ours.coerce(param.default, param=param, ctx=ctx) == \
            ours.typer_converter().coerce(param.default, param=param, ctx=ctx)
    info = param.type_descriptor.parameter_info
    for bound in (info.min, info.max):
        if bound is not None and ours.leaf in (int, float):
            for v in (bound, ours.leaf(bound) - 1 if bound == info.min else ours.leaf(bound) + 1):
                text = str(ours.leaf(v))
                mine = ours.convert(text)
                in_range = (info.min is None or v >= info.min) and (info.max is None or v <= info.max)
                assert (mine is not _DEFER) == in_range, (text, mine)
                if in_range:
                    assert mine == ours.typer_converter().coerce(text, param=param, ctx=ctx)
                else:
                    with pytest.raises(typer.BadParameter):
                        ours.coerce(text, param=param, ctx=ctx)


@pytest.mark.parametrize("args,message", [
    (["build", "--jobs", "0"], "Invalid value for '--jobs' / '-j': Input should be greater than or equal to 1"),
    (["build", "--jobs", "x"], "Invalid value for '--jobs' / '-j': Input should be a valid integer"),
    (["probe", "m", "--temperature", "3"], "Invalid value for '--temperature': Input should be less than or equal to 2"),
    (["log", "-n", "1e3"], "Invalid value for '-n' / '--count': Input should be a valid integer"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_invalid_values_keep_typers_messages_through_the_cli(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "pdd", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"pdd: error: {message}" in proc.stderr
    assert "hint: `" in proc.stderr and "--help` shows the usage and examples" in proc.stderr
